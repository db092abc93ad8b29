"""Who is registered, from the result of Kamailio's `ul.dump` RPC (usrloc module).

The result holds every location table ("Domains"), each with its AoRs and their
contacts. An AoR counts as registered while one of its contacts is live: usrloc
keeps an expired contact in memory until its next timer run and reports it as
"expired" (or "deleted") meanwhile, so the AoR alone is not enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Contact", "DumpFormatError", "registered_contacts", "registered_users"]


class DumpFormatError(ValueError):
    """The ul.dump result does not have the shape usrloc gives it."""


def registered_users(result: Any, *, table: str = "location") -> frozenset[str]:
    """The user parts of the AoRs in `table` that have at least one live contact.

    Raises DumpFormatError on a result of another shape: a reader that cannot tell
    must not conclude that nobody is registered.
    """
    domains = _field(result, "Domains", list)
    users: set[str] = set()
    found = False
    for entry in domains:
        domain = _field(entry, "Domain", dict)
        if _field(domain, "Domain", str) != table:
            continue
        found = True
        for aor_entry in _field(domain, "AoRs", list):
            info = _field(aor_entry, "Info", dict)
            contacts = _field(info, "Contacts", list)
            if any(_live(_field(c, "Contact", dict)) for c in contacts):
                # With usrloc's use_domain the AoR is user@domain; the realm is ours alone.
                users.add(_field(info, "AoR", str).partition("@")[0])
    if not found:
        raise DumpFormatError(f"ul.dump has no {table!r} table")
    return frozenset(users)


def _live(contact: Mapping[str, Any]) -> bool:
    # An int: seconds left. "permanent": registered without expiry (not via REGISTER).
    # "expired" / "deleted": waiting for usrloc's timer to remove it.
    expires = contact.get("Expires")
    if isinstance(expires, bool):
        raise DumpFormatError(f"contact Expires is {expires!r}")
    if isinstance(expires, int):
        return expires > 0
    if expires == "permanent":
        return True
    if expires in ("expired", "deleted"):
        return False
    raise DumpFormatError(f"contact Expires is {expires!r}")


def _field(value: Any, name: str, kind: type) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get(name), kind):
        raise DumpFormatError(f"ul.dump: expected {name!r} ({kind.__name__}) in {str(value)[:120]}")
    return value[name]


@dataclass(frozen=True)
class Contact:
    """One live registered contact: where the phone is (`address`, the Contact URI) and,
    behind NAT, where Kamailio actually reaches it (`received`, "" when none)."""

    address: str
    received: str = ""


def registered_contacts(result: Any, *, table: str = "location") -> dict[str, list[Contact]]:
    """User part -> the live contacts of its AoR in `table` (users with none are left
    out). Raises DumpFormatError like `registered_users`."""
    contacts: dict[str, list[Contact]] = {}
    found = False
    for entry in _field(result, "Domains", list):
        domain = _field(entry, "Domain", dict)
        if _field(domain, "Domain", str) != table:
            continue
        found = True
        for aor_entry in _field(domain, "AoRs", list):
            info = _field(aor_entry, "Info", dict)
            user = _field(info, "AoR", str).partition("@")[0]
            for raw in _field(info, "Contacts", list):
                contact = _field(raw, "Contact", dict)
                if not _live(contact):
                    continue
                received = contact.get("Received")
                contacts.setdefault(user, []).append(
                    Contact(
                        _field(contact, "Address", str),
                        received if isinstance(received, str) and received != "[not set]" else "",
                    )
                )
    if not found:
        raise DumpFormatError(f"ul.dump has no {table!r} table")
    return contacts
