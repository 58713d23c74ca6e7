"""`idmatch document check`: the document checks offline, at the counter or on a reader's export.

  idmatch document check --type resident_id              # number from a prompt (never argv)
  idmatch document check --type passport --mrz mrz.txt [--ocr] [--birth-date 1974-08-12]
  idmatch document check --type passport --image page.jpg          # MRZ by OCR (optional install)
  idmatch document check --sod EF.SOD --dg1 DG1 --dg2 DG2 --trust csca/ [--portrait-out face.jpg]
  idmatch document check --reader-number-stdin --chip-photo photo.bmp [--birth-date ...]

Exit code 0 when every finding passes, 1 when any would send a session to review or reject it,
2 for bad input (an invalid number, text that is no MRZ, bytes that are no EF.SOD).
"""
from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from pathlib import Path

from ..errors import IdmatchError


def register(sub) -> None:
    p = sub.add_parser("document", help="document checks: number rules, MRZ, e-passport passive authentication")
    dsub = p.add_subparsers(dest="document_command", metavar="ACTION")
    c = dsub.add_parser("check", help="check a number, an MRZ, a resident-ID reader's output or e-passport chip data")
    c.add_argument("--type", default=None, help="document type (resident_id, passport, hk_macau_permit, ...)")
    c.add_argument("--mrz", type=Path, help="a text file with the MRZ lines ('-': standard input)")
    c.add_argument("--ocr", action="store_true", help="the MRZ text comes from OCR: repair the layout first")
    c.add_argument("--image", type=Path, help="a document photo: read its MRZ by OCR (optional rapidocr-onnxruntime)")
    c.add_argument("--sod", type=Path, help="EF.SOD as read from the chip")
    c.add_argument("--dg1", type=Path, help="DG1 as read from the chip")
    c.add_argument("--dg2", type=Path, help="DG2 as read from the chip")
    c.add_argument("--trust", type=Path, help="folder of trusted CSCA certificates / master lists")
    c.add_argument("--portrait-out", type=Path, help="write the DG2 / chip portrait here")
    c.add_argument("--reader-number-stdin", action="store_true",
                   help="resident ID reader output: the number on standard input, with --chip-photo / --birth-date / --expiry-date")
    c.add_argument("--chip-photo", type=Path, help="the resident ID card's chip photo as the reader decoded it")
    c.add_argument("--birth-date", type=dt.date.fromisoformat, help="YYYY-MM-DD, as entered or read")
    c.add_argument("--expiry-date", type=dt.date.fromisoformat, help="YYYY-MM-DD, as entered or read")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _read_secret(prompt: str) -> str:
    return getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().strip()


def run_check(args) -> int:
    from ..documents import reader
    from ..documents.chip import ChipDataError, TrustStore
    from ..documents.mrz import repair_ocr
    from ..documents.numbers import check_number

    if args.sod or args.dg1:
        if not (args.sod and args.dg1):
            raise ChipDataError("--sod and --dg1 go together")
        dgs = {1: args.dg1.read_bytes(), **({2: args.dg2.read_bytes()} if args.dg2 else {})}
        trust = TrustStore.from_folder(args.trust) if args.trust else None
        check = reader.check_epassport(args.sod.read_bytes(), dgs, trust, doc_type=args.type or "passport",
                                       birth_date=args.birth_date)
    elif args.image:
        from ..documents.ocr import read_mrz
        from ..imaging import decode_image

        mrz = read_mrz(decode_image(args.image.read_bytes()))
        check = reader.check_mrz(mrz, doc_type=args.type or "passport", source="document_photo_ocr",
                                 birth_date=args.birth_date, expiry_date=args.expiry_date)
    elif args.mrz:
        text = sys.stdin.read() if str(args.mrz) == "-" else args.mrz.read_text()
        check = reader.check_mrz_text(repair_ocr(text) if args.ocr else text, doc_type=args.type or "passport",
                                      birth_date=args.birth_date, expiry_date=args.expiry_date)
    elif args.reader_number_stdin:
        photo = args.chip_photo.read_bytes() if args.chip_photo else None
        check = reader.check_resident_id_reader(_read_secret("number read: "), birth_date=args.birth_date,
                                                expiry_date=args.expiry_date, photo=photo)
    elif args.type:
        n = check_number(args.type, _read_secret("document number: "))
        return _emit(args, {"doc_type": n.doc_type, "valid": True, "rule": n.rule}, [])
    else:
        raise IdmatchError("give --type (a number), --mrz, --sod/--dg1 or --reader-number-stdin", code="bad_arguments")
    if args.portrait_out and check.portrait:
        args.portrait_out.write_bytes(check.portrait)
    return _emit(args, check.summary(), [f.to_dict() for f in check.findings])


def _emit(args, summary: dict, findings: list[dict]) -> int:
    bad = [f for f in findings if f["outcome"] in ("review", "fail")]
    if args.json:
        print(json.dumps({**summary, "findings": findings}))
    else:
        print(f"{summary.get('source', 'number')} · {summary['doc_type']}: " + ("ok" if not bad else "NOT ok"))
        for f in findings:
            print(f"  {f['outcome']:6s} {f['code']}: {f['message']}")
    return 1 if bad else 0
