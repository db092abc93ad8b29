"""The business data store: customers and their electricity accounts (later tickets,
recording and voicemail indexes, campaigns, the SMS log, the admin audit log), in one
relational database through SQLAlchemy 2 with one Alembic migration history. SQLite
is the embedded default, PostgreSQL the scale-out path. Lookups from the IVR go
through the `DataSource` interface, so an operator can point them at their own
database or HTTP API instead."""

__all__: list[str] = []
