"""Settings and first run: IDMATCH_ env prefix, TOML config file, data dir with generated keys, one admin key."""
from __future__ import annotations

import json
import stat

import pytest

from idmatch.settings import Settings
from idmatch.store.store import bootstrap

from .conftest import BACKENDS, database_url_for


def test_env_prefix_and_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "idmatch.toml"
    cfg.write_text('session_ttl_s = 120\nfmr = 0.001\ndata_dir = "%s"\n' % (tmp_path / "from-file"))
    monkeypatch.setenv("IDMATCH_CONFIG", str(cfg))
    monkeypatch.setenv("IDMATCH_FMR", "0.00001")                       # environment beats the file
    s = Settings()
    assert s.session_ttl_s == 120 and s.fmr == 1e-5 and s.data_dir == tmp_path / "from-file"
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'from-file' / 'idmatch.db'}"
    monkeypatch.setenv("IDMATCH_DATABASE_URL", "postgresql://u@h/db")
    assert Settings().effective_database_url == "postgresql+psycopg://u@h/db"


def test_first_run_creates_data_dir_keys_and_one_admin_key(tmp_path):
    s = Settings(data_dir=tmp_path / "new" / "data")
    store, admin = bootstrap(s)
    assert admin is not None and admin.role == "admin" and admin.secret.startswith("idm_")
    keys = s.data_dir / "keys.json"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and stat.S_IMODE(s.data_dir.stat().st_mode) == 0o700
    k = json.loads(keys.read_text())
    assert set(k) >= {"hmac", "audit", "enc", "active"} and k["active"] in k["enc"]
    assert store.lookup_key(admin.secret).role == "admin"
    store.close()
    store2, again = bootstrap(s)                                      # second start: same keys, no new admin key
    assert again is None and json.loads(keys.read_text()) == k
    assert store2.verify_audit().ok
    store2.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_shipped_migrations_match_the_models(backend, request, tmp_path):
    """The Alembic revisions shipped in the package build exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from idmatch.store.db import current_revision
    from idmatch.store.models import Base
    from idmatch.store.store import Store

    store = Store(Settings(data_dir=tmp_path / "d", database_url=database_url_for(backend, request)))
    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in Base.metadata.tables)]
    assert ours == [] and current_revision(store.engine) == "0003"
    store.close()


def test_hardening_knobs_are_settings_from_the_config_file(request, tmp_path, monkeypatch, engine, images):
    """Issue 14: the request, decode, anchor and metrics knobs were read from the environment ad hoc (the
    TOML file and ``Settings(...)`` could not set them). They are fields of the one ``Settings`` now."""
    from idmatch.service.app import make_engine_for
    from idmatch.service.limits import GuardedH11Protocol, guarded_h11_protocol

    from .conftest import make_svc

    cfg = tmp_path / "idmatch.toml"
    cfg.write_text(f'max_json_bytes = 2048\nbody_timeout_s = 7.5\nheader_timeout_s = 3.0\ndecode_slots = 3\n'
                   f'decode_max_waiting = 1\ndecode_queue_timeout_s = 2.0\nwork_max_pixels = 0\nmetrics_public = true\n'
                   f'audit_anchor_file = "{tmp_path / "anchors" / "a.log"}"\n')
    monkeypatch.setenv("IDMATCH_CONFIG", str(cfg))
    monkeypatch.setenv("IDMATCH_DECODE_PIXEL_BUDGET", "1e12")               # as benchmarks/service_hardening.py sets it
    s = Settings()
    assert (s.max_json_bytes, s.body_timeout_s, s.header_timeout_s, s.decode_slots, s.work_max_pixels, s.metrics_public) == \
        (2048, 7.5, 3.0, 3, 0, True)
    assert s.decode_pixel_budget == 1e12
    assert make_engine_for(s).config.limits.work_max_pixels is None          # 0: always full size

    svc = make_svc("sqlite", request, tmp_path, engine, images, **{k: getattr(s, k) for k in (
        "max_json_bytes", "body_timeout_s", "decode_slots", "decode_max_waiting", "decode_queue_timeout_s",
        "decode_pixel_budget", "metrics_public", "audit_anchor_file")})
    try:
        lim = svc.app.state.engine.limiter
        assert (lim.slots, lim.max_waiting, lim.queue_timeout_s, lim.pixel_budget) == (3, 1, 2.0, 10 ** 12)
        assert svc.store.anchor.path == tmp_path / "anchors" / "a.log"
        assert svc.client.get("/metrics").status_code == 200                 # public by the setting, no key
        big = {"role": "clerk", "label": "x" * 3000}                           # a JSON body over 2048 bytes
        r = svc.client.post("/v1/keys", json=big, headers=svc.h("admin"))
        assert r.status_code == 413 and r.json()["code"] == "request_too_large"
    finally:
        svc.client.close()
        svc.store.close()
    # the header deadline: uvicorn's workers build the protocol class themselves, from Settings()
    assert guarded_h11_protocol() is GuardedH11Protocol
    assert guarded_h11_protocol(4.0).header_timeout_s == 4.0
