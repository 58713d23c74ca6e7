"""FastAPI application factory. ``idmatch serve`` runs it under uvicorn (``factory=True``)."""
from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from sqlalchemy import text

from .. import __version__
from ..settings import Settings
from . import limits, metrics, problems
from .auth import RateLimiter, require
from .capacity import guard_engine
from .problems import problem
from .sessions import SessionService

log = logging.getLogger(__name__)


def make_engine_for(settings: Settings):
    from ..imaging import ImageLimits
    from ..match import Calibration
    from ..pipeline import EngineConfig, FaceEngine

    # an operator's own calibration (written by `idmatch calibrate`) replaces the shipped one
    calibration = Calibration.load(settings.calibration_file) if settings.calibration_file else None
    work = settings.work_max_pixels or None   # 0: always full size
    return FaceEngine(EngineConfig(limits=ImageLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels,
                                                      work_max_pixels=work)),
                      calibration=calibration)


def create_app(settings: Settings | None = None, *, engine=None, store=None) -> FastAPI:
    from ..store.store import Store

    settings = settings or Settings()
    store = store or Store(settings)
    # every decode/analysis admitted through a semaphore with a pixel budget (service/capacity.py)
    engine = guard_engine(engine or make_engine_for(settings), settings)

    app = FastAPI(title="idmatch", version=__version__,
                  description="Identity verification for SIM registration: live face vs ID portrait, consent-based 1:1 only. "
                              "Errors are RFC 9457 problem details with a stable `code`.")
    app.state.settings = settings
    app.state.store = store
    app.state.engine = engine
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.sessions = SessionService(store, engine, settings)
    problems.install(app)

    # authentication before any body is read, byte-counted body limits, body deadline (service/limits.py)
    limits.install(app, settings, store)
    app.middleware("http")(metrics.middleware)

    from .routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    from ..web import mount_web  # the static pages (issue 8): /web/, / → /web/, POST /v1/frame-check
    mount_web(app)

    @app.get("/healthz", tags=["ops"], summary="the process is up")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="database reachable and migrated, models and calibration loaded")
    def readyz():
        from ..store.db import current_revision

        checks: dict[str, str] = {}
        try:
            with store.engine.connect() as c:
                c.execute(text("SELECT 1"))
            rev = current_revision(store.engine)
            checks["database"] = "ok" if rev else "not migrated"
        except Exception as exc:  # readiness must answer, whatever broke
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            checks["calibration"] = engine.calibration.name
        except Exception as exc:
            checks["calibration"] = f"error: {getattr(exc, 'code', type(exc).__name__)}"
        ok = checks["database"] == "ok" and not checks["calibration"].startswith("error")
        if not ok:
            return problem(503, "not_ready", "not ready", extra={"checks": checks})
        return {"status": "ready", "checks": checks}

    # route names, status counts and decision totals are operational intelligence: an auditor or admin key
    # (Prometheus sends it as a bearer token) unless IDMATCH_METRICS_PUBLIC=1 (e.g. behind a private scrape network)
    guard = [] if settings.metrics_public else [Depends(require("auditor", "admin"))]

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (auditor or admin key)", dependencies=guard)
    def metrics_endpoint():
        return metrics.render()

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory entry point: settings from the environment (what ``idmatch serve`` exports)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(Settings())
