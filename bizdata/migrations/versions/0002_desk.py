"""The agents' desktop (issue 12): customer records agents edit, complaints, tickets
and their history, call wrap-ups, and the search structures.

The search structures differ by dialect and are not in the models (see
`_models.is_search_object`):
- SQLite: FTS5 tables with the trigram tokenizer (SQLite >= 3.34), external content
  tables kept in sync by triggers. A later migration that recreates `customers`,
  `accounts` or `complaints` in batch mode drops their triggers with the old table:
  it must create them again (`_sqlite_search`).
- PostgreSQL: the pg_trgm extension (trusted: the database owner may create it), GIN
  trigram indexes for substrings, and btree `varchar_pattern_ops` indexes for the
  prefixes of queries too short for a trigram, whatever the database's collation.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# (FTS table, content table, indexed columns)
_FTS = (
    ("customers_search", "customers", ("name", "phone")),
    ("accounts_search", "accounts", ("account_number",)),
    ("complaints_search", "complaints", ("description",)),
)
# (index, table, column): a GIN trigram index on each.
_TRGM = (
    ("ix_customers_name_trgm", "customers", "name"),
    ("ix_customers_phone_trgm", "customers", "phone"),
    ("ix_accounts_account_number_trgm", "accounts", "account_number"),
    ("ix_complaints_description_trgm", "complaints", "description"),
)
# (index, table, column): a prefix index for queries shorter than a trigram.
_PREFIX = (
    ("ix_customers_name_prefix", "customers", "name"),
    ("ix_customers_phone_prefix", "customers", "phone"),
    ("ix_accounts_account_number_prefix", "accounts", "account_number"),
)


def upgrade() -> None:
    op.create_table(
        "call_wrap_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_wrap_ups")),
        sa.UniqueConstraint("call_id", "employee_id", name=op.f("uq_call_wrap_ups_call_id")),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_complaints_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    op.create_index(op.f("ix_complaints_call_id"), "complaints", ["call_id"])
    op.create_index(op.f("ix_complaints_customer_id"), "complaints", ["customer_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('assigned', 'in_progress', 'resolved', 'closed')",
            name=op.f("ck_tickets_status"),
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_tickets_complaint_id_complaints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index(op.f("ix_tickets_complaint_id"), "tickets", ["complaint_id"])
    op.create_index("ix_tickets_unit_status_due_at", "tickets", ["unit", "status", "due_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    op.create_index(op.f("ix_ticket_events_ticket_id"), "ticket_events", ["ticket_id"])

    # Constant defaults only, so that SQLite adds the columns in place: copying
    # `customers` would trip over the accounts' foreign keys. The records from before
    # have no creation time (None).
    dialect = op.get_bind().dialect.name
    type_check = "customer_type IN ('resident', 'business')"
    if dialect == "sqlite":
        # SQLite adds a CHECK only with its column (no ALTER TABLE ADD CONSTRAINT).
        op.execute(
            "ALTER TABLE customers ADD COLUMN customer_type VARCHAR(16) DEFAULT 'resident' "
            f"NOT NULL CONSTRAINT ck_customers_customer_type CHECK ({type_check})"
        )
    else:
        op.add_column(
            "customers",
            sa.Column(
                "customer_type", sa.String(length=16), server_default="resident", nullable=False
            ),
        )
        op.create_check_constraint(op.f("ck_customers_customer_type"), "customers", type_check)
    op.add_column("customers", sa.Column("address", sa.String(length=200), nullable=True))
    op.add_column("customers", sa.Column("email", sa.String(length=254), nullable=True))
    op.add_column("customers", sa.Column("notes", sa.Text(), nullable=True))
    for column in ("created_at", "updated_at"):
        op.add_column("customers", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column("customers", sa.Column("updated_by", sa.String(length=64), nullable=True))
    op.add_column(
        "customers", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )

    if dialect == "sqlite":
        _sqlite_search()
    elif dialect == "postgresql":
        _postgresql_search()


def _sqlite_search() -> None:
    # The names are this file's constants: no input reaches these statements.
    for fts, table, columns in _FTS:
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
            "content_rowid='id', tokenize='trigram')"
        )
        remove = (
            f"INSERT INTO {fts} ({fts}, rowid, {names}) "  # noqa: S608
            f"VALUES ('delete', old.id, {old});"
        )
        add = f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new});"  # noqa: S608
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} "
            f"BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")  # noqa: S608


def _postgresql_search() -> None:
    ctype = op.get_bind().execute(sa.text("SHOW lc_ctype")).scalar()
    if ctype in ("C", "POSIX"):
        # Correct results still, but pg_trgm finds no trigram in a Chinese name under
        # this ctype, so such searches scan the table (docs/bizdata.md, "Search").
        logging.getLogger("alembic.runtime.migration").warning(
            "bizdata: this database's LC_CTYPE is %s: searching Chinese names will not use "
            "the trigram index; create it with a UTF-8 ctype (e.g. C.UTF-8)",
            ctype,
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, table, column in _TRGM:
        op.execute(f"CREATE INDEX {index} ON {table} USING gin ({column} gin_trgm_ops)")
    for index, table, column in _PREFIX:
        op.execute(f"CREATE INDEX {index} ON {table} ({column} varchar_pattern_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for fts, _table, _columns in _FTS:
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    elif dialect == "postgresql":
        for index, _table, _column in (*_TRGM, *_PREFIX):
            op.execute(f"DROP INDEX IF EXISTS {index}")
    with op.batch_alter_table("customers") as batch_op:
        if dialect == "postgresql":
            batch_op.drop_constraint("ck_customers_customer_type", type_="check")
        for column in (
            "version",
            "updated_by",
            "updated_at",
            "created_at",
            "notes",
            "email",
            "address",
            "customer_type",
        ):
            batch_op.drop_column(column)
    op.drop_index(op.f("ix_ticket_events_ticket_id"), table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index("ix_tickets_unit_status_due_at", table_name="tickets")
    op.drop_index(op.f("ix_tickets_complaint_id"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_complaints_customer_id"), table_name="complaints")
    op.drop_index(op.f("ix_complaints_call_id"), table_name="complaints")
    op.drop_table("complaints")
    op.drop_table("call_wrap_ups")
