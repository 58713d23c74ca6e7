"""Shared helpers for the service subcommands (serve, keys, audit, purge, erase, rekey)."""
from __future__ import annotations


def add_store_args(p) -> None:
    p.add_argument("--data-dir", help="data directory (default: $IDMATCH_DATA_DIR or ~/.local/share/idmatch)")
    p.add_argument("--database-url", help="SQLAlchemy/libpq URL (default: $IDMATCH_DATABASE_URL or SQLite in the data dir)")


def settings_from(args):
    from ..settings import Settings

    kw = {}
    if getattr(args, "data_dir", None):
        kw["data_dir"] = args.data_dir
    if getattr(args, "database_url", None):
        kw["database_url"] = args.database_url
    return Settings(**kw)


def open_store(args):
    from ..store.store import Store

    return Store(settings_from(args))
