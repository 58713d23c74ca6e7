"""ICAO 9303 machine-readable zones: parse TD1 / TD2 / TD3 (and MRV-A / MRV-B visas), verify every
check digit and field format with the kept ``mrz`` package, and cross-check the MRZ against what the
clerk entered.

The MRZ text may come from a reader, from an NFC app (DG1 holds the same lines) or from OCR of a
document photo (see ``benchmarks/documents``). OCR noise is tolerated only in the layout (blank lines,
spaces, lower case); a misread character is never "corrected" here: a wrong check digit is a finding.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from mrz.checker.mrva import MRVACodeChecker
from mrz.checker.mrvb import MRVBCodeChecker
from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td2 import TD2CodeChecker
from mrz.checker.td3 import TD3CodeChecker
from mrz.base.functions import hash_string

from ..errors import IdmatchError
from .findings import Finding
from .numbers import normalise_number

log = logging.getLogger(__name__)

#: (lines, characters per line) of each format
LAYOUTS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}


class MrzUnreadable(IdmatchError):
    """The text is not an MRZ of any ICAO 9303 format (wrong line count or length, bad characters)."""

    code = "mrz_unreadable"
    http_status = 422


@dataclass(frozen=True)
class MrzResult:
    format: str                          # TD1, TD2, TD3, MRVA, MRVB
    document_code: str                   # P, I, ID, AC, V, ...
    issuing_state: str
    document_number: str                 # canonical (fillers dropped), as numbers.normalise_number
    nationality: str
    birth_date: dt.date | None           # None when the field is not a date
    expiry_date: dt.date | None
    sex: str
    surname: str
    given_names: str
    checks: dict[str, bool] = field(default_factory=dict)   # every check digit and field format → passed

    @property
    def valid(self) -> bool:
        return all(self.checks.values())

    @property
    def check_digits_valid(self) -> bool:
        """Every ICAO 9303 check digit verifies (the fields a clerk's entry is compared with are all
        covered by one); ``valid`` also requires every field format (country codes, names)."""
        return all(ok for k, ok in self.checks.items() if k.endswith("_hash"))

    @property
    def failed_checks(self) -> list[str]:
        return [k for k, ok in self.checks.items() if not ok]

    def public_dict(self) -> dict:
        """What may go into a reason or the audit: format, codes and which checks failed — no names,
        no numbers, no dates."""
        return {"format": self.format, "document_code": self.document_code, "issuing_state": self.issuing_state,
                "valid": self.valid, "failed_checks": self.failed_checks}


def split_lines(text: str) -> list[str]:
    """MRZ lines from text as a reader or OCR gives it: blank lines and spaces dropped, upper case."""
    return [re.sub(r"\s+", "", ln).upper() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]


# character classes per position (PassportEye's table, ICAO 9303 parts 4-6): a = letter, n = digit, * = any
_CLASSES = {
    "TD1": ["a*" + "A" * 3 + "*" * 9 + "N" + "*" * 15, "n" * 7 + "A" + "n" * 7 + "A" * 3 + "*" * 11 + "n", "A" * 30],
    "TD2": ["a" + "A" * 35, "*" * 9 + "n" + "A" * 3 + "n" * 7 + "A" + "n" * 7 + "*" * 7 + "n"],
    "TD3": ["a" + "A" * 43, "*" * 9 + "n" + "A" * 3 + "n" * 7 + "A" + "n" * 7 + "*" * 14 + "n" * 2],
}
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "8": "B"})
_TO_DIGIT = str.maketrans({"B": "8", "C": "0", "D": "0", "G": "6", "I": "1", "O": "0", "Q": "0", "S": "5", "Z": "2"})


def repair_ocr(text: str) -> str:
    """Undo OCR's layout slips before :func:`parse_mrz`: keep the lines that look like MRZ lines,
    cut or '<'-pad each to its format's width, map letter/digit look-alikes by position (a digit where
    only a letter may stand, O for 0 in a date) and read a 'K' inside a run of fillers as '<'. Nothing
    here can make a misread digit pass: the check digits are verified afterwards."""
    lines = [ln for ln in split_lines(text) if len(ln) >= 20 or "<<" in ln]
    if len(lines) == 3:
        fmt = "TD1"
    elif len(lines) == 2:
        fmt = "TD2" if max(len(ln) for ln in lines) < 40 else "TD3"
    else:
        return text
    width = LAYOUTS[fmt][1]
    out = []
    for i, ln in enumerate(lines):
        ln = re.sub(r"[^A-Z0-9<]", "<", ln)
        ln = (ln + "<" * width)[:width]
        while True:   # K read for '<' inside filler runs
            fixed = re.sub(r"(?<=<)K(?=[<K]|$)|(?<=[<K])K(?=<)", "<", ln)
            if fixed == ln:
                break
            ln = fixed
        cls = _CLASSES[fmt][i]
        ln = "".join(c.translate(_TO_LETTER) if k in "aA" else c.translate(_TO_DIGIT) if k in "nN" else c
                     for c, k in zip(ln, cls))
        out.append(ln)
    return "\n".join(out)


def best_mrz(text: str, *, today: dt.date | None = None) -> MrzResult:
    """The MRZ among OCR output that may hold other text lines, lines out of order (a page read upside
    down) or one line too many: every window of 2 or 3 consecutive MRZ-like lines, in both orders,
    repaired and parsed; the one with the most verified checks wins (check digits first). Raises
    :class:`MrzUnreadable` when no window is an MRZ."""
    lines = [ln for ln in split_lines(text) if len(ln) >= 20 or "<<" in ln]
    best: tuple | None = None
    for size in (3, 2):
        for i in range(len(lines) - size + 1):
            window = lines[i:i + size]
            for candidate in (window, window[::-1]):
                try:
                    m = parse_mrz(repair_ocr("\n".join(candidate)), today=today)
                except MrzUnreadable:
                    continue
                score = (m.check_digits_valid, sum(m.checks.values()))
                if best is None or score > best[0]:
                    best = (score, m)
    if best is None:
        raise MrzUnreadable("no ICAO 9303 MRZ among the text read", details={"lines": len(lines)})
    return best[1]


def parse_mrz(text: str, *, today: dt.date | None = None) -> MrzResult:
    """Parse and check an MRZ. Raises :class:`MrzUnreadable` when no ICAO 9303 layout fits; returns a
    result with ``valid == False`` (and the failed checks named) when the layout fits but a check
    digit or a field format does not."""
    today = today or dt.date.today()
    lines = split_lines(text)
    shape = (len(lines), {len(ln) for ln in lines})
    fmt = next((name for name, (n, w) in LAYOUTS.items() if shape == (n, {w})), None)
    if fmt is None:
        raise MrzUnreadable(f"not an ICAO 9303 MRZ: {len(lines)} lines of {sorted(shape[1])} characters",
                            details={"lines": len(lines), "lengths": sorted(shape[1])})
    if any(not re.fullmatch(r"[A-Z0-9<]+", ln) for ln in lines):
        raise MrzUnreadable("an MRZ holds only A-Z, 0-9 and '<'", details={"format": fmt})
    if lines[0][0] == "V" and fmt in ("TD2", "TD3"):
        fmt = {"TD3": "MRVA", "TD2": "MRVB"}[fmt]
    checker_cls = {"TD1": TD1CodeChecker, "TD2": TD2CodeChecker, "TD3": TD3CodeChecker,
                   "MRVA": MRVACodeChecker, "MRVB": MRVBCodeChecker}[fmt]
    try:
        checker = checker_cls("\n".join(lines))
    except Exception as exc:   # the library's precheck refuses what it cannot lay out
        raise MrzUnreadable(f"the {fmt} MRZ could not be laid out: {exc}", details={"format": fmt}) from None
    f = checker.fields()
    checks = {desc.replace(" ", "_"): bool(ok) for desc, ok in checker.report.fields}
    number = f.document_number
    if fmt == "TD1" and lines[0][14] == "<" and lines[0][15] != "<":
        # ICAO 9303 part 5: a number over 9 characters continues in the optional data, its check digit
        # after it; the library reads only the first 9 characters, so the long number is checked here
        extension = lines[0][15:30].split("<")[0]
        number = lines[0][5:14] + extension[:-1]
        checks["document_number_hash"] = len(extension) >= 2 and hash_string(number) == extension[-1]
        checks["document_number_format"] = bool(re.fullmatch(r"[A-Z0-9]+", number))
    return MrzResult(
        format=fmt, document_code=f.document_type.replace("<", ""), issuing_state=f.country.replace("<", ""),
        document_number=normalise_number(number), nationality=f.nationality.replace("<", ""),
        birth_date=yymmdd(f.birth_date, kind="birth", today=today),
        expiry_date=yymmdd(f.expiry_date, kind="expiry", today=today),
        sex=f.sex, surname=f.surname, given_names=f.name, checks=checks)


def yymmdd(s: str, *, kind: str, today: dt.date) -> dt.date | None:
    """An MRZ date has no century: a birth date is never in the future, an expiry date is at most 50
    years ahead (otherwise the earlier century)."""
    if not re.fullmatch(r"\d{6}", s):
        return None
    yy, mm, dd = int(s[:2]), int(s[2:4]), int(s[4:])
    century = today.year // 100 * 100
    year = century + yy
    if kind == "birth" and year > today.year:
        year -= 100
    if kind == "expiry" and year > today.year + 50:
        year -= 100
    try:
        return dt.date(year, mm, dd)
    except ValueError:
        return None


def cross_check(mrz: MrzResult, *, number: str | None = None, birth_date: dt.date | None = None,
                expiry_date: dt.date | None = None, today: dt.date | None = None) -> list[Finding]:
    """Findings from an MRZ against what the clerk entered (each optional): check digits, document
    number, birth date, expiry date as entered, and expiry against today. An empty disagreement list
    yields one ``mrz_consistent`` pass."""
    today = today or dt.date.today()
    out: list[Finding] = []
    failed = [c for c in mrz.failed_checks if c != "identifier"]   # names: no check digit, not compared
    if failed:
        out.append(Finding("mrz_check_failed", "MRZ check digits or field formats do not verify",
                           {"format": mrz.format, "failed_checks": failed}))
    if number is not None and normalise_number(number) != mrz.document_number:
        out.append(Finding("mrz_number_mismatch", "the document number entered differs from the MRZ", {"format": mrz.format}))
    if birth_date is not None and birth_date != mrz.birth_date:
        out.append(Finding("mrz_birth_date_mismatch", "the birth date entered differs from the MRZ", {"format": mrz.format}))
    if expiry_date is not None and expiry_date != mrz.expiry_date:
        out.append(Finding("mrz_expiry_mismatch", "the expiry date entered differs from the MRZ", {"format": mrz.format}))
    if mrz.expiry_date is not None and mrz.expiry_date < today:
        out.append(Finding("document_expired", "the document expired", {"expired_days": (today - mrz.expiry_date).days}))
    if not out:
        out.append(Finding("mrz_consistent", "MRZ check digits verify and agree with the entered data",
                           {"format": mrz.format}))
    return out
