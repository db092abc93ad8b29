"""Call routing for the Kamailio edge: pure decisions, with one KSR adapter in routing.kemi."""

from routing._context import RequestContext
from routing._decide import (
    decide_http,
    decide_initial,
    decide_unmatched,
    is_websocket_uri,
    webrtc_media_flags,
    webrtc_session,
)
from routing._decisions import (
    AnswerOptions,
    Authenticate,
    Decision,
    DeliverToAgents,
    DeliverToController,
    DropAck,
    InternalToController,
    LegToAgent,
    LegToTrunk,
    Register,
    Reject,
    UpgradeToWebSocket,
)
from routing._numbers import RewriteRule, normalise
from routing._table import NumberTarget, RoutingTable, Trunk

__all__ = [
    "AnswerOptions",
    "Authenticate",
    "Decision",
    "DeliverToAgents",
    "DeliverToController",
    "DropAck",
    "InternalToController",
    "LegToAgent",
    "LegToTrunk",
    "NumberTarget",
    "Register",
    "Reject",
    "RequestContext",
    "RewriteRule",
    "RoutingTable",
    "Trunk",
    "UpgradeToWebSocket",
    "decide_http",
    "decide_initial",
    "decide_unmatched",
    "is_websocket_uri",
    "normalise",
    "webrtc_media_flags",
    "webrtc_session",
]
