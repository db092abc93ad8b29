"""Refusals: every command that is not carried out says why, by code and in words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AcdError", "ConfigError", "ErrorCode", "Refusal"]


class ErrorCode(StrEnum):
    """Machine-readable refusal reasons; the gRPC layer maps them 1:1 onto its enum."""

    ALREADY_LOGGED_IN = "ALREADY_LOGGED_IN"
    SEAT_OCCUPIED = "SEAT_OCCUPIED"
    SEAT_OUT_OF_RANGE = "SEAT_OUT_OF_RANGE"
    EMPLOYEE_ID_OUT_OF_RANGE = "EMPLOYEE_ID_OUT_OF_RANGE"
    EMPLOYEE_ID_MISMATCH = "EMPLOYEE_ID_MISMATCH"
    ROLE_INVALID = "ROLE_INVALID"
    SKILL_NOT_ALLOWED = "SKILL_NOT_ALLOWED"
    NOT_LOGGED_IN = "NOT_LOGGED_IN"
    STALE_SESSION = "STALE_SESSION"
    NOT_ON_HOOK = "NOT_ON_HOOK"
    PHONE_UNREACHABLE = "PHONE_UNREACHABLE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    AGENT_NOT_AVAILABLE = "AGENT_NOT_AVAILABLE"
    UNKNOWN_QUEUE = "UNKNOWN_QUEUE"
    UNKNOWN_CALL = "UNKNOWN_CALL"
    CALL_EXISTS = "CALL_EXISTS"
    NOT_RINGING = "NOT_RINGING"
    CALL_ALREADY_ANSWERED = "CALL_ALREADY_ANSWERED"
    CALL_NOT_TALKING = "CALL_NOT_TALKING"
    CONFIG_INVALID = "CONFIG_INVALID"
    QUEUE_IN_USE = "QUEUE_IN_USE"
    # The call center records nothing (no `recording:` section).
    RECORDING_DISABLED = "RECORDING_DISABLED"
    # The service's voicemail refusals (the core has no mailboxes).
    UNKNOWN_MAILBOX = "UNKNOWN_MAILBOX"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    UNKNOWN_MONITOR_SESSION = "UNKNOWN_MONITOR_SESSION"
    MONITORING_DISABLED = "MONITORING_DISABLED"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a command was refused. State is unchanged when a command is refused."""

    code: ErrorCode
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


class AcdError(Exception):
    """Raised by `Result.raise_for_error()` for callers that prefer exceptions."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.code}: {refusal.message}")
        self.refusal = refusal

    @property
    def code(self) -> ErrorCode:
        return self.refusal.code


class ConfigError(ValueError):
    """The ACD configuration is inconsistent; `problems` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
