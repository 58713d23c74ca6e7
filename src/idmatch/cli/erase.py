"""`idmatch erase`: erase one data subject for real; only a tombstone event remains in the audit log."""
from __future__ import annotations

import getpass
import json

from ._service_common import add_store_args, open_store


def register(sub) -> None:
    p = sub.add_parser("erase", help="erase a data subject's sessions, templates, images and lines")
    add_store_args(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--session", help="erase the subject of this session id")
    g.add_argument("--doc-type", help="document type (the number is read from a prompt, never from argv)")
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store(args)
    if args.session:
        res = store.erase_session(args.session, actor="cli")
    else:
        number = getpass.getpass("document number: ")
        res = store.erase_subject(args.doc_type, number, actor="cli")
    print(json.dumps(res))
    return 0
