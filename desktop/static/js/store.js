// What the page knows of the agent's session, shared by the modules, and the bus they
// talk over: a module emits what happened ("offer", "call-ended", "customer"...) and the
// others react, so none of them reaches into another's DOM.

export const app = {
  session: null, // Session of docs/desktop.md
  config: null, // GET /api/config
  directory: { agents: [], queues: [] },
  agentState: { state: "logged_out", reason: "", wrap_up_ends_at: null },
  offer: null, // the ringing offer event
  callId: null, // the ACD call id of the call in progress
  lastCallId: null, // the call that wrap-up and a complaint refer to
  customer: null, // the customer record on screen
  logoutDeferred: false,
};

const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, fn) {
  bus.addEventListener(name, (event) => fn(event.detail));
}
