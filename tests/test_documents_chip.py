"""ICAO 9303 part 11 passive authentication on a test PKI the tests generate: CSCA → DSC → EF.SOD
over DG1 / DG2. Valid data passes; a flipped DG2 byte fails the hash; a foreign CSCA fails the chain;
a tampered signature fails the signature; the DG2 portrait and DG1 MRZ are decoded."""
from __future__ import annotations

import pytest
from mrz.generator.td3 import TD3CodeGenerator

from idmatch.documents.chip import ChipDataError, TrustStore, passive_authentication, read_dg2
from idmatch.documents.mrz import parse_mrz

from chip_pki import flip, jpeg_face, make_dg1, make_dg2, make_master_list, make_pki, make_sod

MRZ = str(TD3CodeGenerator("P", "UTO", "Eriksson", "Anna María", "L898902C3", "UTO", "740812", "F", "310415", "ZE184226B"))


@pytest.fixture(scope="module")
def pki():
    return make_pki()


@pytest.fixture(scope="module")
def chip(pki):
    dgs = {1: make_dg1(MRZ), 2: make_dg2(jpeg_face(size=(102, 126)))}
    return dgs, make_sod(pki, dgs)


@pytest.fixture(scope="module")
def trust(pki):
    return TrustStore([pki.csca])


def _codes(result) -> list[str]:
    return [f.code for f in result.findings]


def test_valid_chip_is_authenticated_and_decoded(chip, trust):
    dgs, sod = chip
    r = passive_authentication(sod, dgs, trust)
    assert _codes(r) == ["chip_authenticated"] and r.authenticated
    assert r.hash_algorithm == "sha256" and r.data_groups_checked == [1, 2] and "CSCA Utopia" in r.csca_subject
    assert (r.portrait.source_format, r.portrait.width, r.portrait.height) == ("jpeg", 102, 126)
    assert r.portrait.image.startswith(b"\xff\xd8\xff")
    m = parse_mrz(r.mrz_text)
    assert m.valid and m.document_number == "L898902C3"


@pytest.mark.parametrize("where", [-1, -200, 40])
def test_flipped_dg2_byte_fails_the_hash(chip, trust, where):
    dgs, sod = chip
    tampered = {1: dgs[1], 2: flip(dgs[2], where % len(dgs[2]))}
    r = passive_authentication(sod, tampered, trust)
    assert _codes(r)[0] == "chip_hash_mismatch" and not r.authenticated
    assert set(_codes(r)) <= {"chip_hash_mismatch", "chip_data_unreadable"}   # a flip in the TLV may also break decoding
    assert r.findings[0].details["data_groups"] == [2]


def test_swapped_portrait_fails_the_hash(chip, trust):
    dgs, sod = chip
    r = passive_authentication(sod, {1: dgs[1], 2: make_dg2(jpeg_face(size=(100, 126)))}, trust)
    assert _codes(r) == ["chip_hash_mismatch"]


def test_foreign_csca_fails_the_chain(chip):
    dgs, sod = chip
    foreign = make_pki(country="XX", csca_cn="CSCA Elsewhere")
    assert _codes(passive_authentication(sod, dgs, TrustStore([foreign.csca]))) == ["csca_unknown"]
    # a CSCA with the same name but another key (a forged "Utopia" CSCA) does not chain either
    same_name = make_pki()
    r = passive_authentication(sod, dgs, TrustStore([same_name.csca]))
    assert _codes(r) == ["csca_unknown"] and "did not sign" in r.findings[0].details["why"]
    assert _codes(passive_authentication(sod, dgs, None)) == ["csca_unknown"]


def test_tampered_signature_fails(chip, trust):
    dgs, sod = chip
    from asn1crypto import cms

    from chip_pki import tlv

    ci = cms.ContentInfo.load(sod[4:] if sod[1] == 0x82 else sod[2:] if sod[1] < 0x80 else sod[3:])
    si = ci["content"]["signer_infos"][0]
    sig = bytearray(si["signature"].native)
    sig[10] ^= 0x01
    si["signature"] = bytes(sig)
    bad = tlv(b"\x77", ci.dump(force=True))
    r = passive_authentication(bad, dgs, trust)
    assert _codes(r) == ["chip_signature_invalid"]


def test_sod_signed_by_a_key_other_than_the_dsc_fails(chip, pki, trust):
    dgs, _ = chip
    impostor = make_pki()
    impostor.dsc = pki.dsc              # the genuine DSC certificate, but the SOD signed with another key
    r = passive_authentication(make_sod(impostor, dgs), dgs, trust)
    assert "chip_signature_invalid" in _codes(r)


def test_jpeg2000_portrait_decodes():
    from PIL import features

    if not features.check("jpg_2000"):
        pytest.skip("this Pillow has no OpenJPEG")
    p = read_dg2(make_dg2(jpeg_face(size=(102, 126), fmt="JPEG2000")))
    assert (p.source_format, p.width, p.height) == ("jpeg2000", 102, 126) and p.image.startswith(b"\x89PNG")


@pytest.mark.parametrize("blob", [b"", b"\x77\x03abc", b"\x30\x00", b"not asn1 at all"])
def test_garbage_sod_is_a_clear_error(chip, trust, blob):
    with pytest.raises(ChipDataError) as ei:
        passive_authentication(blob, chip[0], trust)
    assert ei.value.code == "chip_data_malformed"


def test_trust_folder_with_pem_and_master_list(tmp_path, chip, pki):
    dgs, sod = chip
    (tmp_path / "csca.pem").write_bytes(pki.csca_pem())
    assert _codes(passive_authentication(sod, dgs, TrustStore.from_folder(tmp_path))) == ["chip_authenticated"]
    ml_dir = tmp_path / "ml"
    ml_dir.mkdir()
    other = make_pki(country="XX", csca_cn="CSCA Elsewhere")
    (ml_dir / "list.ml").write_bytes(make_master_list(other, [other.csca, pki.csca]))
    store = TrustStore.from_folder(ml_dir)
    assert len(store.certs) == 2
    assert _codes(passive_authentication(sod, dgs, store)) == ["chip_authenticated"]


@pytest.mark.parametrize("scheme", ["rsa", "rsa_pss"])
def test_rsa_document_signers(scheme):
    """RSA PKCS#1 v1.5 and RSA-PSS document signers (most states' DSCs) verify, and a flipped
    signature byte fails, as for ECDSA."""
    pki = make_pki(dsc_key=scheme)
    dgs = {1: make_dg1(MRZ), 2: make_dg2(jpeg_face(size=(102, 126)))}
    sod = make_sod(pki, dgs)
    assert _codes(passive_authentication(sod, dgs, TrustStore([pki.csca]))) == ["chip_authenticated"]
    i = len(sod) - 20                      # inside the signature, the last field of the SOD
    assert _codes(passive_authentication(flip(sod, i), dgs, TrustStore([pki.csca]))) == ["chip_signature_invalid"]


def test_oversized_dg2_portrait_is_refused_before_decoding():
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buf, format="JPEG", quality=10)
    with pytest.raises(ChipDataError, match="over"):
        read_dg2(make_dg2(buf.getvalue()))
