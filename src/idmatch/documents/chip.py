"""E-passport chip data: ICAO 9303 part 11 passive authentication, DG1 (MRZ) and DG2 (portrait).

Passive authentication proves that the data groups read from the chip are the ones the issuing state
signed: EF.SOD is a CMS SignedData over an ``LDSSecurityObject`` listing a hash per data group; the
hashes of the data groups read must equal those, the document signer (DSC) must have signed them, and
the DSC must be issued by a country signing CA (CSCA) the operator trusts (a folder of certificates,
or a CSCA master list). It does *not* prove the chip is genuine (a cloned chip passes; that is active
or chip authentication, which needs the chip itself), nor that the holder is the person in DG2 (the
face match does that), nor that the DSC was not revoked (no CRL is fetched: nothing leaves the host).

Built on ``asn1crypto`` (CMS, certificates) and ``cryptography`` (signatures). Pure: bytes in, a
typed :class:`ChipResult` out; no network, nothing stored.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import cms, core, parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import IdmatchError
from .findings import Finding

log = logging.getLogger(__name__)

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
MAX_PORTRAIT_PIXELS = 4096 * 4096     # chip portraits are a few hundred pixels a side
MASTER_LIST = "2.23.136.1.1.2"


class ChipDataError(IdmatchError):
    """Bytes that are not the EF.SOD / data group they are said to be."""

    code = "chip_data_malformed"
    http_status = 422


# -- ASN.1 of ICAO 9303 part 10 (asn1crypto definitions) ------------------------------------------------
class DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LDSVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]


class LDSSecurityObject(core.Sequence):
    _fields = [("version", core.Integer), ("hash_algorithm", cms.DigestAlgorithm),
               ("data_group_hash_values", DataGroupHashValues), ("lds_version_info", LDSVersionInfo, {"optional": True})]


class CertificateSet(core.SetOf):
    _child_spec = asn1_x509.Certificate


class CscaMasterList(core.Sequence):
    _fields = [("version", core.Integer), ("cert_list", CertificateSet)]


cms.ContentType._map[LDS_SECURITY_OBJECT] = "lds_security_object"
cms.ContentType._map[MASTER_LIST] = "csca_master_list"
cms.EncapsulatedContentInfo._oid_specs["lds_security_object"] = LDSSecurityObject
cms.EncapsulatedContentInfo._oid_specs["csca_master_list"] = CscaMasterList


# -- results ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Portrait:
    image: bytes            # JPEG as stored; JPEG 2000 re-encoded as PNG so any decoder reads it
    source_format: str      # "jpeg" or "jpeg2000"
    width: int
    height: int


@dataclass(frozen=True)
class ChipResult:
    findings: list[Finding]
    mrz_text: str | None = None           # DG1 MRZ lines (parse with documents.mrz.parse_mrz)
    portrait: Portrait | None = None      # decoded from DG2
    hash_algorithm: str | None = None
    data_groups_checked: list[int] = field(default_factory=list)
    dsc_subject: str | None = None
    csca_subject: str | None = None

    @property
    def authenticated(self) -> bool:
        """The data groups read are the ones the issuing state signed (they may still fail to decode)."""
        return any(f.code == "chip_authenticated" for f in self.findings)


# -- trust list -------------------------------------------------------------------------------------------
class TrustStore:
    """The operator's CSCA certificates: ``*.pem``, ``*.crt``, ``*.cer``, ``*.der`` files in a folder,
    and CSCA master lists (``*.ml``: CMS SignedData over a CscaMasterList). A master list's own
    signature is not checked here: the operator vouches for the files put in the folder."""

    def __init__(self, certs: list[x509.Certificate]):
        self.certs = certs

    @classmethod
    def from_folder(cls, folder: Path | str) -> "TrustStore":
        certs: list[x509.Certificate] = []
        for p in sorted(Path(folder).iterdir()):
            data = p.read_bytes()
            try:
                if p.suffix.lower() == ".ml":
                    certs += _master_list_certs(data)
                elif b"-----BEGIN CERTIFICATE-----" in data:
                    certs += x509.load_pem_x509_certificates(data)
                elif p.suffix.lower() in (".der", ".cer", ".crt"):
                    certs.append(x509.load_der_x509_certificate(data))
            except ValueError as exc:
                log.warning("trust folder: %s skipped (%s)", p.name, exc)
        log.info("trust folder %s: %d CSCA certificates", folder, len(certs))
        return cls(certs)

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return [c for c in self.certs if c.subject == cert.issuer]


def _master_list_certs(data: bytes) -> list[x509.Certificate]:
    ci = cms.ContentInfo.load(data)
    ml = ci["content"]["encap_content_info"]["content"].parsed
    return [x509.load_der_x509_certificate(c.dump()) for c in ml["cert_list"]]


# -- TLV helpers (ICAO 9303 part 10 data groups are BER-TLV) ------------------------------------------------
def _tlv(data: bytes, pointer: int = 0) -> tuple[int, int, bytes, int]:
    """(class, tag, contents, next pointer) of the TLV at ``pointer``."""
    try:
        cls, _method, tag, header, contents, trailer = parser.parse(data[pointer:])
    except (ValueError, TypeError) as exc:
        raise ChipDataError(f"not BER-TLV: {exc}") from None
    return cls, tag, contents, pointer + len(header) + len(contents) + len(trailer)


def _children(contents: bytes) -> list[tuple[int, int, bytes]]:
    out, p = [], 0
    while p < len(contents):
        cls, tag, inner, p = _tlv(contents, p)
        out.append((cls, tag, inner))
    return out


def read_dg1(dg1: bytes) -> str:
    """DG1 (tag 0x61) → the MRZ lines (5F1F), split into 30 / 36 / 44-character lines."""
    cls, tag, contents, _ = _tlv(dg1)
    if (cls, tag) != (1, 1):
        raise ChipDataError("DG1 must start with tag 61")
    mrz = next((inner for c, t, inner in _children(contents) if (c, t) == (1, 0x1F)), None)
    if mrz is None:
        raise ChipDataError("DG1 holds no MRZ (5F1F)")
    text = mrz.decode("ascii", "replace")
    width = {90: 30, 72: 36, 88: 44}.get(len(text))
    if width is None:
        raise ChipDataError(f"DG1 MRZ has {len(text)} characters, not 90, 72 or 88")
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def read_dg2(dg2: bytes) -> Portrait:
    """DG2 (tag 0x75) → the first face image of its biometric data block (ISO/IEC 19794-5 inside
    5F2E or 7F2E), decoded with Pillow to prove it is an image."""
    cls, tag, contents, _ = _tlv(dg2)
    if (cls, tag) != (1, 0x15):
        raise ChipDataError("DG2 must start with tag 75")
    block = _find_bdb(contents)
    if block is None:
        raise ChipDataError("DG2 holds no biometric data block (5F2E / 7F2E)")
    start, fmt = _image_start(block)
    if start is None:
        raise ChipDataError("DG2's biometric data block holds no JPEG or JPEG 2000 image")
    img = block[start:]
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(img)) as im:
            if im.width * im.height > MAX_PORTRAIT_PIXELS:      # header only so far: refuse before decoding
                raise ChipDataError(f"the DG2 portrait is {im.width}x{im.height}: over {MAX_PORTRAIT_PIXELS} pixels")
            im.load()
            size = im.size
            if fmt == "jpeg2000":
                buf = io.BytesIO()
                im.save(buf, format="PNG")
                img = buf.getvalue()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ChipDataError(f"the DG2 portrait ({fmt}) does not decode: {exc}") from None
    return Portrait(image=img, source_format=fmt, width=size[0], height=size[1])


def _find_bdb(contents: bytes) -> bytes | None:
    for cls, tag, inner in _children(contents):
        if (cls, tag) == (1, 0x2E):          # 5F2E / 7F2E biometric data block
            return inner
        if cls == 1 and tag in (0x61, 0x60):   # 7F61 group template, 7F60 biometric information template
            found = _find_bdb(inner)
            if found is not None:
                return found
    return None


def _image_start(block: bytes) -> tuple[int | None, str]:
    candidates = [(block.find(b"\xff\xd8\xff"), "jpeg"), (block.find(b"\x00\x00\x00\x0cjP  \r\n\x87\n"), "jpeg2000"),
                  (block.find(b"\xff\x4f\xff\x51"), "jpeg2000")]
    found = [(i, f) for i, f in candidates if i >= 0]
    return min(found) if found else (None, "")


# -- passive authentication ---------------------------------------------------------------------------------
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}


def parse_sod(sod: bytes) -> cms.SignedData:
    """EF.SOD (tag 0x77 around a CMS ContentInfo) → its SignedData."""
    try:
        cls, tag, contents, _ = _tlv(sod)
        if (cls, tag) == (1, 0x17):
            sod = contents
        ci = cms.ContentInfo.load(sod)
        if ci["content_type"].native != "signed_data":
            raise ChipDataError("EF.SOD is not CMS SignedData")
        sd = ci["content"]
        if sd["encap_content_info"]["content_type"].dotted != LDS_SECURITY_OBJECT:
            raise ChipDataError("EF.SOD does not sign an LDS security object")
        sd["encap_content_info"]["content"].parsed.native   # parse fully now: errors surface here
        return sd
    except ChipDataError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipDataError(f"EF.SOD does not parse: {exc}") from None


def passive_authentication(sod: bytes, data_groups: dict[int, bytes], trust: TrustStore | None) -> ChipResult:
    """ICAO 9303 part 11 §5.1: hash every data group read and compare with the SOD, verify the SOD
    signature with the DSC, verify the DSC with a trusted CSCA. Returns every failure found (not only
    the first); ``chip_authenticated`` when none. DG1 and DG2, when given, are decoded too."""
    sd = parse_sod(sod)
    lds = sd["encap_content_info"]["content"].parsed
    algo = lds["hash_algorithm"]["algorithm"].native
    if algo not in _HASHES:
        raise ChipDataError(f"unsupported data-group hash algorithm {algo}")
    signed = {int(d["data_group_number"].native): d["data_group_hash_value"].native for d in lds["data_group_hash_values"]}
    findings: list[Finding] = []

    mismatched = sorted(n for n, data in data_groups.items() if signed.get(n) != hashlib.new(algo, data).digest())
    if mismatched:
        findings.append(Finding("chip_hash_mismatch", "a data group read differs from what the issuer signed",
                                {"data_groups": mismatched, "hash_algorithm": algo}))

    dsc, sig_problem = _verify_signer(sd)
    if sig_problem:
        findings.append(Finding("chip_signature_invalid", "the document signer's signature over EF.SOD does not verify",
                                {"why": sig_problem}))
    csca = None
    if dsc is not None:
        csca, chain_problem = _verify_chain(dsc, trust)
        if chain_problem:
            findings.append(Finding("csca_unknown", "the document signer does not chain to a trusted CSCA",
                                    {"why": chain_problem, "issuer": dsc.issuer.rfc4514_string()}))
    if not findings:
        findings.append(Finding("chip_authenticated", "every data group read is signed by the issuing state",
                                {"data_groups": sorted(data_groups), "hash_algorithm": algo}))
    mrz_text = portrait = None
    for n, read in ((1, read_dg1), (2, read_dg2)):
        if n not in data_groups:
            continue
        try:
            value = read(data_groups[n])
        except ChipDataError as exc:
            findings.append(Finding("chip_data_unreadable", f"DG{n} could not be decoded", {"data_group": n, "why": exc.message}))
            continue
        if n == 1:
            mrz_text = value
        else:
            portrait = value
    log.info("passive authentication: %s (DGs %s)", [f.code for f in findings], sorted(data_groups))
    return ChipResult(findings=findings, mrz_text=mrz_text, portrait=portrait, hash_algorithm=algo,
                      data_groups_checked=sorted(data_groups),
                      dsc_subject=dsc.subject.rfc4514_string() if dsc is not None else None,
                      csca_subject=csca.subject.rfc4514_string() if csca is not None else None)


def _verify_signer(sd: cms.SignedData) -> tuple[x509.Certificate | None, str | None]:
    """(the DSC, None) when its signature over the signed attributes verifies and the attributes'
    message digest is the LDS security object's; else (DSC or None, why)."""
    infos = sd["signer_infos"]
    if len(infos) != 1:
        return None, f"{len(infos)} signer infos (ICAO 9303 requires one)"
    si = infos[0]
    dsc = _find_dsc(sd, si)
    if dsc is None:
        return None, "no document signer certificate matching the signer info in EF.SOD"
    digest_algo = si["digest_algorithm"]["algorithm"].native
    if digest_algo not in _HASHES:
        return dsc, f"unsupported digest {digest_algo}"
    content = sd["encap_content_info"]["content"].contents
    attrs = si["signed_attrs"]
    if not attrs:
        return dsc, "no signed attributes"
    ct = next((a["values"][0].dotted for a in attrs if a["type"].native == "content_type"), None)
    if ct != LDS_SECURITY_OBJECT:
        return dsc, "the signed content-type attribute is not the LDS security object"
    md = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if md != hashlib.new(digest_algo, content).digest():
        return dsc, "the message digest attribute does not match the LDS security object"
    to_verify = b"\x31" + attrs.dump()[1:]          # [0] IMPLICIT → SET OF, as signed (RFC 5652 §5.4)
    sig = si["signature"].native
    sig_algo = si["signature_algorithm"]
    h = _HASHES[digest_algo]()
    key = dsc.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if sig_algo.signature_algo == "rsassa_pss":
                params = sig_algo["parameters"]
                ph = _HASHES[params["hash_algorithm"]["algorithm"].native]()
                key.verify(sig, to_verify, padding.PSS(padding.MGF1(ph), params["salt_length"].native), ph)
            else:
                key.verify(sig, to_verify, padding.PKCS1v15(), h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, to_verify, ec.ECDSA(h))
        else:
            return dsc, f"unsupported DSC key {type(key).__name__}"
    except InvalidSignature:
        return dsc, "signature does not verify with the DSC's key"
    except (ValueError, KeyError) as exc:
        return dsc, f"signature algorithm not usable: {exc}"
    return dsc, None


def _find_dsc(sd: cms.SignedData, si: cms.SignerInfo) -> x509.Certificate | None:
    sid = si["sid"]
    for c in sd["certificates"] or []:
        if c.name != "certificate":
            continue
        cert = c.chosen
        if sid.name == "issuer_and_serial_number":
            match = cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native
        else:
            match = cert.key_identifier == sid.chosen.native
        if match:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def _verify_chain(dsc: x509.Certificate, trust: TrustStore | None) -> tuple[x509.Certificate | None, str | None]:
    if trust is None or not trust.certs:
        return None, "no CSCA trust list configured"
    candidates = trust.issuers_of(dsc)
    if not candidates:
        return None, "no trusted CSCA with the DSC's issuer name"
    for csca in candidates:
        try:
            dsc.verify_directly_issued_by(csca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return csca, None
    return None, "a CSCA with the issuer's name is trusted, but it did not sign this DSC"
