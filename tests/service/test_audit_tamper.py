"""`idmatch audit verify` detects edited, deleted, swapped, inserted and relinked audit rows (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from idmatch.cli import main

from .conftest import BACKENDS, database_url_for


def _exec(store, *sql: str) -> None:
    with store.engine.connect() as c:
        for q in sql:
            c.execute(text(q))
        c.commit()


TAMPERS = {
    "edit_payload": ["UPDATE audit_events SET payload = '{\"decision\":\"approved\"}' WHERE seq = 4"],
    "edit_type": ["UPDATE audit_events SET type = 'decision' WHERE seq = 3"],
    "edit_actor": ["UPDATE audit_events SET actor = 'someone_else' WHERE seq = 5"],
    "edit_timestamp": ["UPDATE audit_events SET ts = '2020-01-01T00:00:00.000000Z' WHERE seq = 2"],
    "delete_middle": ["DELETE FROM audit_events WHERE seq = 3"],
    "delete_first": ["DELETE FROM audit_events WHERE seq = 1"],
    "delete_last": ["DELETE FROM audit_events WHERE seq = 6"],
    "swap_rows": ["UPDATE audit_events SET seq = -1 WHERE seq = 2", "UPDATE audit_events SET seq = 2 WHERE seq = 3",
                  "UPDATE audit_events SET seq = 3 WHERE seq = -1"],
    "relink_after_delete": ["DELETE FROM audit_events WHERE seq = 3",
                            "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 2) WHERE seq = 4"],
    "forged_append": ["INSERT INTO audit_events (seq, ts, type, session_id, actor, payload, prev_hash, hash) "
                      "SELECT 7, '2026-01-01T00:00:00.000000Z', 'decision', NULL, 'x', '{}', hash, "
                      "'" + "ab" * 32 + "' FROM audit_events WHERE seq = 6",
                      "UPDATE audit_head SET seq = 7, hash = '" + "ab" * 32 + "'"],
}


def _make_chain(backend, request, tmp_path):
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url_for(backend, request))
    store = Store(settings)
    with store.session() as db, db.begin():
        for i in range(6):
            store.audit(db, ["session_created", "consent_recorded", "portrait_attached", "stage_result", "decision", "review_decided"][i],
                        actor="key_test", session_id="s-1", payload={"i": i, "decision": "rejected"})
    args = ["audit", "verify", "--data-dir", str(settings.data_dir)]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    return store, args


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tamper_detected(backend, tamper, request, tmp_path, capsys):
    store, args = _make_chain(backend, request, tmp_path)
    assert main(args) == 0
    _exec(store, *TAMPERS[tamper])
    assert main(args) == 1
    assert "BROKEN" in capsys.readouterr().out
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncation_with_rewritten_head_caught_by_the_anchor(backend, request, tmp_path, capsys):
    """Deleting the newest events *and* rewinding the head row leaves a valid shorter chain in the
    database; the head anchored outside it on every commit catches it (issue 14: this used to pass
    without ``--anchor``). The verifier-side ``--anchor`` file still works as well."""
    store, args = _make_chain(backend, request, tmp_path)
    anchor = tmp_path / "anchor"
    assert main(args + ["--anchor", str(anchor)]) == 0 and anchor.read_text().startswith("6 ")
    assert "anchored at event 6" in capsys.readouterr().out
    _exec(store, "DELETE FROM audit_events WHERE seq = 6",
          "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_events WHERE seq = 5)")
    assert main(args) == 1
    assert "anchored event 6" in capsys.readouterr().out
    assert main(args + ["--anchor", str(anchor)]) == 1
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_emptied_chain_caught_by_the_anchor(backend, request, tmp_path, capsys):
    store, args = _make_chain(backend, request, tmp_path)
    assert main(args) == 0
    _exec(store, "DELETE FROM audit_events", "DELETE FROM audit_head")
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "anchored event 6" in out
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rechained_with_the_audit_key_caught_by_the_anchor(backend, request, tmp_path):
    """Whoever holds keys.json can rewrite an event and re-chain everything after it: the chain then
    verifies, but the newest hash no longer matches the anchored one."""
    from idmatch.store import audit

    store, args = _make_chain(backend, request, tmp_path)
    with store.session() as db, db.begin():
        db.execute(text("DELETE FROM audit_events"))
        db.execute(text("DELETE FROM audit_head"))
        for i in range(6):   # the same events, one payload changed, correctly chained with the real key
            audit.append(db, store.keys.audit_key, "decision", actor="key_test", session_id="s-1",
                         payload={"i": i, "decision": "approved" if i == 4 else "rejected"})
        # written outside Store.audit, so the anchor was not advanced (as an attacker's script would do)
    assert store.verify_audit().problems and main(args) == 1
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_forged_or_deleted_anchor_fails(backend, request, tmp_path):
    store, args = _make_chain(backend, request, tmp_path)
    path = store.anchor.path
    assert not str(path).startswith(str(store.settings.data_dir) + "/")     # outside the data dir by default
    with open(path, "a") as f:
        f.write("6 " + "ab" * 32 + " 2026-01-01T00:00:00.000000Z " + "cd" * 32 + "\n")
    rep = store.verify_audit()
    assert not rep.ok and any("fails its HMAC" in p for p in rep.problems)
    path.unlink()
    rep = store.verify_audit()
    assert not rep.ok and any("no audit anchor" in p for p in rep.problems)
    store.close()


def test_anchor_location_from_the_environment(tmp_path, monkeypatch):
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    monkeypatch.setenv("IDMATCH_AUDIT_ANCHOR_FILE", str(tmp_path / "elsewhere" / "a.log"))
    monkeypatch.setenv("IDMATCH_AUDIT_ANCHOR_KEY_FILE", str(tmp_path / "secret" / "k"))
    store = Store(Settings(data_dir=tmp_path / "data"))
    with store.session() as db, db.begin():
        store.audit(db, "test", actor="t")
    assert (tmp_path / "elsewhere" / "a.log").read_text().startswith("1 ")
    assert oct((tmp_path / "secret" / "k").stat().st_mode & 0o777) == "0o600"
    rep = store.verify_audit()
    assert rep.ok and rep.anchored_seq == 1, rep.problems
    with store.session() as db:
        try:
            store.audit(db, "rolled_back", actor="t")
            db.rollback()
        finally:
            db.close()
    assert (tmp_path / "elsewhere" / "a.log").read_text().count("\n") == 1     # nothing anchored for a rollback
    store.close()
