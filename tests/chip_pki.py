"""A test PKI the tests generate (never a real state's keys): CSCA → DSC → EF.SOD over DG1 / DG2,
built with asn1crypto and cryptography the way ICAO 9303 parts 10-12 lay them out."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from idmatch.documents.chip import LDS_SECURITY_OBJECT, MASTER_LIST, CscaMasterList, LDSSecurityObject

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def tlv(tag: bytes, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return tag + length + value


def name(country: str, cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Pki:
    csca: x509.Certificate
    csca_key: ec.EllipticCurvePrivateKey
    dsc: x509.Certificate
    dsc_key: object
    scheme: str = "ec"

    def csca_pem(self) -> bytes:
        return self.csca.public_bytes(serialization.Encoding.PEM)


def _key(kind: str):
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)


def make_pki(country: str = "UT", csca_cn: str = "CSCA Utopia", dsc_key: str = "ec") -> Pki:
    """``dsc_key``: "ec" (ECDSA P-256), "rsa" (PKCS#1 v1.5) or "rsa_pss" signatures over EF.SOD."""
    csca_key = ec.generate_private_key(ec.SECP256R1())
    csca_name = name(country, csca_cn)
    csca = (x509.CertificateBuilder().subject_name(csca_name).issuer_name(csca_name)
            .public_key(csca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=365)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(csca_key, hashes.SHA256()))
    key = _key("ec" if dsc_key == "ec" else "rsa")
    dsc = (x509.CertificateBuilder().subject_name(name(country, "Document Signer 1")).issuer_name(csca_name)
           .public_key(key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(NOW - dt.timedelta(days=30)).not_valid_after(NOW + dt.timedelta(days=3650))
           .sign(csca_key, hashes.SHA256()))
    return Pki(csca, csca_key, dsc, key, dsc_key)


def make_dg1(mrz: str) -> bytes:
    return tlv(b"\x61", tlv(b"\x5f\x1f", mrz.replace("\n", "").encode("ascii")))


def make_dg2(image: bytes) -> bytes:
    """DG2 → 7F61 group template → count + 7F60 → A1 header + 5F2E (ISO/IEC 19794-5 record with the image)."""
    record = b"FAC\x00010\x00" + (14 + 20 + 12 + len(image)).to_bytes(4, "big") + b"\x00\x01" + bytes(20 + 12) + image
    bit = tlv(b"\x7f\x60", tlv(b"\xa1", tlv(b"\x80", b"\x01\x01") + tlv(b"\x87", b"\x01\x01")) + tlv(b"\x5f\x2e", record))
    return tlv(b"\x75", tlv(b"\x7f\x61", tlv(b"\x02", b"\x01") + bit))


def _signed_data(content_type: str, content: bytes, signer_cert: x509.Certificate, signer_key, scheme: str = "ec") -> bytes:
    asn1_cert = cms.Certificate.load(signer_cert.public_bytes(serialization.Encoding.DER))
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
    ])
    to_sign = b"\x31" + attrs.dump()[1:]
    if scheme == "ec":
        signature, sig_algo = signer_key.sign(to_sign, ec.ECDSA(hashes.SHA256())), {"algorithm": "sha256_ecdsa"}
    elif scheme == "rsa":
        signature, sig_algo = signer_key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()), {"algorithm": "sha256_rsa"}
    else:
        signature = signer_key.sign(to_sign, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        sig_algo = {"algorithm": "rsassa_pss", "parameters": algos.RSASSAPSSParams({
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32})}
    sd = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": content_type, "content": core.ParsableOctetString(content)},
        "certificates": [asn1_cert],
        "signer_infos": [cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm(sig_algo),
            "signature": signature,
        })],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


def make_sod(pki: Pki, data_groups: dict[int, bytes]) -> bytes:
    lds = LDSSecurityObject({
        "version": 0,
        "hash_algorithm": {"algorithm": "sha256"},
        "data_group_hash_values": [{"data_group_number": n, "data_group_hash_value": hashlib.sha256(d).digest()}
                                   for n, d in sorted(data_groups.items())],
    })
    return tlv(b"\x77", _signed_data(LDS_SECURITY_OBJECT, lds.dump(), pki.dsc, pki.dsc_key, pki.scheme))


def make_master_list(signer: Pki, cscas: list[x509.Certificate]) -> bytes:
    ml = CscaMasterList({"version": 0, "cert_list": [cms.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                                                      for c in cscas]})
    return _signed_data(MASTER_LIST, ml.dump(), signer.dsc, signer.dsc_key, signer.scheme)


def jpeg_face(path=None, size=(120, 150), fmt="JPEG") -> bytes:
    """A portrait image: the given file re-encoded small (as a chip holds it), else a grey card."""
    from PIL import Image

    im = Image.open(path).convert("RGB") if path else Image.new("RGB", size, (128, 128, 128))
    im = im.resize(size)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]
