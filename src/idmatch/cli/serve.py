"""`idmatch serve`: run the verification service (creates the data dir, keys and an admin key on first run)."""
from __future__ import annotations

import os
import shutil

from ._service_common import add_store_args, settings_from


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the REST service (uvicorn); first run creates the data dir and prints an admin key")
    add_store_args(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def run(args) -> int:
    import uvicorn

    from ..store.store import bootstrap

    settings = settings_from(args)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    store, admin = bootstrap(settings)  # migrations run once here, before workers start
    store.close()
    if admin is not None:
        print("=" * 72)
        print("First run: created an admin API key. It is shown ONCE — store it now:")
        print(f"  {admin.secret}")
        print(f"Data directory: {settings.data_dir}")
        print("=" * 72, flush=True)
    # Export the resolved settings so every worker process builds the same app.
    os.environ["IDMATCH_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["IDMATCH_DATABASE_URL"] = settings.database_url
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        mp = settings.ensure_data_dir() / "prometheus-multiproc"
        shutil.rmtree(mp, ignore_errors=True)
        mp.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mp)
    uvicorn.run("idmatch.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=args.log_level, timeout_graceful_shutdown=10, timeout_keep_alive=settings.keep_alive_s,
                timeout_worker_healthcheck=settings.worker_healthcheck_s)
    return 0
