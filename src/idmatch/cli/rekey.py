"""`idmatch rekey`: new AES-256-GCM key, re-encrypt every template and image under it."""
from __future__ import annotations

import json

from ._service_common import add_store_args, open_store


def register(sub) -> None:
    p = sub.add_parser("rekey", help="rotate the encryption key and re-encrypt stored templates and images")
    add_store_args(p)
    p.add_argument("--drop-old", action="store_true", help="remove retired keys from keys.json afterwards")
    p.set_defaults(func=run)


def run(args) -> int:
    print(json.dumps(open_store(args).rekey(drop_old=args.drop_old, actor="cli")))
    print("restart the service so every worker encrypts under the new key")
    return 0
