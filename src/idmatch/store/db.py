"""Engine creation (SQLite tuned for durability and concurrency, or PostgreSQL) and migrations."""
from __future__ import annotations

import logging
from importlib import resources

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, max_overflow=8)

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")       # a 2xx means the commit is on disk
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")       # erased rows are overwritten, not just unlinked
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(eng, "begin")
        def _begin(conn):
            # IMMEDIATE: take the write lock up front, so read-then-write transactions never
            # fail with SQLITE_BUSY on lock upgrade and writers queue instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision shipped in the package (idempotent)."""
    from alembic import command
    from alembic.config import Config

    script_dir = str(resources.files("idmatch.store").joinpath("migrations"))
    cfg = Config()
    cfg.set_main_option("script_location", script_dir)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # two workers starting together must not both run the migration
            conn.exec_driver_sql("SELECT pg_advisory_lock(74201)")
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_unlock(74201)")
                conn.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
