"""Service settings: ``IDMATCH_*`` environment variables, or a TOML file named by ``IDMATCH_CONFIG``.

Precedence: explicit arguments > environment > config file > defaults. The data directory
holds the SQLite database (unless ``IDMATCH_DATABASE_URL`` points elsewhere) and ``keys.json``
with the generated secrets (see :mod:`idmatch.store.keys`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "idmatch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDMATCH_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite database, keys.json, metrics scratch")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/idmatch.db")
    keys_file: Path | None = Field(None, description="secret keys file; default <data_dir>/keys.json")

    # server
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    keep_alive_s: int = 30               # idle keep-alive; above uvicorn's 5 s so busy clients do not race the close
    worker_healthcheck_s: int = 60       # uvicorn kills a worker that misses a ping this long; its 5 s default
                                         # killed CPU-starved workers mid-request in the load test

    # sessions and decisions (defaults; the admin can change the live policy through the API)
    session_ttl_s: int = 900
    challenge_ttl_s: int = Field(60, ge=10, le=60, description="seconds an active challenge stays valid (at most 60)")
    fmr: float = 1e-4
    calibration_file: Path | None = Field(None, description="calibration JSON from `idmatch calibrate`; default: shipped")
    review_margin: float = 0.05          # scores within this below the threshold go to review
    liveness_threshold: float | None = None  # None: the liveness model's own threshold
    require_liveness: bool = False       # reject/review when no liveness result is available
    liveness_mode: Literal["passive", "active", "either"] = "active"   # the safe default: a print does not pass
    max_liveness_attempts: int = 3       # challenges one session may try (a failed one is replaced in place)
    max_failed_liveness_per_document: int = 6   # failed challenges one document may collect in the window ...
    liveness_attempt_window_h: int = 24         # ... before new registrations for it are refused
    max_lines_per_identity: int = 5      # lines one ID may hold per operator
    line_limit_outcome: Literal["fail", "review"] = "fail"  # over the limit: rejected, or manual review
    retain_images: bool = False          # keep raw images (encrypted) for disputes
    image_retention_days: int = 30
    # (the fields above are the defaults of idmatch.decision.Policy: the admin's stored policy beats them)

    # duplicate-face gallery (docs/fraud.md)
    dedup_backend: Literal["auto", "exact", "exact-int8", "usearch", "pgvector"] = "auto"
    dedup_gallery_size: int = 1_000_000  # the size the FPIR is budgeted for
    dedup_fpir: float = 0.01
    dedup_threads: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1),
                               description="cores one gallery search uses (1 M templates, exact-int8: 8.8 / 16.5 ms "
                                           "p50 / p99 on 2 cores, 14.8 / 26.7 ms on one)")
    dedup_feed_poll_s: float = Field(5.0, ge=0, description="PostgreSQL, in-process gallery: how often an idle worker "
                                     "applies the change feed (erasures leave its memory within this); every search "
                                     "applies it first anyway. 0: only before searches")

    # access and limits
    rate_limit_per_minute: int = 600     # per API key, per worker process
    max_upload_bytes: int = 15 * 1024 * 1024
    max_request_bytes: int = 64 * 1024 * 1024
    max_frames: int = 150                # a live capture: 10 frames/s over the challenge (<= 15 s)
    max_pixels: int = 40_000_000
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="any non-multipart body, counted while it streams")
    body_timeout_s: float = Field(60.0, gt=0, description="the whole request body within this, else 408")
    header_timeout_s: float = Field(10.0, gt=0, description="complete request headers within this, else the connection "
                                                             "is closed")

    # image decoding capacity (service/capacity.py)
    decode_slots: int | None = Field(None, ge=1, description="decodes/analyses at once; default: the CPU count")
    decode_pixel_budget: float | None = Field(None, gt=0, description="header pixels being decoded at once; default "
                                                                      "1.2 x max_pixels")
    decode_max_waiting: int | None = Field(None, ge=0, description="requests queued for a slot; default 4 x slots")
    decode_queue_timeout_s: float = Field(20.0, gt=0, description="longest wait for a slot before 503 server_busy")
    work_max_pixels: int = Field(12_000_000, ge=0, description="larger images are decoded reduced; 0: full size")

    # audit anchor (store/anchor.py): outside the data dir by default
    audit_anchor_file: Path | None = Field(None, description="default <data dir>-anchor/audit-anchor.log")
    audit_anchor_key_file: Path | None = Field(None, description="default anchor.key beside the anchor file")

    # operations
    metrics_public: bool = Field(False, description="/metrics without a key (only on a private scrape network)")

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[Any] = [init_settings, env_settings]
        cfg = os.environ.get("IDMATCH_CONFIG")
        if cfg:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(cfg)))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):  # plain libpq URL → psycopg 3 driver
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        return f"sqlite:///{self.data_dir / 'idmatch.db'}"

    @property
    def effective_keys_file(self) -> Path:
        return self.keys_file or (self.data_dir / "keys.json")

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir
