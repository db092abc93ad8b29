"""Placeholder: filled in below."""

from __future__ import annotations

__all__ = ["seed_bulk"]


def seed_bulk(url: str, *, customers: int, password_env: str | None = None) -> int:
    raise NotImplementedError
