"""SQLAlchemy storage for the fraud rules: the ``fraud_line`` table (SQLite or PostgreSQL).

The table can live on the service's own ``MetaData`` (pass it in) so one migration creates it;
:meth:`SqlLineStore.create_schema` creates it directly for library use and tests.
"""
from __future__ import annotations

import datetime as _dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .lines import Line, LineCheck, LineConflictError, LineLimitError, LineNotFoundError


def line_table(metadata: sa.MetaData) -> sa.Table:
    """Define (once per ``metadata``) the table of line activations."""
    if "fraud_line" in metadata.tables:
        return metadata.tables["fraud_line"]
    t = sa.Table(
        "fraud_line", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("line_id", sa.String(128), nullable=False),
        sa.Column("identity_key", sa.String(128), nullable=False),       # HMAC of the document number
        sa.Column("registration_ref", sa.String(64), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
    )
    sa.Index("ix_fraud_line_identity", t.c.operator, t.c.identity_key, t.c.deactivated_at)
    active = t.c.deactivated_at.is_(None)
    sa.Index("uq_fraud_line_active", t.c.operator, t.c.line_id, unique=True,
             sqlite_where=active, postgresql_where=active)
    return t


def _row_line(r) -> Line:
    def tz(d):
        return None if d is None else (d if d.tzinfo else d.replace(tzinfo=_dt.timezone.utc))
    return Line(r.operator, r.line_id, r.identity_key, r.registration_ref, tz(r.activated_at), tz(r.deactivated_at))


class SqlLineStore:
    """:class:`~idmatch.fraud.lines.LineStore` over a SQLAlchemy engine."""

    def __init__(self, engine: Engine, metadata: sa.MetaData | None = None):
        self.engine = engine
        self.metadata = metadata or sa.MetaData()
        self.table = line_table(self.metadata)

    def create_schema(self) -> None:
        self.table.create(self.engine, checkfirst=True)

    def _count(self, conn: Connection, operator: str, identity_key: str) -> int:
        t = self.table
        q = sa.select(sa.func.count()).select_from(t).where(
            t.c.operator == operator, t.c.identity_key == identity_key, t.c.deactivated_at.is_(None))
        return int(conn.execute(q).scalar_one())

    def count_active(self, operator: str, identity_key: str) -> int:
        with self.engine.connect() as conn:
            return self._count(conn, operator, identity_key)

    def held_by_operator(self, identity_key: str) -> dict[str, int]:
        t = self.table
        q = (sa.select(t.c.operator, sa.func.count()).where(t.c.identity_key == identity_key, t.c.deactivated_at.is_(None))
             .group_by(t.c.operator))
        with self.engine.connect() as conn:
            return {op: int(n) for op, n in conn.execute(q)}

    def activate(self, operator: str, identity_key: str, line_id: str, registration_ref: str | None = None) -> Line:
        return self.activate_within_limit(operator, identity_key, line_id, registration_ref, None)

    def activate_within_limit(self, operator: str, identity_key: str, line_id: str,
                              registration_ref: str | None, limit: int | None) -> Line:
        """Count and insert in one transaction; on PostgreSQL an advisory lock per (operator, identity)
        serialises concurrent activations so two cannot both take the last slot (SQLite serialises
        writers itself)."""
        t = self.table
        now = _dt.datetime.now(_dt.timezone.utc)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                             {"k": f"fraud_line:{operator}:{identity_key}"})
            if limit is not None:
                n = self._count(conn, operator, identity_key)
                if n >= limit:
                    LineCheck(False, n, limit, LineLimitError.code).raise_if_denied()
            busy = conn.execute(sa.select(t.c.id).where(t.c.operator == operator, t.c.line_id == line_id,
                                                        t.c.deactivated_at.is_(None))).first()
            if busy is not None:
                raise LineConflictError(f"line {line_id!r} is already active with operator {operator!r}")
            conn.execute(t.insert().values(operator=operator, line_id=line_id, identity_key=identity_key,
                                           registration_ref=registration_ref, activated_at=now))
        return Line(operator, line_id, identity_key, registration_ref, now)

    def deactivate(self, operator: str, line_id: str) -> Line:
        t = self.table
        now = _dt.datetime.now(_dt.timezone.utc)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.operator == operator, t.c.line_id == line_id,
                                                  t.c.deactivated_at.is_(None))).first()
            if row is None:
                raise LineNotFoundError(f"no active line {line_id!r} with operator {operator!r}")
            conn.execute(t.update().where(t.c.id == row.id).values(deactivated_at=now))
        ln = _row_line(row)
        return Line(ln.operator, ln.line_id, ln.identity_key, ln.registration_ref, ln.activated_at, now)

    def erase_identity(self, identity_key: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(self.table.delete().where(self.table.c.identity_key == identity_key)).rowcount
