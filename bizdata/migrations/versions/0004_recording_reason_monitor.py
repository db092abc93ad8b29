"""Supervisor monitoring (issue 14): a recording's reason may be `monitor`, a monitoring
session's recording, which its mixer writes as a WAV and the recorder indexes
(docs/monitoring.md, "Recording a session"). Only the reason's check constraint changes;
SQLite rebuilds the table for it (batch mode), PostgreSQL alters it in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_BEFORE = "reason IN ('always', 'on_demand', 'voicemail')"
_AFTER = "reason IN ('always', 'on_demand', 'voicemail', 'monitor')"


def _reason_check(condition: str) -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_constraint(op.f("ck_recordings_reason"), type_="check")
        batch.create_check_constraint("reason", condition)


def upgrade() -> None:
    _reason_check(_AFTER)


def downgrade() -> None:
    # Refused by the database while a monitoring recording is indexed: delete those
    # rows (and their files) first; nothing is dropped silently here.
    _reason_check(_BEFORE)
