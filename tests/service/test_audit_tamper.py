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
def test_truncation_with_rewritten_head_needs_anchor(backend, request, tmp_path):
    """Deleting the newest events *and* rewinding the head row leaves a valid shorter chain; an anchor
    recorded by the previous verify catches it."""
    store, args = _make_chain(backend, request, tmp_path)
    anchor = tmp_path / "anchor"
    assert main(args + ["--anchor", str(anchor)]) == 0 and anchor.read_text().startswith("6 ")
    _exec(store, "DELETE FROM audit_events WHERE seq = 6",
          "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_events WHERE seq = 5)")
    assert main(args) == 0                          # undetectable from the database alone ...
    assert main(args + ["--anchor", str(anchor)]) == 1   # ... but not against the anchor
    store.close()
