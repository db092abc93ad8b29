"""`callcenter demo`: bring the stack up and send carrier calls down the real call path.

carrier -> Kamailio -> call controller (answers, parks, enqueues) -> ACD (picks the
agent) -> the controller rings the agent's registered phone back through Kamailio ->
bridged in rtpengine; the controller and the ACD write the event log, the CDR service
folds it into CDRs, the dashboards read those. Then a self-service call to the IVR
hotline (`_demo_selfservice.py`): a Mandarin menu, an account number by DTMF, the
balance read out, and "0" to an agent.

The demo's agents are accounts it (re)writes on every run, with an employee ID and the
skills the queue asks for, and so is a supervisor for the dashboards. Their passwords
are generated fresh each time and only the hashes are written (to the config's
accounts_file); nothing stores the passwords. The supervisor's is printed, with the
dashboards' address, so the person running the demo can log in.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import bizdata
from acd_client import AcdClient
from analytics import ServiceClient, ServiceError
from callcenter import _stack
from callcenter._accounts import account_entry, upsert_accounts
from callcenter._demo_parties import (
    CallOutcome,
    DemoAgent,
    DemoError,
    Phone,
    agent_state,
    carrier_call,
    log_agents_in,
    start_phones,
    stop_phones,
    wait_for,
)
from callcenter._demo_selfservice import (
    KEYS,
    SelfServiceOutcome,
    hotline_route,
    self_service_call,
)
from configuration import (
    CallCenterConfig,
    ConfigError,
    NumberRoute,
    QueueSpec,
    RunLayout,
    load_config,
    parse_config,
    split_hostport,
)
from recorder import wav_dir
from rtpengine import NgClient

# Callers in the formats carriers really send, to show normalisation.
DEMO_CALLERS = (
    "+8613912345678",
    "008613800138000",
    "13700001111",
    "+861088886666",
    "+8615011112222",
    "+862161234567",
)
# Username = SIP user = employee ID. Logged in in this order: 1001 is idle the longest.
DEMO_AGENTS = (DemoAgent("1001", seat=1), DemoAgent("1002", seat=2))
DEMO_SUPERVISOR = "supervisor"  # the dashboards' login the demo prints
# The agent the demo prints for the web desktop: no demo phone uses it, so a person can
# log in at the desktop while (or after) the demo's calls run.
DEMO_DESK_AGENT = DemoAgent("1003", seat=3)
ANSWER_AFTER_MS = 300  # the phones ring this long before they answer
TALK_MS = 1500  # each caller talks this long after the bridge, then hangs up
PACKETS = 50  # RTP packets each way per call
CDR_DEADLINE_S = 20.0


def demo_route(config: CallCenterConfig, source: str) -> tuple[NumberRoute, QueueSpec]:
    """The number the demo calls: the first with `target: controller` and a queue."""
    queues = {q.name: q for q in config.queues}
    for route in config.numbers:
        if route.target == "controller" and route.queue in queues:
            return route, queues[route.queue]
    raise ConfigError(
        f"{source}: the demo calls a number with `target: controller` and a "
        "`queue:` (and an `acd:` section); this config has none"
    )


def _seed_store(config: CallCenterConfig, layout: RunLayout) -> None:
    """The demo's electricity accounts in the business data store (docs/bizdata.md)."""
    url = _stack.store_url(config, layout)
    password_env = config.bizdata.password_env if config.bizdata else None
    try:
        added = bizdata.seed_demo(url, password_env=password_env)
    except bizdata.StoreError as exc:
        raise _stack.StackError(f"business data store: {exc}") from None
    print(
        f"business data: {bizdata.display_url(url)}, {added} demo accounts added "
        "(account 12345674 owes 123.45, due 2026-12-31)"
    )


def run_demo(config_path: Path, *, calls: int) -> int:
    base = parse_config(config_path.read_text(encoding="utf-8"), str(config_path))
    if not base.accounts_file:
        raise ConfigError(f"{config_path}: the demo needs accounts_file to write its accounts")
    route, queue = demo_route(base, str(config_path))
    hotline = hotline_route(base)
    agents = list(DEMO_AGENTS)
    passwords = {a.username: secrets.token_urlsafe(12) for a in agents}
    supervisor_password = secrets.token_urlsafe(12)
    desk_password = secrets.token_urlsafe(12)
    upsert_accounts(
        config_path.parent / base.accounts_file,
        [
            *(
                account_entry(
                    a.username,
                    passwords.get(a.username, desk_password),
                    base.sip.realm,
                    ["agent"],
                    employee_id=a.username,
                    skills=dict(queue.skills),
                )
                for a in (*agents, DEMO_DESK_AGENT)
            ),
            account_entry(DEMO_SUPERVISOR, supervisor_password, base.sip.realm, ["supervisor"]),
        ],
    )
    config = load_config(config_path)
    if config.acd is None:  # validation refuses a queue without one; this is for mypy
        raise ConfigError(f"{config_path}: the demo needs an `acd:` section")
    layout = _stack.layout_for(config, config_path.parent)
    # Every run on a fresh stack: no agent, call or registration left from the last one.
    _stack.down(layout)
    for name in _stack.up(config, layout):
        print(f"started {name}")
    _seed_store(config, layout)
    acd_address = config.acd.advertise or config.acd.listen
    print(
        f"\nDemo: {calls} carrier calls to {route.number} ({route.category})\n"
        f"  carrier (sipp) -> Kamailio {config.sip.listen} -> call controller "
        f"{', '.join(c.sip for c in config.controllers)} -> ACD {acd_address} queue "
        f"{queue.name} ({queue.strategy}) -> agent's phone, rung through Kamailio\n"
        f"  media anchored in rtpengine {config.rtpengine.nodes[0].ng}; events -> CDR "
        "service -> dashboards"
    )
    if hotline is not None:
        print(
            f"  then a self-service call to {hotline.number} (IVR flow {hotline.ivr}): "
            "Mandarin menu, account number by DTMF, balance read out, 0 for an agent"
        )
    print()
    workdir = Path(tempfile.mkdtemp(prefix="demo-", dir=layout.root))
    client = AcdClient(
        acd_address, timeout=2.0, retry_for=10.0, token=_stack.acd_token(config, layout)
    )
    run = _DemoRun(config, layout, route, hotline, queue, agents, passwords, client, workdir)
    try:
        run.calls(calls)
    except DemoError as exc:  # e.g. an agent could not log in; the summary says so
        run.failures.append(str(exc))
    finally:
        client.close()
    ok = sum(o.ok for o in run.outcomes)
    cdrs_ok = _show_cdrs(config, run.outcomes, run.self_service)
    left = _sessions_left(config)
    print(
        f"\n{ok}/{calls} calls answered by an agent the ACD chose, with audio both ways; "
        f"rtpengine sessions left: {left['rtpengine']}, calls left in the controller: "
        f"{left['controller']}"
    )
    if hotline is not None:
        served = run.self_service
        print(
            f"self-service call: {'OK' if served is not None and served.ok else 'FAILED'} "
            "(balance heard, 0 reached an agent the ACD chose, audio both ways)"
        )
    for failure in run.failures:
        print(f"problem: {failure}")
    if config.dashboards is not None:
        print(
            f"Dashboards (wallboard, reports with these calls): "
            f"http://{config.dashboards.listen}\n"
            f"  log in as {DEMO_SUPERVISOR!r} with password {supervisor_password!r} "
            "(new on every run; only its hashes are stored)"
        )
    if config.desktop is not None and config.desktop.managed:
        url = config.desktop.public_url or f"https://{config.desktop.listen}/"
        desk = DEMO_DESK_AGENT
        print(
            f"Agent desktop: {url}\n"
            f"  log in as {desk.username!r} (employee ID {desk.username}, seat {desk.seat}) "
            f"with password {desk_password!r} (new on every run; only its hashes are "
            "stored); the certificate is the self-signed demo one: import its ca.crt "
            "(beside tls.cert) into the browser, which refuses the softphone's WSS otherwise"
        )
    _show_recording(config, layout)
    print(
        f"The stack is still running: `callcenter status`, logs in {layout.logs}, "
        "`callcenter down` to stop."
    )
    clean = left == {"rtpengine": 0, "controller": 0}
    served_ok = hotline is None or (run.self_service is not None and run.self_service.ok)
    return 0 if ok == calls and served_ok and cdrs_ok and clean and not run.failures else 1


def _show_recording(config: CallCenterConfig, layout: RunLayout) -> None:
    """Where the demo's recordings go, when the config records."""
    if config.recording is None:
        return
    recorded = ", ".join(q.name for q in config.queues if q.record) or "none"
    print(
        f"Recordings (queues recorded: {recorded}): WAVs under {wav_dir(config, layout)} "
        f"by the recorder, its metrics at http://{config.recording.listen}/metrics; they "
        "play on the dashboards' Recordings page"
    )


@dataclass
class _DemoRun:
    config: CallCenterConfig
    layout: RunLayout
    route: NumberRoute
    hotline: NumberRoute | None
    queue: QueueSpec
    agents: list[DemoAgent]
    passwords: dict[str, str]
    client: AcdClient
    workdir: Path
    outcomes: list[CallOutcome] = field(default_factory=list)
    self_service: SelfServiceOutcome | None = None
    failures: list[str] = field(default_factory=list)

    def calls(self, count: int) -> None:
        """Phones up, agents logged in, the calls one after another, then everyone out."""
        config, client, agents = self.config, self.client, self.agents
        assert config.acd is not None
        sip = config.sip.listen
        # Phones first: an agent whose phone is not registered would be offered calls it
        # cannot take (and the presence watcher would make it not ready).
        phones = start_phones(
            sip,
            agents,
            self.passwords,
            config.sip.realm,
            workdir=self.workdir,
            calls=count + (self.hotline is not None),
            answer_after_ms=ANSWER_AFTER_MS,
        )
        try:
            for phone in phones.values():
                print(
                    f"agent {phone.agent.username}: phone registered at Kamailio "
                    f"(SIP digest), SIP port {phone.phone.sip_port}, "
                    f"RTP port {phone.rtp.port}"
                )
            simulated = log_agents_in(
                client, agents, self.passwords, retry_for=config.acd.lease_ms / 1000 + 5
            )
            try:
                print(
                    "agents logged in at the ACD (gRPC): "
                    + ", ".join(
                        f"{a.username} {agent_state(client, a.username)[0]}" for a in agents
                    )
                    + "\n"
                )
                # A call waits for an agent while both are busy or wrapping up.
                queue_wait_s = (self.queue.wrap_up_ms + 2 * self.queue.ring_timeout_ms) / 1000 + 10
                for i in range(count):
                    caller = DEMO_CALLERS[i % len(DEMO_CALLERS)]
                    try:
                        outcome = carrier_call(
                            sip,
                            self.route.number,
                            caller,
                            phones,
                            client,
                            workdir=self.workdir,
                            name=f"call{i}",
                            talk_ms=TALK_MS,
                            packets=PACKETS,
                            queue_wait_s=queue_wait_s,
                        )
                    except (DemoError, TimeoutError, AssertionError) as exc:
                        self.failures.append(f"call {i + 1} from {caller}: {exc}")
                        label = f"call {i + 1}:"
                        print(f"{label:<9}{caller:>17} FAILED: {exc}")
                        continue
                    self.outcomes.append(outcome)
                    _print_call(i + 1, outcome)
                if self.hotline is not None:
                    self._self_service(self.hotline, phones, queue_wait_s)
                offered = {o.call_id: o.username for o in simulated.offers}
                rung = [(o.cid, o.agent) for o in self.outcomes]
                if self.self_service is not None:
                    rung.append((self.self_service.cid, self.self_service.agent))
                wrong = [cid for cid, agent in rung if offered.get(cid) != agent]
                if wrong:
                    self.failures.append(
                        "the phone that rang is not the agent the ACD "
                        f"offered the call to: {', '.join(wrong)}"
                    )
                _show_agents_after(client, agents, self.queue, self.failures)
            finally:
                simulated.stop(logout=True)
        finally:
            self.failures.extend(
                stop_phones(phones, sip, self.passwords, config.sip.realm, workdir=self.workdir)
            )

    def _self_service(self, hotline: NumberRoute, phones: dict[str, Phone], wait_s: float) -> None:
        try:
            served = self_service_call(
                self.config,
                self.layout,
                hotline,
                phones,
                workdir=self.workdir,
                packets=PACKETS,
                queue_wait_s=wait_s,
            )
        except (DemoError, TimeoutError, AssertionError) as exc:
            self.failures.append(f"self-service call to {hotline.number}: {exc}")
            print(f"\nself-service call to {hotline.number} FAILED: {exc}")
            return
        self.self_service = served
        _print_self_service(served)


def _print_self_service(o: SelfServiceOutcome) -> None:
    keys = ", ".join(f"{key} ({what})" for key, _, what in KEYS)
    print(
        f"\nself-service: {o.caller:>14} -> {o.number} (IVR) -> ACD chose agent {o.agent}  "
        f"cid={o.cid[:8]}…  {'OK' if o.ok else 'FAILED'}"
    )
    print(
        f"{'':<14}keys by RFC 4733 (telephone-event through rtpengine): {keys}; "
        f'"1" cut the language menu after {o.language_heard_s:.1f} s of it'
    )
    print(f"{'':<14}path: {' -> '.join(o.path)}; IVR result {o.result}")
    print(
        f"{'':<14}balance {'heard' if o.heard_balance else 'NOT heard'}: "
        f"{o.balance_text} (match {o.balance_score:.2f} with the rendered prompt)"
    )
    print(f"{'':<14}RTP {o.to_agent}/{o.packets} to agent, {o.to_caller}/{o.packets} to caller")


def _print_call(number: int, o: CallOutcome) -> None:
    label = f"call {number}:"
    print(
        f"{label:<9}{o.caller:>17} -> ACD chose agent {o.agent} "
        f"({' -> '.join(o.acd_states)})  cid={o.cid[:8]}…  {'OK' if o.ok else 'FAILED'}"
    )
    print(
        f"{'':<9}SIP {o.sip}; phone {o.agent} saw caller={o.seen_caller}; "
        f"RTP {o.to_agent}/{o.packets} to agent, {o.to_caller}/{o.packets} to caller"
    )


def _show_agents_after(
    client: AcdClient, agents: list[DemoAgent], queue: QueueSpec, failures: list[str]
) -> None:
    """The ACD's view once wrap-up is over: every agent idle, none stuck on a call."""

    def all_idle() -> bool:
        return all(agent_state(client, a.username)[0] == "idle" for a in agents)

    try:
        wait_for(
            all_idle, timeout=queue.wrap_up_ms / 1000 + 5, what="every agent idle after wrap-up"
        )
    except DemoError as exc:
        failures.append(str(exc))
    views = [(a.username, *agent_state(client, a.username)) for a in agents]
    print(
        "\nACD after wrap-up: "
        + "; ".join(f"{name} {state}, {taken} call(s)" for name, state, taken, _ in views)
    )
    for queue_view in client.get_snapshot().queues:
        if queue_view.name == queue.name:
            print(
                f"queue {queue.name}: {queue_view.waiting} waiting, "
                f"{queue_view.agents_logged_in} agents logged in, "
                f"{queue_view.agents_idle} idle"
            )


def _show_cdrs(
    config: CallCenterConfig, outcomes: list[CallOutcome], served: SelfServiceOutcome | None
) -> bool:
    """The CDR service has one CDR per call, answered by the agent whose phone rang; the
    self-service call's has its path through the IVR and its result."""
    if config.analytics is None:
        print("\n(no `analytics:` section: CDRs not checked)")
        return True
    service = ServiceClient(config.analytics.url())
    cids = [o.cid for o in outcomes] + ([served.cid] if served is not None else [])

    def all_there() -> bool:
        try:
            return len(service.report("cdr_list", correlation_ids=cids)) == len(cids)
        except ServiceError:
            return False

    with contextlib.suppress(DemoError):  # reported below with what did arrive
        wait_for(all_there, timeout=CDR_DEADLINE_S, what="the CDRs", interval=0.5)
    try:
        rows = service.report("cdr_list", correlation_ids=cids)
    except ServiceError as exc:
        print(f"\nCDR service: {exc}")
        return False
    agent_of = {o.cid: o.agent for o in outcomes}
    ivr_of = {}
    if served is not None:
        agent_of[served.cid] = served.agent
        ivr_of[served.cid] = (served.path, served.result)
    good = 0
    print(f"\nCDRs from the CDR service ({config.analytics.url()}):")
    for row in rows.to_dict("records"):
        cid = str(row["correlation_id"])
        match = row["disposition"] == "answered" and row["agent"] == agent_of.get(cid)
        ivr = ""
        if cid in ivr_of:
            path = tuple(row["ivr_path"])
            match = match and (path, row["ivr_result"]) == ivr_of[cid]
            last = path[-1] if path else "-"
            ivr = f"  IVR {len(path)} nodes to {last} ({row['ivr_result']})"
        good += match
        print(
            f"  {cid[:8]}…  {row['disposition']:<9} agent {row['agent']:<5} "
            f"queue {row['queue']:<8} wait {row['wait_s']:.1f} s  talk {row['talk_s']:.1f} s"
            f"{ivr}  {'OK' if match else 'UNEXPECTED'}"
        )
    print(f"  {good}/{len(cids)} CDRs as expected")
    return good == len(cids)


def _sessions_left(config: CallCenterConfig) -> dict[str, int]:
    """rtpengine sessions, and calls the controller replicas still have (-1: unknown)."""
    ng = NgClient(*split_hostport(config.rtpengine.nodes[0].ng))
    try:

        def rtpengine_empty() -> bool:
            return not ng.list_calls()

        # The controller deletes its session right after the last BYE.
        with contextlib.suppress(DemoError):
            wait_for(rtpengine_empty, timeout=5, what="rtpengine sessions to end")
        rtpengine = len(ng.list_calls())
    finally:
        ng.close()
    controller = 0
    for replica in config.controllers:
        calls = _controller_calls(replica.control)
        controller = -1 if calls < 0 or controller < 0 else controller + calls
    return {"rtpengine": rtpengine, "controller": controller}


def _controller_calls(control: str) -> int:
    """How many calls a replica has, from its control socket's `status` (-1: no reply)."""
    try:
        with socket.create_connection(split_hostport(control), timeout=2) as sock:
            sock.sendall(b'{"cmd": "status"}\n')
            with sock.makefile("rb") as reply:
                status = json.loads(reply.readline())
        return int(status["result"]["calls"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1
