"""`idmatch serve` (issue 14): several workers refused on SQLite, the first admin secret kept out of the
log (a 0600 file), uvicorn started with the header-timeout protocol and a bounded header size."""
from __future__ import annotations

import logging
import stat

import pytest

from idmatch.cli import main


@pytest.fixture
def fake_uvicorn(monkeypatch):
    import os

    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    saved = dict(os.environ)              # serve exports IDMATCH_* for its workers: keep it out of later tests
    yield calls
    os.environ.clear()
    os.environ.update(saved)


def test_several_workers_on_sqlite_refused(tmp_path, fake_uvicorn, capsys):
    assert main(["serve", "--workers", "2", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "workers_need_postgres" in err and "PostgreSQL" in err and "duplicate-face" in err
    assert fake_uvicorn == [] and not (tmp_path / "data" / "idmatch.db").exists()


def test_one_worker_on_sqlite_starts(tmp_path, fake_uvicorn, caplog):
    from idmatch.service.limits import GuardedH11Protocol

    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--data-dir", str(data)]) == 0
    (kw,) = fake_uvicorn
    assert kw["workers"] == 1 and kw["http"] is GuardedH11Protocol and kw["h11_max_incomplete_event_size"] == 16 * 1024
    secret_file = data / "first-admin-key"
    secret = secret_file.read_text().strip()
    assert secret.startswith("idm_") and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret not in caplog.text and str(secret_file) in caplog.text
    assert "First run: created an admin API key" in caplog.text


def test_pre_existing_loose_data_dir_is_tightened(tmp_path):
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    Store(Settings(data_dir=data)).close()
    (data / "idmatch.db").chmod(0o644)
    store = Store(Settings(data_dir=data))
    with store.session() as db, db.begin():
        store.audit(db, "test", actor="t")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("idmatch.db", "idmatch.db-wal", "keys.json"):
        if (data / name).exists():
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    store.close()


def test_start_prints_the_pages_and_which_key_opens_which(tmp_path, fake_uvicorn, capsys):
    """First run leads somewhere: the terminal's address, the role each page needs, the exact key commands,
    and where the admin key is (never the secret itself). A later start prints the pages but no key file."""
    data = tmp_path / "data"
    assert main(["serve", "--data-dir", str(data), "--port", "8123"]) == 0
    out = capsys.readouterr().out
    secret = (data / "first-admin-key").read_text().strip()
    assert "http://127.0.0.1:8123/web/" in out and "http://127.0.0.1:8123/web/terminal.html" in out
    assert "terminal.html   needs a clerk key" in out and "review.html     needs a reviewer key" in out
    assert "audit.html      needs an auditor key" in out
    assert 'keys create --role clerk --label "store 1, counter 1"' in out
    assert f"cat {data / 'first-admin-key'}" in out and secret not in out
    assert main(["serve", "--data-dir", str(data), "--port", "8123"]) == 0
    again = capsys.readouterr().out
    assert "http://127.0.0.1:8123/web/terminal.html" in again and "first-admin-key" not in again


def test_make_run_skips_pip_while_the_dependency_files_are_unchanged(tmp_path):
    """`make run` reinstalls only when pyproject.toml or constraints.txt is newer than the last install."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if not shutil.which("make"):
        pytest.skip("make not installed")
    repo = Path(__file__).resolve().parents[2]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    stamp = venv / ".idmatch-installed-service"

    def plan() -> str:
        return subprocess.run(["make", "-n", "run", f"VENV={venv}"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout

    assert "pip install" in plan()                                   # never installed
    stamp.touch()
    newest = max((repo / f).stat().st_mtime for f in ("pyproject.toml", "constraints.txt"))
    os.utime(stamp, (newest + 10, newest + 10))
    p = plan()
    assert "pip install" not in p and f"{venv}/bin/idmatch serve" in p   # nothing changed: straight to serve
    os.utime(stamp, (newest - 10, newest - 10))
    assert "pip install" in plan()                                   # a dependency file changed since
