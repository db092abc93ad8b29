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


Decision = (
    Reject | AnswerOptions | Register | Authenticate | DeliverToAgents | DeliverToController
)
