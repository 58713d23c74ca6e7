"""Document checks at the API: a claimed number is validated per type (422 ``document_number_invalid``
naming the rule) and stored as the keyed hash of its canonical form, so variants are one identity."""
from __future__ import annotations

import pytest

from idmatch.store.models import RegSession

from .conftest import make_svc


@pytest.fixture(scope="module")
def dsvc(request, tmp_path_factory, engine, images):
    s = make_svc("sqlite", request, tmp_path_factory.mktemp("docs"), engine, images)
    yield s
    s.client.close()
    s.store.close()


@pytest.mark.parametrize("doc_type,number,rule", [
    ("resident_id", "abc", "length"),
    ("resident_id", "110105194912310021", "check_character"),
    ("passport", "E123456789", "length"),
])
def test_invalid_number_is_a_422_problem_naming_the_rule(dsvc, doc_type, number, rule):
    r = dsvc.create(number, doc_type=doc_type)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "document_number_invalid" and body["type"].endswith("document_number_invalid")
    assert body["details"] == {"doc_type": doc_type, "rule": rule}
    assert number not in r.text


def test_variants_of_one_number_are_one_identity(dsvc):
    ids = [dsvc.create(n).json()["id"] for n in ("11010519491231002X", "110105 1949 1231 002x", "１１０１０５１９４９１２３１００２ｘ")]
    with dsvc.store.session() as db:
        hashes = {db.get(RegSession, sid).id_hash for sid in ids}
    assert hashes == {dsvc.store.crypto.id_hash("resident_id", "11010519491231002X")}
