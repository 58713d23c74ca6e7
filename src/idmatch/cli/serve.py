"""`idmatch serve`: run the verification service (creates the data dir, keys and an admin key on first run)."""
from __future__ import annotations

import logging
import os
import shutil
import sys
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
    admin_file = None
    if admin is not None:
        admin_file = write_admin_secret(settings.ensure_data_dir(), admin.secret)
        log.warning("First run: created an admin API key (%s). Its secret is in %s (mode 0600), not in this log: "
                    "read it, store it somewhere safe, then delete the file.", admin.id, admin_file)
    print(startup_banner(host, port, admin_file), flush=True)
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


PAGES = (("Store terminal", "terminal.html", "clerk"), ("Review desk", "review.html", "reviewer"),
         ("Audit", "audit.html", "auditor"))


def startup_banner(host: str, port: int, admin_file: Path | None = None) -> str:
    """Where to go next, on stdout (no secret in it): the pages' addresses, which key opens which page,
    and the exact commands that make the keys. Printed at every start, the key-file lines on the first."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    lines = ["", f"idmatch is starting on {base}", f"  Pages:     {base}/web/", f"  API docs:  {base}/docs", ""]
    lines += [f"  {name + ':':<16}{base}/web/{page:<15} needs {'an' if role[0] in 'aeiou' else 'a'} {role} key "
              "(or the admin key, which makes one)"
              for name, page, role in PAGES]
    lines += ["", "  Keys (each secret is shown once; run these in another terminal):"]
    prog = sys.argv[0] if Path(sys.argv[0]).name == "idmatch" else "idmatch"
    lines += [f"    {prog} keys create --role {role} --label \"{label}\""
              for role, label in (("clerk", "store 1, counter 1"), ("reviewer", "back office"), ("auditor", "compliance"))]
    if admin_file is not None:
        lines += ["", f"  First run: the admin key is in {admin_file} (mode 0600):",
                  f"    cat {admin_file}",
                  "  Sign in with it on any page: the page offers to create a key of its own role (a clerk key on",
                  "  the terminal) and uses that. Keep the admin key somewhere safe, then delete the file."]
    if host in ("0.0.0.0", "::"):
        lines += ["", "  Other machines need https:// (a TLS proxy in front) for the camera to work."]
    return "\n".join(lines) + "\n"


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
