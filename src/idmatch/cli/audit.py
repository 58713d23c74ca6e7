"""`idmatch audit verify`: check the audit hash chain, its external anchor (``IDMATCH_AUDIT_ANCHOR_FILE``, see
:mod:`idmatch.store.anchor`) and that every decided session has its decision event (exit 0 intact, 1 tampered)."""
from __future__ import annotations

import json

from . import EXIT_NO_MATCH, EXIT_OK
from ._service_common import add_store_args, open_store


def register(sub) -> None:
    p = sub.add_parser("audit", help="audit trail tools")
    a = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = a.add_parser("verify", help="verify the hash chain against its external anchor: detects edited, deleted, "
                                    "reordered, truncated or emptied chains")
    add_store_args(v)
    v.add_argument("--json", action="store_true")
    v.add_argument("--anchor", help="an extra, verifier-side file holding the head (seq and hash) seen by the last "
                                    "verify: checks that event is unchanged, then records the new head (the service's "
                                    "own anchor, written on every commit, is always checked)")
    v.set_defaults(func=verify)


def verify(args) -> int:
    from pathlib import Path

    from ..store.models import AuditEvent, AuditHead

    store = open_store(args)
    rep = store.verify_audit()
    if args.anchor:
        anchor = Path(args.anchor)
        with store.session() as db:
            if anchor.exists():
                seq, h = anchor.read_text().split()
                ev = db.get(AuditEvent, int(seq))
                if ev is None or ev.hash != h:
                    rep.ok = False
                    rep.problems.append(f"anchored event {seq} is missing or changed since the last verify")
            head = db.get(AuditHead, 1)
            if rep.ok and head is not None:
                anchor.write_text(f"{head.seq} {head.hash}\n")
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1))
    elif rep.ok:
        where = f", anchored at event {rep.anchored_seq} in {store.anchor.path}" if rep.anchored_seq else ""
        print(f"audit chain OK: {rep.events} events{where}")
    else:
        print(f"audit chain BROKEN ({len(rep.problems)} problem(s) in {rep.events} events):")
        for p in rep.problems[:50]:
            print(f"  - {p}")
    return EXIT_OK if rep.ok else EXIT_NO_MATCH
