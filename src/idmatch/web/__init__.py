"""Static web pages served by the service itself: store terminal, review desk, audit view.

Plain HTML, CSS and vanilla JS modules under ``static/`` — no build step. :func:`mount_web`
mounts them at ``/web`` and sends ``/`` there; the pages call the same ``/v1`` API as any other
client (same origin, so no CORS), with the API key typed in by the clerk, reviewer or auditor
and kept only in the tab's ``sessionStorage``.
"""
from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = ("terminal.html", "review.html", "audit.html")


def mount_web(app) -> None:
    """Serve the pages at ``/web/``, redirect ``/`` to them, and add ``POST /v1/frame-check``."""
    from fastapi.responses import RedirectResponse

    from .api import router

    app.include_router(router)
    app.mount("/web", _NoCacheStatic(directory=STATIC_DIR, html=True), name="web")

    @app.get("/", include_in_schema=False)
    def _root():
        return RedirectResponse("/web/", status_code=307)


def _security_headers(headers) -> None:
    # The pages only talk to their own origin; camera access is needed on the terminal page.
    headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                                          "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=()"


try:
    from starlette.staticfiles import StaticFiles as _StaticFiles

    class _NoCacheStatic(_StaticFiles):
        """Static files with a strict CSP, revalidated on each load (pages change with the server)."""

        def file_response(self, *args, **kwargs):
            resp = super().file_response(*args, **kwargs)
            resp.headers["Cache-Control"] = "no-cache"
            _security_headers(resp.headers)
            return resp
except ImportError:  # the service extra is not installed: nothing to mount onto anyway
    _NoCacheStatic = None  # type: ignore[assignment,misc]
