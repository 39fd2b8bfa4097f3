"""The store guard of the root ``conftest.py``: a test session that writes into the default
store (the user's real one, outside the tests) fails, naming what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LEAKING = """
from synapse_steps.journal import Journal


def test_journals_into_the_default_store(monkeypatch):
    monkeypatch.delenv("SYNAPSE_STEPS_HOME")  # as a child process with a scrubbed env would
    Journal().start_run("leak", ["a"]).finish("succeeded")
"""

CLEAN = """
import os
from pathlib import Path

from synapse_steps.journal import Journal


def test_journals_into_its_own_home():
    Journal().start_run("fine", ["a"]).finish("succeeded")
    assert (Path(os.environ["SYNAPSE_STEPS_HOME"]) / "journal.sqlite3").exists()
"""


def _session(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the repository's conftest, as a plugin
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest"),
            *("--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
def test_a_session_writing_into_the_default_store_fails_and_leaves_the_user_s_alone(
    tmp_path: Path,
) -> None:
    real = Path.home() / ".local" / "share" / "synapse_steps"
    existed = real.exists()
    (tmp_path / "leaking").mkdir()
    leaking = _session(tmp_path / "leaking", LEAKING)
    assert leaking.returncode == pytest.ExitCode.TESTS_FAILED, leaking.stdout + leaking.stderr
    assert "1 passed" in leaking.stdout  # the test itself passed: the guard failed the session
    assert "STORE GUARD" in leaking.stdout
    assert "journal.sqlite3" in leaking.stdout
    assert real.exists() == existed  # it wrote into a stand-in, not the real one
    (tmp_path / "clean").mkdir()
    clean = _session(tmp_path / "clean", CLEAN)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "STORE GUARD" not in clean.stdout
