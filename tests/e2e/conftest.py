"""Browser tests: Debian Chromium driven by Playwright, against a real ``uvicorn`` server.

The server runs on 127.0.0.1 with a fresh temporary data directory (SQLite) and API keys made
before it starts. Chromium gets a fake camera fed from a .y4m made at test time from a real face
video in ``../shared/data/video``. Screenshots of every page state go to ``reports/screenshots/``.
Skips with a clear message when chromium or playwright is missing (``make install-dev`` installs both).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "reports" / "screenshots"

# The test server's challenges prompt what the camera clip does (seeded_app.py: turn_left, turn_right,
# turn_left at 0.9, 2.6, 6.0 s); production draws them from the OS CSPRNG.
CLIP_ACTIONS = {"turn_left", "turn_right"}
# The man in the camera clip always claims the same (made-up) resident ID: registering one face under
# several identities is exactly what the duplicate-face rule sends to review.
HOLDER_NUMBER = "110101199003074514"   # passes GB 11643 (the service checks it)

CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("IDMATCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian chromium not installed (apt-get install -y chromium; `make install-dev` does it): browser tests skipped")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright for Python not installed (pip install -e '.[dev]'): browser tests skipped")
    return path


@pytest.fixture(scope="session")
def playwright_instance(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    # the server runs real models on shared CPUs: give each expectation time (a failing one still fails)
    expect.set_options(timeout=30_000)

    with sync_playwright() as p:
        yield p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    keys: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def log_tail(self, n: int = 60) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, chromium_path) -> LiveServer:
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    data_dir = tmp_path_factory.mktemp("idmatch-e2e-data")
    settings = Settings(data_dir=data_dir)
    store = Store(settings)
    keys = {role: store.create_key(role, f"e2e {role}").secret for role in ("admin", "clerk", "reviewer", "auditor")}
    store.close()

    port = _free_port()
    env = {**os.environ, "IDMATCH_DATA_DIR": str(data_dir), "IDMATCH_E2E_CHALLENGES": "clip", "PYTHONUNBUFFERED": "1"}
    # the server runs in the data directory: a relative PYTHONPATH (``PYTHONPATH=src pytest ...``) would no
    # longer point at this checkout there, and the server would quietly import an installed idmatch instead
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    env.pop("IDMATCH_DATABASE_URL", None)
    env.pop("IDMATCH_CONFIG", None)
    log = data_dir / "server.log"
    # the real app, with challenges the clip follows (tests/e2e/seeded_app.py; production stays random)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "seeded_app:app",
                             "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=str(data_dir))
    srv = LiveServer(f"http://127.0.0.1:{port}", data_dir, keys, proc, log)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the idmatch server exited with {proc.returncode}:\n{srv.log_tail()}")
        try:
            with urllib.request.urlopen(srv.url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the idmatch server did not start in 90 s:\n{srv.log_tail()}")
        time.sleep(0.3)
    # the man in the clip registers his one identity in many tests, and fails the challenge on purpose in some
    _set_policy(srv, {"max_lines_per_identity": 1000}, {"max_failed_liveness_per_document": 1000})
    yield srv
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _set_policy(srv: LiveServer, change: dict, optional: dict | None = None) -> None:
    """Policy changes for the tests; ``optional`` ones are dropped when this service build has no such
    field. Everything else stays the service's default policy (active liveness by default)."""
    import json

    def put(body: dict) -> None:
        req = urllib.request.Request(srv.url + "/v1/policy", method="PUT", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {srv.keys['admin']}", "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).close()
    try:
        put({**change, **(optional or {})})
    except urllib.error.HTTPError as exc:
        if exc.code != 422 or not optional:
            raise
        put(change)


def queue_challenges(srv: LiveServer, *steps: list[str]) -> None:
    """The next challenges the test server issues get these steps (seeded_app.py), then the clip's again."""
    import json

    req = urllib.request.Request(srv.url + "/__e2e__/next-challenges", method="POST",
                                 data=json.dumps({"steps": [list(s) for s in steps]}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {srv.keys['admin']}"})
    urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def launch(playwright_instance, chromium_path):
    """``launch(video, camera=...)`` → a Chromium browser. ``camera``: ``"fake"`` (the fake device plays
    ``video``, a .y4m, in a loop; access granted), ``"deny"`` (a camera exists, the user refuses it) or
    ``"none"`` (no camera device at all)."""
    browsers = []

    def _launch(video: Path | None = None, camera: str = "fake"):
        args = list(CHROMIUM_ARGS)
        if camera == "fake":
            args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
            if video is not None:
                args.append(f"--use-file-for-fake-video-capture={video}")
        elif camera == "deny":
            args += ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
        b = playwright_instance.chromium.launch(executable_path=chromium_path, args=args)
        browsers.append(b)
        return b

    yield _launch
    for b in browsers:
        try:
            b.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def media(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Fake-camera .y4m files and ID portraits made from ``../shared/data/video`` (see media.py)."""
    from .media import make_media

    return make_media(shared_data, tmp_path_factory.mktemp("e2e-media"))


TABLET = {"width": 1024, "height": 768}


def new_page(browser, *, lang: str = "en", permissions: list[str] | None = None, viewport: dict | None = None):
    ctx = browser.new_context(viewport=viewport or TABLET, locale=lang)
    page = ctx.new_page()
    page.add_init_script(f"localStorage.setItem('idmatch.lang', '{lang}')")
    page.set_default_timeout(20_000)
    return page
