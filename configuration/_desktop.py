"""The `tls:` and `desktop:` sections of the config: the certificate that HTTPS and WSS
present, and the agents' web desktop (desktop/, docs/desktop.md).

The desktop's vocabularies (wrap-up codes, busy reasons, the units that complaint
tickets are dispatched to) are configuration, not data: an operator edits them in the
YAML and reloads, and the store keeps only the codes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from ._fields import HostPort, StrictModel

__all__ = [
    "DEFAULT_BUSY_REASONS",
    "DEFAULT_TICKET_UNITS",
    "DEFAULT_WRAP_UP_CODES",
    "Code",
    "DesktopSection",
    "TicketUnit",
    "TlsSection",
    "WrapUpCode",
]

# A code as stored with a call or a ticket: short, stable, ASCII.
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,31}$")]
_SCREEN_POP_FIELDS = frozenset({"caller", "account", "call_id", "category", "queue"})


class TlsSection(StrictModel):
    """The certificate and key that the desktop's HTTPS and Kamailio's WSS present.
    Paths are relative to the config file; `callcenter secrets` writes a self-signed
    pair for a demo (docs/desktop.md, "Certificates", for real ones)."""

    cert: str = "../run/secrets/tls/server.crt"
    key: str = "../run/secrets/tls/server.key"


class WrapUpCode(StrictModel):
    code: Code
    # What the agent reads, in Chinese and in English.
    zh: str = Field(min_length=1, max_length=64)
    en: str = Field(min_length=1, max_length=64)


class TicketUnit(StrictModel):
    """A responsible unit that complaint tickets are dispatched to (R-AG-7)."""

    code: Code
    zh: str = Field(min_length=1, max_length=64)
    en: str = Field(min_length=1, max_length=64)
    # A ticket not resolved this long after dispatch is flagged overdue in the unit's queue.
    overdue_after_h: int = Field(72, ge=1, le=24 * 365)


DEFAULT_WRAP_UP_CODES = (
    WrapUpCode(code="resolved", zh="已解决", en="Resolved"),
    WrapUpCode(code="follow_up", zh="需跟进", en="Follow-up needed"),
    WrapUpCode(code="complaint", zh="投诉", en="Complaint"),
    WrapUpCode(code="wrong_number", zh="打错电话", en="Wrong number"),
)
DEFAULT_TICKET_UNITS = (
    TicketUnit(code="metering", zh="抄表班", en="Metering", overdue_after_h=48),
    TicketUnit(code="billing", zh="电费核算", en="Billing", overdue_after_h=72),
    TicketUnit(code="repair", zh="抢修班", en="Repair crew", overdue_after_h=4),
)
DEFAULT_BUSY_REASONS = ("break", "meal", "training", "meeting", "after_call")


class DesktopSection(StrictModel):
    """The agents' web desktop (desktop/): HTTPS, sessions, the screen pop, vocabularies."""

    listen: HostPort = "127.0.0.1:8443"
    # managed: `callcenter up` starts it.
    managed: bool = True
    # How agents' browsers reach the desktop and Kamailio's WSS, when not the listen
    # addresses (a load balancer, a real host name that matches the certificate).
    public_url: str | None = None
    wss_url: str | None = None
    # A session ends this long after the page's last request (its heartbeat keeps an open
    # page alive), and at the latest this long after login: a shift.
    session_idle_s: int = Field(120, ge=10, le=86_400)
    session_max_s: int = Field(12 * 3600, ge=60, le=7 * 86_400)
    # R-INT-1: open the operator's own CRM instead of the built-in record. A template
    # with {caller}, {account}, {call_id}, {category}, {queue} (URL-encoded when filled).
    screen_pop_url: str | None = None
    wrap_up_codes: list[WrapUpCode] = Field(default_factory=lambda: list(DEFAULT_WRAP_UP_CODES))
    busy_reasons: list[Code] = Field(default_factory=lambda: list(DEFAULT_BUSY_REASONS))
    ticket_units: list[TicketUnit] = Field(default_factory=lambda: list(DEFAULT_TICKET_UNITS))

    @field_validator("screen_pop_url")
    @classmethod
    def _template(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"screen_pop_url must be an http(s) URL, not {url!r}")
        from string import Formatter  # noqa: PLC0415 - only when the key is set

        try:
            names = {name for _, name, _, _ in Formatter().parse(url) if name is not None}
        except ValueError as exc:
            raise ValueError(f"screen_pop_url: {exc}") from None
        unknown = names - _SCREEN_POP_FIELDS
        if unknown:
            raise ValueError(
                f"screen_pop_url: unknown field(s) {sorted(unknown)}; "
                f"use {sorted(_SCREEN_POP_FIELDS)}"
            )
        return url

    @model_validator(mode="after")
    def _unique_codes(self) -> DesktopSection:
        for what, codes in (
            ("wrap_up_codes", [c.code for c in self.wrap_up_codes]),
            ("ticket_units", [u.code for u in self.ticket_units]),
            ("busy_reasons", list(self.busy_reasons)),
        ):
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                raise ValueError(f"desktop.{what}: duplicate code(s) {dupes}")
            if not codes:
                raise ValueError(f"desktop.{what}: at least one is needed")
        return self
