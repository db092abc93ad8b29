"""Call routing for the Kamailio edge: pure decisions, with one KSR adapter in routing.kemi."""

from routing._context import RequestContext
from routing._decide import decide_initial, decide_unmatched
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
    "decide_initial",
    "decide_unmatched",
    "normalise",
]
