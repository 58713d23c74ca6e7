"""`idmatch purge`: enforce retention (expired images, stale sessions and their templates)."""
from __future__ import annotations

import json

from ._service_common import add_store_args, open_store


def register(sub) -> None:
    p = sub.add_parser("purge", help="delete data past its retention period (run daily, e.g. from cron)")
    add_store_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    print(json.dumps(open_store(args).purge(actor="cli")))
    return 0
