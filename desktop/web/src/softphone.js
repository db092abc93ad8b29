// The agent desktop's softphone: JsSIP over WSS at Kamailio, one call at a time.
// The API is the shared contract in docs/desktop.md ("The softphone"); the page
// (desktop/static/) drives it, and the browser tests drive it through the page.
//
// Media: WebRTC to rtpengine (ICE, DTLS-SRTP), which bridges to plain RTP. Audio only
// and G.711 only (sdp.js), no ICE servers: Kamailio, rtpengine and the agents' PCs
// reach each other directly, and a STUN/TURN round trip would only delay the answer.

import JsSIP from 'jssip';

import { audioCodecs, keepG711 } from './sdp.js';
import { ToneMeter, toneShare } from './tonemeter.js';

const MEDIA = { audio: true, video: false };
const RTC_OFFER = { offerToReceiveAudio: true, offerToReceiveVideo: false };

/** A header of a JsSIP IncomingRequest, or '' when absent. */
function header(request, name) {
  return (request && request.hasHeader(name) && request.getHeader(name)) || '';
}

export class Softphone {
  /**
   * @param {object} options
   * @param {string} options.wssUrl  Kamailio's WSS listener (wss://host:port)
   * @param {string} options.uri     the agent's SIP URI (sip:1001@realm)
   * @param {string} options.realm   the digest realm
   * @param {string} options.ha1     MD5(username:realm:password), never the password
   * @param {string} [options.displayName]
   * @param {HTMLAudioElement} [options.audioElement]  plays the far end
   * @param {RTCIceServer[]} [options.iceServers]  default none (direct on the LAN)
   * @param {number} [options.registerExpires]  seconds, default 120
   */
  constructor({ wssUrl, uri, realm, ha1, displayName, audioElement, iceServers, registerExpires }) {
    if (!wssUrl || !uri || !realm || !ha1) {
      throw new TypeError('Softphone needs wssUrl, uri, realm and ha1');
    }
    this.options = { wssUrl, uri, realm, ha1, displayName: displayName || '' };
    this.audioElement = audioElement || null;
    this.iceServers = iceServers || [];
    this.registerExpires = registerExpires || 120;
    this.state = 'idle';
    this.registered = false;
    this.session = null;
    this.remoteStream = null;
    this.muted = false;
    this.callInfo = null; // the current call's {sipCallId, huaanCallId, from, displayName}
    this._handlers = new Map();
    this._ua = null;
  }

  // ---------------------------------------------------------------- events

  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    const list = this._handlers.get(event) || [];
    this._handlers.set(event, list.filter((f) => f !== fn));
    return this;
  }

  _emit(event, data) {
    for (const fn of this._handlers.get(event) || []) {
      try {
        fn(data);
      } catch (error) {
        // A page handler's bug must not break the SIP state machine.
        console.error(`softphone ${event} handler`, error);
      }
    }
  }

  _setState(state) {
    this.state = state;
    this._emit('state', state);
  }

  // ---------------------------------------------------------------- registration

  start() {
    if (this._ua) return;
    const socket = new JsSIP.WebSocketInterface(this.options.wssUrl);
    this._ua = new JsSIP.UA({
      sockets: [socket],
      uri: this.options.uri,
      realm: this.options.realm,
      ha1: this.options.ha1,
      display_name: this.options.displayName,
      register: true,
      register_expires: this.registerExpires,
      // Kamailio and the controller do not refresh sessions with UPDATE; the
      // controller's own liveness checks (RTP timeout, OPTIONS) end dead calls.
      session_timers: false,
      user_agent: 'HuaanDesktop JsSIP',
    });
    this._ua.on('registered', () => {
      this.registered = true;
      this._emit('registered');
    });
    this._ua.on('unregistered', () => {
      this.registered = false;
      this._emit('unregistered');
    });
    this._ua.on('registrationFailed', (e) => {
      this.registered = false;
      this._emit('registrationFailed', { cause: e.cause });
    });
    this._ua.on('newRTCSession', (e) => this._newSession(e));
    this._ua.start();
  }

  stop() {
    if (!this._ua) return;
    if (this.session) this.hangup();
    const ua = this._ua;
    this._ua = null;
    // stop() unregisters first; 'unregistered' fires while the socket closes.
    ua.stop();
    this.registered = false;
  }

  // ---------------------------------------------------------------- calls

  _newSession({ originator, session, request }) {
    if (this.session) {
      // One call at a time: a second call is busy here, and the ACD offers it elsewhere.
      if (originator === 'remote') session.terminate({ status_code: 486 });
      return;
    }
    this.session = session;
    this.muted = false;
    this.callInfo = {
      sipCallId: request ? request.call_id : session.id,
      huaanCallId: originator === 'remote' ? header(request, 'X-Huaan-Call-Id') : '',
      from: originator === 'remote' ? request.from.uri.user : '',
      displayName: originator === 'remote' ? request.from.display_name || '' : '',
    };
    session.on('sdp', (e) => {
      e.sdp = keepG711(e.sdp);
      if (e.originator === 'remote' && e.type === 'offer' && session.isEstablished()) {
        // JsSIP queues its own answer right after this event: queue behind it.
        queueMicrotask(() =>
          afterSessionWork(session, () => forgetUnsignaledStreams(session.connection)),
        );
      }
    });
    session.on('peerconnection', (e) => this._watchTracks(e.peerconnection));
    if (session.connection) this._watchTracks(session.connection);
    session.on('accepted', () => {
      this._setState('talking');
      this._emit('accepted', { ...this.callInfo });
    });
    session.on('ended', (e) => this._finished('ended', e));
    session.on('failed', (e) => this._finished('failed', e));
    session.on('hold', (e) => {
      if (e.originator === 'local') this._setState('held');
      this._emit('hold', { originator: e.originator });
    });
    session.on('unhold', (e) => {
      if (e.originator === 'local') this._setState('talking');
      this._emit('unhold', { originator: e.originator });
    });
    session.on('muted', () => {
      this.muted = true;
      this._emit('muted');
    });
    session.on('unmuted', () => {
      this.muted = false;
      this._emit('unmuted');
    });
    if (originator === 'remote') {
      this._setState('ringing');
      this._emit('incoming', { ...this.callInfo });
    } else {
      this._setState('calling');
    }
  }

  _watchTracks(pc) {
    pc.addEventListener('track', (event) => {
      this.remoteStream = event.streams[0] || new MediaStream([event.track]);
      if (this.audioElement) {
        this.audioElement.srcObject = this.remoteStream;
        const playing = this.audioElement.play();
        if (playing && playing.catch) playing.catch(() => {}); // autoplay: the page's gesture plays it
      }
    });
  }

  _finished(event, e) {
    const info = this.callInfo;
    this.session = null;
    this.remoteStream = null;
    this.muted = false;
    if (this.audioElement) this.audioElement.srcObject = null;
    this._setState('idle');
    this._emit(event, { cause: e.cause, originator: e.originator, ...(info || {}) });
  }

  _require(states, action) {
    if (!this.session || !states.includes(this.state)) {
      throw new Error(`softphone: cannot ${action} while ${this.state}`);
    }
    return this.session;
  }

  answer() {
    this._require(['ringing'], 'answer').answer({
      mediaConstraints: MEDIA,
      pcConfig: { iceServers: this.iceServers },
    });
  }

  /** An internal call: an agent's username or a number (sip:target@realm), or a URI. */
  call(target) {
    if (!this._ua) throw new Error('softphone: start() first');
    if (this.session) throw new Error(`softphone: cannot call while ${this.state}`);
    const text = String(target).trim();
    const uri = /^sips?:/.test(text) ? text : text.includes('@') ? `sip:${text}` : `sip:${text}@${this.options.realm}`;
    this._ua.call(uri, {
      mediaConstraints: MEDIA,
      rtcOfferConstraints: RTC_OFFER,
      pcConfig: { iceServers: this.iceServers },
    });
  }

  hangup() {
    if (!this.session) return;
    this.session.terminate();
  }

  hold() {
    this._whenReady(this._require(['talking'], 'hold'), (session) => session.hold());
  }

  unhold() {
    this._whenReady(this._require(['held'], 'unhold'), (session) => session.unhold());
  }

  // JsSIP ignores (returns false) a hold or resume while a re-INVITE is still under
  // way in either direction (the previous hold's, or the controller moving the media):
  // a second F6 right after the first was lost. The action waits for it, up to 5 s.
  _whenReady(session, action) {
    const deadline = Date.now() + 5000;
    const attempt = () => {
      if (this.session !== session || session.isEnded()) return;
      if (session.isReadyToReOffer() || Date.now() > deadline) {
        action(session);
        return;
      }
      setTimeout(attempt, 50);
    };
    attempt();
  }

  mute() {
    this._require(['talking', 'held'], 'mute').mute({ audio: true });
  }

  unmute() {
    this._require(['talking', 'held'], 'unmute').unmute({ audio: true });
  }

  /** Send `digits` as RFC 4733 events in the audio stream (the RTCDTMFSender), or as
   * SIP INFO when the call negotiated no telephone-event. */
  sendDtmf(digits) {
    const session = this._require(['talking', 'held'], 'send DTMF');
    const text = String(digits);
    if (!/^[0-9A-D#*,]+$/i.test(text)) throw new Error(`softphone: not DTMF digits: ${text}`);
    const sender = session.connection && session.connection.getSenders().find((s) => s.track && s.track.kind === 'audio');
    const inband = Boolean(sender && sender.dtmf && sender.dtmf.canInsertDTMF);
    session.sendDTMF(text, { transportType: inband ? 'RFC2833' : 'INFO', duration: 120, interToneGap: 80 });
    return inband ? 'rfc4733' : 'info';
  }

  /** The negotiated audio codecs (remote description), e.g. ["pcmu/8000", ...]. */
  codecs() {
    const pc = this.session && this.session.connection;
    return pc && pc.remoteDescription ? audioCodecs(pc.remoteDescription.sdp) : [];
  }
}

// Chromium feeds a remote track from the newest SSRC that no a=ssrc names (rtpengine's
// SDP names none). A source that comes back (the caller, after a cancelled consult) is
// an older receive stream there and no longer reaches the track: silence in the page.
// Dropping those streams makes the next packet's SSRC the newest again. Chromium does
// it when a remote description loses a stream that had an msid and no SSRC, so after
// each remote re-offer the page renegotiates locally (no SIP) twice: the same answer with
// such a stream, then without it. Same ICE, DTLS role and codecs: nothing else changes.
const RESET_STREAM = 'a=msid:- huaan-forget-unsignaled';

async function forgetUnsignaledStreams(pc) {
  if (!pc || pc.signalingState !== 'stable' || !pc.remoteDescription || !pc.localDescription) {
    return;
  }
  let sdp = pc.remoteDescription.sdp;
  if (sdp.includes('a=setup:actpass')) {
    // It was an offer: answer with the role the far end took against ours.
    const ours = /a=setup:(active|passive)/.exec(pc.localDescription.sdp);
    if (!ours) return;
    sdp = sdp.replace(/a=setup:actpass/g, `a=setup:${ours[1] === 'active' ? 'passive' : 'active'}`);
  }
  const withStream = sdp.replace(/^(a=mid:.*)$/m, `$1\r\n${RESET_STREAM}`);
  try {
    for (const answer of [withStream, sdp]) {
      await pc.setLocalDescription(await pc.createOffer());
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    }
  } catch (err) {
    console.warn('softphone: could not reset the remote audio streams', err);
  }
}

// After the session's pending peer-connection work (JsSIP queues its offer/answer steps
// there), so that a local renegotiation never interleaves with a SIP one.
function afterSessionWork(session, work) {
  const queue = session._connectionPromiseQueue;
  if (queue && typeof queue.then === 'function') {
    session._connectionPromiseQueue = queue.then(work, work);
  } else {
    setTimeout(work, 0);
  }
}

export { keepG711, audioCodecs, ToneMeter, toneShare };
export const version = JsSIP.version;

/** JsSIP's own debug log on the console (`debug(true)`), e.g. for a support case. */
export function debug(on = true) {
  if (on) JsSIP.debug.enable('JsSIP:*');
  else JsSIP.debug.disable();
}
