"""Repository-wide pytest hooks: the user's real store is never touched, and the notebooks
run by nbval get a store of their own.

nbval compares every text output (summary tables, the text form of each widget, DataFrames);
times, durations and temporary paths are masked by notebooks/sanitize.cfg. Images (metric
figures) and widget views are not compared by nbval itself. Nothing else is skipped.

The store guard: every test gets a temporary ``SYNAPSE_STEPS_HOME`` (``_isolated_backend_home``),
and the session's per-user data folder (``XDG_DATA_HOME`` on Linux, where the default store
lives without ``SYNAPSE_STEPS_HOME``) points at a temporary folder that the session's children
inherit too: notebook kernels, subprocesses, fork servers, a Ray cluster. Whatever ignores
``SYNAPSE_STEPS_HOME`` lands there instead of in the user's store, and the session fails,
naming it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

_homes: dict[str, tempfile.TemporaryDirectory[str]] = {}
#: The session's stand-in for the per-user data folder (see the module).
_user_data: dict[str, Path] = {}
#: The variable holding the per-user data folder the default store is in, per platform.
_USER_DATA_VARIABLE = {"win32": "LOCALAPPDATA", "darwin": "HOME"}.get(sys.platform, "XDG_DATA_HOME")


def pytest_configure(config: Any) -> None:
    folder = Path(tempfile.mkdtemp(prefix="synapse_steps_user_data_"))
    _user_data["folder"] = folder
    os.environ[_USER_DATA_VARIABLE] = str(folder)
    # A store the user chose for their own work is theirs too: tests set one each.
    os.environ.pop("SYNAPSE_STEPS_HOME", None)


def _leaked_store() -> Path | None:
    """The default store the session created in its stand-in user data folder, if any."""
    folder = _user_data.get("folder")
    if folder is None:
        return None
    from synapse_steps.backends._paths import default_root

    saved = os.environ.pop("SYNAPSE_STEPS_HOME", None)
    try:
        store = default_root()
    finally:
        if saved is not None:
            os.environ["SYNAPSE_STEPS_HOME"] = saved
    return store if store.exists() else None


def _is_notebook_item(item: Any) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    """Give each notebook's kernel its own empty backend home before the kernel starts.

    nbval starts the kernel while setting up a notebook's first cell, and the kernel inherits
    this process's environment, so ids in the local backend start at 1 in every notebook.
    """
    if not _is_notebook_item(item):
        return
    key = str(item.parent.fspath)
    if key not in _homes:
        _homes[key] = tempfile.TemporaryDirectory(prefix="synapse_steps_home_")
        os.environ["SYNAPSE_STEPS_HOME"] = _homes[key].name


def pytest_sessionfinish(session: Any) -> None:
    for home in _homes.values():
        home.cleanup()
    leaked = _leaked_store()
    if leaked is not None:
        files = sorted(str(p.relative_to(leaked)) for p in leaked.rglob("*") if p.is_file())
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"STORE GUARD: this session wrote into the default store ({len(files)} files: "
            f"{', '.join(files[:10])}{' ...' if len(files) > 10 else ''}). Outside the tests "
            "that is the user's real store (~/.local/share/synapse_steps): some test, child "
            "process or notebook ran without the temporary SYNAPSE_STEPS_HOME every test gets."
        )
        if reporter is not None:
            reporter.write_line(message, red=True, bold=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    folder = _user_data.pop("folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_backend_home(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    """Tests never write into the user's real data folder through a default LocalBackend."""
    if _is_notebook_item(request.node):
        return
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(tmp_path_factory.mktemp("synapse_steps_home")))
