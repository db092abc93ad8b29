"""How a monitored call's media goes through its mixer: rtpengine pairings with the
mixer's slots, the conference opened and closed, who hears whom, direct media again.

The caller's monologue is paired (in the call's own rtpengine call) with the tag
`mixer-caller`, the agent's with `mixer-agent`; a supervisor's leg lives in its own
rtpengine call (`<cid>~mon~<session>`), its monologue paired with the tag `mixer`
there. Each pairing is an offer from the party's tag towards the mixer's (its SDP goes
to the mixer's `join`), then an answer with the mixer's SDP; as with the service's
`_pair_media`, a party is re-INVITEd only when its SDP changed.
"""

from __future__ import annotations

import logging

from controller._call import Call, CallLeg, LegState
from controller._media import MediaError
from controller._monitoring._mixer import MixerError, MixerNode, MixerPool
from controller._monitoring._sessions import (
    AGENT_SLOT,
    CALLER_SLOT,
    CallMonitors,
    MonitorSession,
    hear_map,
    monitor_call_id,
)
from controller._service import CallService

__all__ = ["MIXER_TAGS", "SUPERVISOR_MIXER_TAG", "SUPERVISOR_PARK_TAG", "MixerMedia", "slot_of_tag"]

log = logging.getLogger("controller.monitoring")

# rtpengine tags of the mixer's side of each pairing.
MIXER_TAGS = {CALLER_SLOT: "mixer-caller", AGENT_SLOT: "mixer-agent"}
SUPERVISOR_MIXER_TAG = "mixer"
SUPERVISOR_PARK_TAG = "park"


def slot_of_tag(tag: str | None) -> str | None:
    """The mixer slot a party whose monologue is paired with `tag` is in, if any."""
    for slot, mixer_tag in MIXER_TAGS.items():
        if tag == mixer_tag:
            return slot
    return None


class MixerMedia:
    """The media steps of monitoring, on the service's rtpengine and the mixer pool."""

    def __init__(self, service: CallService, pool: MixerPool) -> None:
        self.service = service
        self.pool = pool

    def node(self, monitors: CallMonitors) -> MixerNode | None:
        """The call's mixer, if it has a conference."""
        return None if monitors.mixer is None else self.pool.get(monitors.mixer)

    def open(self, call: Call, monitors: CallMonitors) -> MixerNode:
        """Choose a healthy mixer (the least loaded that answers a ping) and put the
        talking caller and agent through it."""
        errors: list[str] = []
        for node in self.pool.candidates():
            try:
                node.ping()
            except MixerError as exc:
                errors.append(str(exc))
                continue
            monitors.mixer = node.name
            node.conferences.add(call.correlation_id)
            pair = call.talking_pair()
            if pair is not None and pair[0] is call.caller:
                self.join_party(call, node, call.caller, CALLER_SLOT)
                self.join_party(call, node, pair[1], AGENT_SLOT)
            return node
        raise MixerError("; ".join(errors) or "no mixer answers")

    def join_party(
        self, call: Call, node: MixerNode, leg: CallLeg, slot: str, *, update: bool = True
    ) -> str:
        """Pair the caller's or agent's monologue with the mixer's side for `slot`;
        re-INVITE the party if its SDP changed (`update`); the SDP for the party."""
        assert leg.remote_sdp is not None
        cid, tag = call.correlation_id, MIXER_TAGS[slot]
        media = self.service.media
        to_mixer = media.offer(cid, leg.leg_id, tag, leg.remote_sdp)
        back = media.answer(cid, leg.leg_id, tag, node.join(cid, slot, to_mixer))
        leg.media_peer = tag
        if update:
            self.service._send_update(call, leg, back, only_if_changed=True)
        return back

    def join_supervisor(self, call: Call, node: MixerNode, session: MonitorSession) -> str:
        """Pair the supervisor's monologue (in its own rtpengine call) with its slot;
        the SDP for the supervisor (not sent here)."""
        leg = session.leg
        assert leg.remote_sdp is not None
        cid = call.correlation_id
        rtp_cid = monitor_call_id(cid, session.session_id)
        media = self.service.media
        to_mixer = media.offer(rtp_cid, leg.leg_id, SUPERVISOR_MIXER_TAG, leg.remote_sdp)
        back = media.answer(
            rtp_cid, leg.leg_id, SUPERVISOR_MIXER_TAG, node.join(cid, session.slot, to_mixer)
        )
        leg.media_peer = SUPERVISOR_MIXER_TAG
        return back

    def hear(self, call: Call, monitors: CallMonitors) -> None:
        """Who hears whom, from the modes of the call's answered sessions."""
        node = self.node(monitors)
        if node is not None:
            node.hear(call.correlation_id, hear_map((s.slot, s.mode) for s in monitors.active()))

    def close(self, call: Call, monitors: CallMonitors, *, reconnect: bool = True) -> None:
        """No answered session is left: caller and agent talk directly again
        (`reconnect`), and the mixer forgets the conference."""
        node = self.node(monitors)
        self.drop(monitors)
        if reconnect:
            self.reconnect(call)
        if node is not None:
            try:
                node.delete(call.correlation_id)
            except MixerError as exc:
                log.warning("cid=%s mixer delete: %s", call.correlation_id, exc)

    def drop(self, monitors: CallMonitors) -> None:
        """Forget the call's conference here (the mixer is told by the caller, if)."""
        node = self.node(monitors)
        monitors.mixer = None
        if node is not None:
            node.conferences.discard(monitors.cid)

    def reconnect(self, call: Call, agent: CallLeg | None = None) -> None:
        """Pair the parties that were paired with the mixer directly (the conference is
        gone already, so the service's pairing is direct)."""
        service = self.service
        caller = call.caller
        agent = agent or call.agent
        if slot_of_tag(caller.media_peer) is None:
            return  # parked, or consulting: the service's next pairing is direct
        try:
            if agent is not None and agent.state is LegState.ANSWERED and agent.remote_sdp:
                service._pair_media(call, caller, agent)
            else:
                service._repark(call)
        except MediaError as exc:
            service._media_failed(call, exc)
