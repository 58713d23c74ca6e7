"""Document numbers: GB 11643 resident ID rules (through python-stdnum), declared formats, and the
canonical form that makes every way of writing one number yield one keyed hash."""
from __future__ import annotations

import datetime as dt

import pytest
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2

from idmatch.documents.numbers import DocumentNumberInvalid, check_number, normalise_number
from idmatch.store.crypto import Crypto, normalise_doc_number
from idmatch.store.keys import KeySet

VALID = "11010519491231002X"          # the GB 11643 example number (Beijing Chaoyang, born 1949-12-31)


def _with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def _rule(doc_type: str, number: str) -> str:
    with pytest.raises(DocumentNumberInvalid) as ei:
        check_number(doc_type, number)
    err = ei.value
    assert err.code == "document_number_invalid" and err.http_status == 422
    assert len(number) < 4 or number not in str(err.details)   # the number is never echoed back
    return err.details["rule"]


def test_valid_resident_id_parsed():
    c = check_number("resident_id", VALID)
    assert c.number == VALID and c.rule == "gb11643"
    assert c.birth_date == dt.date(1949, 12, 31) and c.sex == "F"


@pytest.mark.parametrize("typed", [
    "11010519491231002x",                    # lower-case x
    "110105 19491231 002X",                  # spaces
    "110105-1949-1231-002x",                 # hyphens
    "１１０１０５１９４９１２３１００２Ｘ",      # full-width digits and letter (Chinese IME)
    "１１０１０５１９４９１２３１００２ｘ",
    " 11010519491231002X\t",
])
def test_variants_collapse_to_one_number_and_one_hash(typed):
    assert check_number("resident_id", typed).number == VALID
    crypto = Crypto(KeySet.generate())
    assert crypto.id_hash("resident_id", check_number("resident_id", typed).number) == crypto.id_hash("Resident_ID", VALID)
    # the store's own normalisation (used by erasure and subject requests on any stored hash) agrees
    assert normalise_doc_number(typed) == normalise_number(typed) == VALID


@pytest.mark.parametrize("number,rule", [
    ("abc", "length"),
    ("1101051949123100", "length"),
    ("110105194912310021X", "length"),
    ("1101051949123100AX", "format"),
    ("110105194912310021", "check_character"),         # one digit off: the check character catches it
    ("110105194912310028", "check_character"),
    (_with_check("11010519491331002"), "birth_date"),   # month 13
    (_with_check("11010519490230002"), "birth_date"),   # 30 February
    (_with_check("11010520990101002"), "birth_date"),   # born in the future
    (_with_check("99999919900101002"), "region"),       # no such administrative division
    (_with_check("33010619500101002"), "region"),       # Hangzhou Shangcheng did not exist in 1950
    ("", "format"),
    ("---", "format"),
])
def test_invalid_resident_ids_name_the_rule(number, rule):
    assert _rule("resident_id", number) == rule


def test_region_is_checked_in_its_birth_year():
    assert check_number("resident_id", _with_check("33010619900101002")).birth_date == dt.date(1990, 1, 1)


@pytest.mark.parametrize("doc_type,number,canonical", [
    ("passport", "E12345678", "E12345678"),
    ("passport", "e1234567<", "E1234567"),                # MRZ filler dropped
    ("PASSPORT", "ＥＡ１２３４５６７", "EA1234567"),
    ("hk_macau_permit", "H12345678", "H12345678"),
    ("hk_macau_permit", "M1234567801", "M1234567801"),
    ("taiwan_permit", "12345678", "12345678"),
    ("foreign_permanent", "USA-123456789012", "USA123456789012"),
    ("foreign_permanent", "91115619900101001" + mod_11_2.calc_check_digit("91115619900101001").lower(),
     "91115619900101001" + mod_11_2.calc_check_digit("91115619900101001")),
    ("driving_licence", "ab-1234", "AB1234"),             # an undeclared type: the generic rule
])
def test_declared_formats_accept(doc_type, number, canonical):
    assert check_number(doc_type, number).number == canonical


@pytest.mark.parametrize("doc_type,number,rule", [
    ("passport", "E123456789", "length"),                # 10 characters: not an ICAO 9303 number
    ("passport", "护照12345", "format"),
    ("hk_macau_permit", "X12345678", "format"),
    ("hk_macau_permit", "H1234567", "length"),
    ("taiwan_permit", "1234567A", "format"),
    ("foreign_permanent", "1234567890123456", "length"),
    ("foreign_permanent", "91234567890123450", "length"),
    ("foreign_permanent", "91234567890123X456", "format"),
    ("foreign_permanent", "91115619900101001" + ("1" if mod_11_2.calc_check_digit("91115619900101001") != "1" else "2"),
     "check_character"),
    ("driving_licence", "ab", "length"),
])
def test_declared_formats_reject(doc_type, number, rule):
    assert _rule(doc_type, number) == rule
