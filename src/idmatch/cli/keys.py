"""`idmatch keys create|list|revoke`: manage API keys from the server host."""
from __future__ import annotations

import json

from ._service_common import add_store_args, open_store


def register(sub) -> None:
    p = sub.add_parser("keys", help="create, list or revoke API keys")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    c = ks.add_parser("create", help="create a key (the secret is printed once)")
    c.add_argument("--role", required=True, choices=["clerk", "reviewer", "auditor", "admin"])
    c.add_argument("--label", default="", help="operator / store / channel label")
    c.add_argument("--scope", default=None, help="clerk keys: the store/operator whose sessions the key creates and "
                                                 "sees (e.g. store-0571); other clerks' sessions are 404 to it")
    add_store_args(c)
    c.set_defaults(func=create)
    ls = ks.add_parser("list", help="list keys (no secrets)")
    add_store_args(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_)
    r = ks.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")
    add_store_args(r)
    r.set_defaults(func=revoke)


def create(args) -> int:
    store = open_store(args)
    k = store.create_key(args.role, args.label, scope=args.scope, actor="cli")
    print(f"{k.id} ({k.role}{', scope ' + k.scope if k.scope else ''}) {k.secret}")
    return 0


def list_(args) -> int:
    store = open_store(args)
    rows = [{"id": k.id, "role": k.role, "label": k.label, "scope": k.scope, "created_at": str(k.created_at),
             "revoked_at": str(k.revoked_at) if k.revoked_at else None} for k in store.list_keys()]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['id']}  {r['role']:<8} {'[' + r['scope'] + '] ' if r['scope'] else ''}"
                  f"{'REVOKED ' if r['revoked_at'] else ''}{r['label']}")
    return 0


def revoke(args) -> int:
    open_store(args).revoke_key(args.key_id, actor="cli")
    print(f"revoked {args.key_id}")
    return 0
