"""Recording and voicemail (issue 13): the index of recordings, their access log
(the audit of plays, downloads, legal holds and deletions) and voicemail messages.
New tables only: nothing existing is copied, so SQLite needs no batch mode here.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# (index, table, columns)
_INDEXES = (
    ("ix_recordings_call_id", "recordings", ["call_id"]),
    ("ix_recordings_agent", "recordings", ["agent"]),
    ("ix_recordings_caller", "recordings", ["caller"]),
    ("ix_recordings_number", "recordings", ["number"]),
    ("ix_recordings_started_at", "recordings", ["started_at"]),
    ("ix_recordings_status_ended_at", "recordings", ["status", "ended_at"]),
    ("ix_recording_access_log_ref", "recording_access_log", ["ref"]),
    ("ix_voicemail_messages_box_heard", "voicemail_messages", ["box", "heard"]),
)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("media_node", sa.String(length=100), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("file", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=32), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("legal_hold_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "reason IN ('always', 'on_demand', 'voicemail')", name=op.f("ck_recordings_reason")
        ),
        sa.CheckConstraint(
            "status IN ('recording', 'stopped', 'stored', 'failed')",
            name=op.f("ck_recordings_status"),
        ),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_recordings")),
    )
    op.create_table(
        "recording_access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('play', 'download', 'hold', 'release', 'delete')",
            name=op.f("ck_recording_access_log_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_access_log")),
    )
    op.create_table(
        "voicemail_messages",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("box", sa.String(length=100), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("recording_ref", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("heard", sa.Boolean(), nullable=False),
        sa.Column("heard_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heard_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_voicemail_messages")),
    )
    for index, table, columns in _INDEXES:
        op.create_index(index, table, columns)


def downgrade() -> None:
    for index, table, _columns in reversed(_INDEXES):
        op.drop_index(index, table_name=table)
    op.drop_table("voicemail_messages")
    op.drop_table("recording_access_log")
    op.drop_table("recordings")
