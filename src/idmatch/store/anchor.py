"""The audit chain's head, anchored outside the database.

The keyed hash chain (:mod:`idmatch.store.audit`) catches edits, but whoever can write the database
*and* read ``keys.json`` can delete the newest events, rewind the head row, or empty both tables,
and the chain still verifies. So every committed transaction that appended audit events also
appends its last ``(seq, hash)`` to an **append-only anchor file** outside the data directory, each
line authenticated with its own HMAC key that is not in ``keys.json``:

    <seq> <hash> <utc time> <hmac-sha256(anchor key, "idmatch-audit-anchor|seq|hash|time")>

Verification takes the newest anchored entry (the highest seq among the file's last lines; workers
append concurrently, so lines may be out of order) and requires that event to be in the database
with that hash: a shortened or emptied chain, or one re-chained after an edit, no longer contains it.

Locations (`Settings.audit_anchor_file` / `audit_anchor_key_file`, i.e. the environment or the TOML file;
they do not follow the data dir):

* ``IDMATCH_AUDIT_ANCHOR_FILE`` — default ``<data dir>-anchor/audit-anchor.log`` (a sibling of the data
  dir, not inside it; put it on another volume or host, or an append-only mount, in production);
* ``IDMATCH_AUDIT_ANCHOR_KEY_FILE`` — default ``anchor.key`` beside the anchor file, created 0600 on
  first use; point it at a secret the database host cannot read to make lines unforgeable there.

The file grows by about 110 bytes per audited transaction; it may be cut to its last line at any
time (only the newest entry is checked).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class AnchorEntry:
    seq: int
    hash: str
    ts: str


class Anchor:
    def __init__(self, path: Path, key_path: Path):
        self.path = Path(path)
        self.key_path = Path(key_path)
        self._key: bytes | None = None

    @classmethod
    def for_settings(cls, settings) -> "Anchor":
        data_dir = Path(settings.data_dir)
        default = data_dir.parent / f"{data_dir.name}-anchor" / "audit-anchor.log"
        path = Path(getattr(settings, "audit_anchor_file", None) or default).expanduser()
        key_path = Path(getattr(settings, "audit_anchor_key_file", None) or path.parent / "anchor.key").expanduser()
        return cls(path, key_path)

    # -- key -------------------------------------------------------------------------------------
    def _load_key(self, *, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        if not self.key_path.exists():
            if not create:
                return None
            self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:       # another worker made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        raw = self.key_path.read_text().strip()
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise ValueError(f"anchor key file {self.key_path} does not hold a hex key of at least 128 bits")
        self._key = key
        return key

    @staticmethod
    def _mac(key: bytes, seq: int, h: str, ts: str) -> str:
        return hmac.new(key, f"idmatch-audit-anchor|{seq}|{h}|{ts}".encode(), hashlib.sha256).hexdigest()

    # -- write -----------------------------------------------------------------------------------
    def record(self, seq: int, h: str) -> None:
        """Append one entry (one ``write`` on an O_APPEND descriptor: lines from several workers do not mix)."""
        key = self._load_key(create=True)
        ts = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{seq} {h} {ts} {self._mac(key, seq, h, ts)}\n".encode()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    # -- read ------------------------------------------------------------------------------------
    def latest(self) -> tuple[AnchorEntry | None, list[str]]:
        """The newest authentic entry among the file's last lines, and problems with the lines read."""
        if not self.path.exists():
            return None, []
        key = self._load_key(create=False)
        if key is None:
            return None, [f"audit anchor key {self.key_path} is missing: the anchor cannot be checked"]
        with open(self.path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            f.seek(start)
            data = f.read()
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]             # the first one is probably cut
        problems: list[str] = []
        best: AnchorEntry | None = None
        for raw in lines:
            if not raw.strip():
                continue
            try:
                seq_s, h, ts, mac = raw.decode("ascii").split()
                seq = int(seq_s)
            except (ValueError, UnicodeDecodeError):
                problems.append(f"audit anchor {self.path}: malformed line {raw[:80]!r}")
                continue
            if not hmac.compare_digest(mac, self._mac(key, seq, h, ts)):
                problems.append(f"audit anchor {self.path}: entry for event {seq} fails its HMAC (forged or edited)")
                continue
            if best is None or seq > best.seq:
                best = AnchorEntry(seq, h, ts)
        if best is None and not problems:
            problems.append(f"audit anchor {self.path} is empty")
        return best, problems
