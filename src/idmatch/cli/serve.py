"""`idmatch serve`: run the verification service (creates the data dir, keys and an admin key on first run)."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ._service_common import add_store_args, settings_from

log = logging.getLogger(__name__)

ADMIN_KEY_FILE = "first-admin-key"   # in the data dir, mode 0600: the bootstrap admin secret, never on stdout


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the REST service (uvicorn); first run creates the data dir and prints an admin key")
    add_store_args(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1; more than 1 needs PostgreSQL)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def run(args) -> int:
    import uvicorn

    from ..store.store import bootstrap

    settings = settings_from(args)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    check_workers(settings, workers)
    store, admin = bootstrap(settings)  # migrations run once here, before workers start
    store.close()
    if admin is not None:
        path = write_admin_secret(settings.ensure_data_dir(), admin.secret)
        log.warning("First run: created an admin API key (%s). Its secret is in %s (mode 0600), not in this log: "
                    "read it, store it somewhere safe, then delete the file.", admin.id, path)
    # Export the resolved settings so every worker process builds the same app.
    os.environ["IDMATCH_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["IDMATCH_DATABASE_URL"] = settings.database_url
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        mp = settings.ensure_data_dir() / "prometheus-multiproc"
        shutil.rmtree(mp, ignore_errors=True)
        mp.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mp)
    from ..service.limits import guarded_h11_protocol

    # h11 with a request-header deadline (IDMATCH_HEADER_TIMEOUT_S); headers over 16 KiB are refused by h11;
    # the body's own deadline and byte limit are enforced in the app (service/limits.py)
    uvicorn.run("idmatch.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=args.log_level, timeout_graceful_shutdown=10, timeout_keep_alive=settings.keep_alive_s,
                timeout_worker_healthcheck=settings.worker_healthcheck_s, http=guarded_h11_protocol(),
                h11_max_incomplete_event_size=16 * 1024)
    return 0


def check_workers(settings, workers: int) -> None:
    """Several workers need PostgreSQL: on SQLite each worker's duplicate-face gallery is in process memory
    and holds only the approvals that worker made, so one face under two documents would be approved
    twice (issue 14). Refuse rather than serve a fraud check that silently misses."""
    from ..errors import ConfigError

    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL (IDMATCH_DATABASE_URL / --database-url): on SQLite each worker "
            "keeps its own in-memory duplicate-face gallery and would miss the others' approvals. "
            "Run one worker on SQLite, or move to PostgreSQL.", code="workers_need_postgres")


def write_admin_secret(data_dir: Path, secret: str) -> Path:
    path = Path(data_dir) / ADMIN_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    return path
