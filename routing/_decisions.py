"""Typed routing decisions: what to do with an initial request, never how."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reject:
    code: int
    reason: str
    # Why, for the log line; the caller never sees it.
    detail: str


@dataclass(frozen=True, slots=True)
class DropAck:
    """An ACK that matches no transaction and no dialog here. An ACK is never answered
    (RFC 3261 17), so it is only dropped and logged, at INFO: it is usually harmless
    (e.g. one that arrived after the transaction it acknowledged was gone)."""

    detail: str


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """A keepalive/health OPTIONS addressed to this proxy itself."""


@dataclass(frozen=True, slots=True)
class Register:
    username: str
    ha1: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """A request from a would-be agent: verify digest credentials first."""

    username: str
    ha1: str


@dataclass(frozen=True, slots=True)
class DeliverToAgents:
    correlation_id: str
    trunk: str
    caller: str
    dialled: str
    category: str
    # The hunt list in order; the adapter skips agents that are not registered.
    agents: tuple[str, ...]
    ring_timeout_ms: int


@dataclass(frozen=True, slots=True)
class DeliverToController:
    """A number whose target is the call controller: one of its replicas answers the
    call and anchors its media; the edge only tags, record-routes and fails over."""

    correlation_id: str
    trunk: str
    caller: str
    dialled: str
    category: str


@dataclass(frozen=True, slots=True)
class InternalToController:
    """An authenticated agent dialled another agent's account, and the ACD drives the
    controllers: one of the replicas takes the call (category `internal`, the callee
    in the R-URI user, the caller in the From user) and reserves the callee at the ACD
    before ringing it. The edge first checks that the callee's phone is registered."""

    correlation_id: str
    caller: str  # the calling agent's account (the authenticated From user)
    callee: str  # the dialled account


@dataclass(frozen=True, slots=True)
class LegToAgent:
    """A leg a call-controller replica originates to an agent: the edge finds the agent's
    registered phone (registrar, NAT) and relays. The controller anchors the media, so
    the edge neither offers to rtpengine nor touches the controller's X-CC-* headers."""

    correlation_id: str
    # The replica's HOST:PORT, for the log.
    controller: str
    agent: str


@dataclass(frozen=True, slots=True)
class LegToTrunk:
    """A leg a call-controller replica originates to an external number (outbound,
    callback): relayed to the chosen trunk's gateway, media left to the controller."""

    correlation_id: str
    controller: str
    number: str
    trunk: str
    # HOST:PORT of the carrier's side (`trunks[].gateway`).
    gateway: str


@dataclass(frozen=True, slots=True)
class UpgradeToWebSocket:
    """An HTTP request on the WSS port that asks for a WebSocket: hand it to the
    websocket module's handshake (which refuses a malformed one itself)."""


Decision = (
    Reject
    | DropAck
    | AnswerOptions
    | Register
    | Authenticate
    | DeliverToAgents
    | DeliverToController
    | InternalToController
    | LegToAgent
    | LegToTrunk
)
