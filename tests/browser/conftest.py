"""Fixtures of the browser test: a throw-away Jupyter server and a headless Chromium page.

One server serves both front ends users open notebooks in: JupyterLab (``/lab/tree/NB``) and
Jupyter Notebook 7 (``/notebooks/NB``, the ``notebook`` package); ``ui`` parametrizes a test
over both.

Everything runs in temporary folders (notebook copy, Jupyter runtime/config/data dirs,
``SYNAPSE_STEPS_HOME``) so the repository and the user's Jupyter setup are never touched.
Outputs (screenshots, the server log, the browser console) go to ``test-output/browser/``.

Browser tests run only when selected with ``-m browser`` (``make test-browser``); a plain
``pytest`` run skips them, since they need the Debian ``chromium`` package and Playwright.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUTPUT_DIR = REPO / "test-output" / "browser"
CHROMIUM = Path(os.environ.get("SYNAPSE_STEPS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 15.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "browser" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="browser test: run with `make test-browser` (-m browser)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Keep each phase's report on the item, so fixtures can tell whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@dataclass
class JupyterLab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    home: Path
    kernel_pids: set[int] = field(default_factory=set)

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def url_for(self, ui: str, notebook: str) -> str:
        """The notebook opened in JupyterLab (``lab``) or Notebook 7 (``notebook``)."""
        if ui == "notebook":
            return f"{self.url}/notebooks/{notebook}?token={self.token}"
        return self.lab_url(notebook)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api(lab: JupyterLab, path: str, method: str = "GET", timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(
        f"{lab.url}{path}", method=method, headers={"Authorization": f"token {lab.token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def _descendants(pid: int) -> set[int]:
    """Pids of every process below ``pid`` (Linux /proc), e.g. the kernels the server started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop_server(lab: JupyterLab) -> None:
    process = lab.process
    lab.kernel_pids |= _descendants(process.pid)
    if process.poll() is None:
        # The clean way: the server shuts its kernels down, then exits.
        with contextlib.suppress(OSError, urllib.error.URLError):
            _api(lab, "/api/shutdown", method="POST")
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=SERVER_STOP_TIMEOUT)
    # Kernels run in their own session: end any the server left behind, by pid.
    deadline = time.monotonic() + 5.0
    while any(_alive(pid) for pid in lab.kernel_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in lab.kernel_pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory, output_dir: Path) -> Iterator[JupyterLab]:
    """JupyterLab from this virtualenv on 127.0.0.1, a random port and a random token."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "work"
    root.mkdir()
    for notebook in HERE.glob("*.ipynb"):
        shutil.copy2(notebook, root / notebook.name)
    home = base / "synapse_steps_home"
    home.mkdir()
    env = dict(os.environ)
    for name in ("SYNAPSE_STEPS_DISPLAY", "JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH"):
        env.pop(name, None)
    env.update(
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        # The venv's kernelspec (python3 -> this interpreter) and lab extensions (ipywidgets).
        JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
        IPYTHONDIR=str(base / "ipython"),
        SYNAPSE_STEPS_HOME=str(home),
        PYTHONDONTWRITEBYTECODE="1",
        # The live view's checks read real durations, also where CI=true would hide them.
        SYNAPSE_STEPS_DETERMINISTIC="0",
    )
    token = os.urandom(16).hex()
    port = _free_port()
    log_path = output_dir / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--IdentityProvider.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        # Notebook 7 (served by the same server) exposes its app object to the tests too.
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--KernelSpecManager.ensure_native_kernel=False",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    lab = JupyterLab(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root=root,
        process=process,
        log_path=log_path,
        home=home,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
            try:
                _api(lab, f"/api/status?token={token}", timeout=2.0)
                break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"jupyter lab not up after {SERVER_START_TIMEOUT:.0f}s:\n{lab.log_tail()}"
                )
            time.sleep(0.25)
        # The notebook's kernel must be this virtualenv's interpreter (it has synapse_steps).
        specs = json.loads(_api(lab, "/api/kernelspecs"))
        python3 = specs["kernelspecs"].get("python3")
        assert python3 is not None, f"no python3 kernelspec: {sorted(specs['kernelspecs'])}"
        executable = python3["spec"]["argv"][0]
        # ipykernel's own spec says plain "python", which jupyter_client replaces with the
        # server's interpreter (this venv's) at launch; an installed spec names it in full.
        assert executable == "python" or Path(executable).parent == Path(sys.executable).parent, (
            executable
        )
        yield lab
    finally:
        _stop_server(lab)


@pytest.fixture(params=["lab", "notebook"], ids=["jupyterlab", "notebook7"])
def ui(request: pytest.FixtureRequest) -> str:
    """The front end a test opens its notebook in: JupyterLab or Jupyter Notebook 7."""
    value: str = request.param
    return value


@pytest.fixture
def console() -> list[str]:
    """Messages of the browser console and uncaught page errors, in order."""
    return []


@pytest.fixture
def page(
    jupyterlab: JupyterLab, output_dir: Path, console: list[str], request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A headless Chromium page (Debian chromium, driven by Playwright; no browser download)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium (make test-browser does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    failed_shot = output_dir / f"{request.node.name}-failed.png"
    failed_shot.unlink(missing_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1100})
            new_page = context.new_page()
            new_page.set_default_timeout(30_000)
            new_page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
            new_page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
            yield new_page
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                try:
                    new_page.screenshot(path=str(failed_shot))
                except Exception as exc:  # the page may be gone; the report matters more
                    console.append(f"[test] failure screenshot not taken: {exc}")
        finally:
            (output_dir / f"{request.node.name}-console.log").write_text("\n".join(console) + "\n")
            browser.close()
