"""Document numbers: one canonical form per identity, and the rules a number must meet per document type.

The canonical form (:func:`normalise_number`) is what the keyed hash is computed over, so every way a
clerk or a reader may write one number — full-width digits from a Chinese IME, a lower-case ``x``,
spaces, hyphens, MRZ fillers (``<``) — yields one hash. It is the same rule as
``idmatch.store.crypto.normalise_doc_number`` (a test holds the two together), so numbers hashed before
this module existed keep their hashes.

:func:`check_number` then applies the type's rule and raises :class:`DocumentNumberInvalid` (stable
code ``document_number_invalid``, ``details.rule`` naming the rule that failed). The rules come from
kept libraries where one exists: ``python-stdnum``'s ``cn.ric`` (GB 11643-1999: 18 characters, ISO 7064
MOD 11-2 check character, administrative-division prefix valid in the birth year, a real birth date)
and ``stdnum.iso7064.mod_11_2``; the others are the formats declared in :data:`DECLARED_FORMATS`.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass

from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2

from ..errors import IdmatchError

log = logging.getLogger(__name__)

RESIDENT_ID = "resident_id"
PASSPORT = "passport"



@dataclass(frozen=True)
class DeclaredFormat:
    pattern: str                 # regex over the canonical number
    lengths: tuple[int, ...]     # the lengths it allows (a wrong length is reported as such)
    what: str


#: Declared formats for document types without a kept library.
DECLARED_FORMATS: dict[str, DeclaredFormat] = {
    # ICAO 9303 part 4: the document number field of a TD3 MRZ is 9 characters, A-Z and 0-9 (fillers dropped)
    PASSPORT: DeclaredFormat(r"[A-Z0-9]{1,9}", tuple(range(1, 10)), "ICAO 9303 document number: 1-9 letters or digits"),
    # Mainland Travel Permit for Hong Kong and Macao Residents: H or M, 8 digits, optionally the 2-digit issue count
    "hk_macau_permit": DeclaredFormat(r"[HM][0-9]{8}([0-9]{2})?", (9, 11), "H or M, 8 digits, optional 2-digit issue count"),
    # Mainland Travel Permit for Taiwan Residents: 8 digits, optionally the 2-digit issue count
    "taiwan_permit": DeclaredFormat(r"[0-9]{8}([0-9]{2})?", (8, 10), "8 digits, optional 2-digit issue count"),
}
#: any other type: letters and digits only, within the length the schema allows
GENERIC_FORMAT = DeclaredFormat(r"[A-Z0-9]{4,32}", tuple(range(4, 33)), "4-32 letters or digits")


class DocumentNumberInvalid(IdmatchError):
    """The claimed document number cannot be a number of that document type."""

    code = "document_number_invalid"
    http_status = 422


@dataclass(frozen=True)
class NumberCheck:
    """A number that passed its type's rule. ``number`` is canonical: hash this, nothing else."""

    doc_type: str
    number: str
    rule: str                            # which rule set accepted it
    birth_date: dt.date | None = None    # resident ID / foreign permanent resident ID (18-digit) carry it
    sex: str | None = None               # "M" / "F" where the number encodes it


def normalise_doc_type(doc_type: str) -> str:
    return unicodedata.normalize("NFKC", doc_type).strip().lower()


def normalise_number(number: str) -> str:
    """NFKC (full-width → ASCII), upper case, letters and digits only (spaces, hyphens, '<' dropped)."""
    n = unicodedata.normalize("NFKC", number).upper()
    return "".join(ch for ch in n if ch.isalnum())


def check_number(doc_type: str, number: str, *, today: dt.date | None = None) -> NumberCheck:
    """Validate ``number`` as a number of ``doc_type``; return its canonical form, or raise
    :class:`DocumentNumberInvalid` with ``details = {"doc_type", "rule"}`` (never the number itself)."""
    t = normalise_doc_type(doc_type)
    n = normalise_number(number)
    today = today or dt.date.today()
    if not n:
        raise _invalid(t, "format", "the document number has no letters or digits")
    if not n.isascii():
        raise _invalid(t, "format", "the document number may hold only Latin letters and digits")
    if t == RESIDENT_ID:
        return _resident_id(n, today)
    if t == "foreign_permanent":
        return _foreign_permanent(n, today)
    fmt = DECLARED_FORMATS.get(t, GENERIC_FORMAT)
    if not re.fullmatch(fmt.pattern, n):
        rule = "length" if len(n) not in fmt.lengths else "format"
        raise _invalid(t, rule, f"not a valid {t} number: expected {fmt.what}")
    return NumberCheck(t, n, "declared" if t in DECLARED_FORMATS else "generic")


def _resident_id(n: str, today: dt.date) -> NumberCheck:
    """GB 11643-1999 through ``stdnum.cn.ric``; each failure named after the part of the number it concerns."""
    t = RESIDENT_ID
    try:
        ric.validate(n)
    except stdnum_exc.InvalidLength:
        raise _invalid(t, "length", f"a resident identity card number has 18 characters, not {len(n)}") from None
    except stdnum_exc.InvalidFormat:
        raise _invalid(t, "format", "a resident identity card number is 17 digits and a digit or X") from None
    except stdnum_exc.InvalidChecksum:
        raise _invalid(t, "check_character", "the check character (ISO 7064 MOD 11-2) does not match") from None
    except stdnum_exc.ValidationError:
        try:
            ric.get_birth_date(n)
        except stdnum_exc.ValidationError:
            raise _invalid(t, "birth_date", "characters 7-14 are not a calendar date") from None
        raise _invalid(t, "region", "characters 1-6 are not an administrative division valid in the birth year") from None
    born = ric.get_birth_date(n)
    _check_birth(t, born, today)
    return NumberCheck(t, n, "gb11643", birth_date=born, sex="M" if int(n[16]) % 2 else "F")


def _foreign_permanent(n: str, today: dt.date) -> NumberCheck:
    """Foreign Permanent Resident ID Card: the 2023 card's 18-digit number (9, issuing province, numeric
    nationality, birth date YYYYMMDD, sequence, ISO 7064 MOD 11-2 check character as GB 11643) or the 2017 card's 15 characters (ISO 3166 alpha-3 nationality, 12 digits)."""
    t = "foreign_permanent"
    if len(n) == 18:
        if not (n[0] == "9" and n[:17].isdigit() and re.fullmatch(r"[0-9X]", n[17])):
            raise _invalid(t, "format", "an 18-character number is 9, 16 digits and a digit or X")
        if not mod_11_2.is_valid(n):
            raise _invalid(t, "check_character", "the check character (ISO 7064 MOD 11-2) does not match")
        try:
            born = dt.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
        except ValueError:
            raise _invalid(t, "birth_date", "characters 7-14 are not a calendar date") from None
        _check_birth(t, born, today)
        return NumberCheck(t, n, "gb11643", birth_date=born)
    if len(n) == 15:
        if not re.fullmatch(r"[A-Z]{3}[0-9]{12}", n):
            raise _invalid(t, "format", "a 15-character number is 3 letters (nationality) and 12 digits")
        return NumberCheck(t, n, "declared")
    raise _invalid(t, "length", f"a foreign permanent resident ID number has 15 or 18 characters, not {len(n)}")


def _check_birth(t: str, born: dt.date, today: dt.date) -> None:
    if born > today or born.year < 1880:
        raise _invalid(t, "birth_date", "the birth date in the number is in the future or implausibly early")


def _invalid(doc_type: str, rule: str, message: str) -> DocumentNumberInvalid:
    log.info("document number rejected: type=%s rule=%s", doc_type, rule)
    return DocumentNumberInvalid(message, details={"doc_type": doc_type, "rule": rule})
