"""What a document reader delivers, checked: a resident ID card reader's decoded fields and chip photo,
an e-passport's raw DG1 / DG2 / EF.SOD from an NFC app, or MRZ text from a swipe reader or OCR.

Each ``check_*`` function is pure and returns a :class:`DocumentCheck`: the canonical number the
session's keyed hash is taken over, the findings (reasons to be), the ID portrait the reader supplied
and what was parsed. The claimed (typed) number is compared by the caller, which only holds its hash
(:func:`claimed_number_finding`).

What each proves:

* resident ID card reader — the number passes GB 11643 and agrees with the birth date the reader
  decoded, the card is not expired. The card's chip is readable only by licensed readers
  that hold the Ministry of Public Security's security module (SAM); idmatch cannot verify the chip's data
  itself and **trusts the reader's output** (the ``reader_data_accepted`` finding says so).
* e-passport chip — passive authentication (``documents.chip``): the data groups are the ones the
  issuing state signed, so the DG2 portrait cannot have been swapped; DG1's MRZ is then checked like a
  printed one.
* MRZ text, or the MRZ read by OCR from a document photo — check digits and consistency only:
  anyone can print a valid MRZ.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from .chip import ChipResult, TrustStore, passive_authentication
from .findings import Finding
from .mrz import MrzResult, cross_check, parse_mrz
from .numbers import RESIDENT_ID, NumberCheck, check_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentCheck:
    source: str                          # "resident_id_reader" | "epassport_chip" | "mrz"
    number: NumberCheck
    findings: list[Finding]
    portrait: bytes | None = None        # the ID portrait the reader / chip supplied
    portrait_source: str | None = None   # "resident_id_chip" | "epassport_dg2"
    mrz: MrzResult | None = None
    chip: ChipResult | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Audit-safe: source, codes, outcomes, formats, data groups — no number, name or date."""
        out = {"source": self.source, "doc_type": self.number.doc_type,
               "codes": [f.code for f in self.findings], "outcomes": sorted({f.outcome for f in self.findings}),
               "portrait_from": self.portrait_source}
        if self.mrz is not None:
            out["mrz"] = self.mrz.public_dict()
        if self.chip is not None:
            out["chip"] = {"data_groups": self.chip.data_groups_checked, "hash_algorithm": self.chip.hash_algorithm,
                           "csca": self.chip.csca_subject}
        return out


def claimed_number_finding(source: str, agrees: bool) -> Finding | None:
    """A finding when the number a clerk typed differs from the one the document itself carries."""
    if agrees:
        return None
    code = "reader_number_mismatch" if source == "resident_id_reader" else "mrz_number_mismatch"
    return Finding(code, "the number entered differs from the one read from the document", {"source": source})


def check_resident_id_reader(number: str, *, birth_date: dt.date | None = None, expiry_date: dt.date | None = None,
                             photo: bytes | None = None, today: dt.date | None = None) -> DocumentCheck:
    """The decoded fields of a resident identity card reader (number, birth date, expiry) and its chip
    photo (102 × 126). Raises ``DocumentNumberInvalid`` when the reader's number cannot be a number."""
    today = today or dt.date.today()
    n = check_number(RESIDENT_ID, number, today=today)
    findings = []
    if birth_date is not None and birth_date != n.birth_date:
        findings.append(Finding("reader_birth_date_mismatch", "the birth date read differs from the one in the number",
                                {"source": "resident_id_reader"}))
    if expiry_date is not None and expiry_date < today:
        findings.append(Finding("document_expired", "the document expired", {"expired_days": (today - expiry_date).days}))
    if not findings:
        findings.append(Finding("reader_data_accepted", "accepted as read: a licensed reader's output is trusted, "
                                "not verified by idmatch", {"source": "resident_id_reader", "chip_photo": photo is not None}))
    return DocumentCheck("resident_id_reader", n, findings, portrait=photo,
                         portrait_source="resident_id_chip" if photo else None)


def check_epassport(sod: bytes, data_groups: dict[int, bytes], trust: TrustStore | None, *, doc_type: str = "passport",
                    birth_date: dt.date | None = None, today: dt.date | None = None) -> DocumentCheck:
    """Raw EF.SOD and data groups from an NFC read: passive authentication, then DG1's MRZ checked and
    cross-checked (birth date as entered, expiry against today). Needs DG1 (the number comes from it)."""
    from .chip import ChipDataError

    today = today or dt.date.today()
    if 1 not in data_groups:
        raise ChipDataError("DG1 is required: it carries the document number")
    chip = passive_authentication(sod, data_groups, trust)
    findings = list(chip.findings)
    if chip.mrz_text is None:
        raise ChipDataError("DG1 does not decode to an MRZ")
    mrz = parse_mrz(chip.mrz_text, today=today)
    n = check_number(doc_type, mrz.document_number, today=today)
    findings += [f for f in cross_check(mrz, birth_date=birth_date, today=today) if f.code != "mrz_consistent"]
    portrait = chip.portrait.image if chip.portrait is not None and chip.authenticated else None
    notes = [] if portrait or chip.portrait is None else ["the DG2 portrait is not used: the chip did not authenticate"]
    return DocumentCheck("epassport_chip", n, findings, portrait=portrait,
                         portrait_source="epassport_dg2" if portrait else None, mrz=mrz, chip=chip, notes=notes)


def check_mrz_text(text: str, *, doc_type: str, birth_date: dt.date | None = None, expiry_date: dt.date | None = None,
                   today: dt.date | None = None) -> DocumentCheck:
    """MRZ lines from a swipe reader or OCR (``repair_ocr`` first for OCR output)."""
    today = today or dt.date.today()
    return check_mrz(parse_mrz(text, today=today), doc_type=doc_type, birth_date=birth_date, expiry_date=expiry_date,
                     today=today)


def check_mrz(mrz: MrzResult, *, doc_type: str, source: str = "mrz", birth_date: dt.date | None = None,
              expiry_date: dt.date | None = None, today: dt.date | None = None) -> DocumentCheck:
    """A parsed MRZ (from text, or ``documents.ocr.read_mrz`` on a document photo: source
    ``document_photo_ocr``) cross-checked with what was entered."""
    today = today or dt.date.today()
    n = check_number(doc_type, mrz.document_number, today=today)
    return DocumentCheck(source, n, cross_check(mrz, birth_date=birth_date, expiry_date=expiry_date, today=today), mrz=mrz)
