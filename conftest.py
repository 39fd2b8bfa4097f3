"""Repository-wide pytest hooks for the notebooks run by nbval.

nbval compares every text output (summary tables, the text form of each widget, DataFrames);
times, durations and temporary paths are masked by notebooks/sanitize.cfg. Images (metric
figures) and widget views are not compared by nbval itself. Nothing else is skipped.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

_homes: dict[str, tempfile.TemporaryDirectory[str]] = {}


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


@pytest.fixture(autouse=True)
def _isolated_backend_home(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    """Tests never write into the user's real data folder through a default LocalBackend."""
    if _is_notebook_item(request.node):
        return
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(tmp_path_factory.mktemp("synapse_steps_home")))
