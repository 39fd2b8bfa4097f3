"""Tutorial 07 leaves the user's store as it was (issue 18, point 6).

It stores a dataset and two models: run as a reader runs it (a kernel whose
``SYNAPSE_STEPS_HOME`` is the user's store), it puts them in a temporary store of its own, and
its last cell removes that store and gives ``SYNAPSE_STEPS_HOME`` its value back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from run_notebooks import kernel_config  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_tutorial_07_leaves_the_users_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "my-store"
    home.mkdir()
    (home / "keep-me.txt").write_text("the user's")
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(home))
    notebook = nbformat.read(REPO / "notebooks" / "07_training.ipynb", as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell("import os\nprint(os.environ['SYNAPSE_STEPS_HOME'])")
    )
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
        config=kernel_config(sockets),
    ).execute()
    assert sorted(p.name for p in home.iterdir()) == ["keep-me.txt"]
    # The models went somewhere: a store the tutorial made, and removed at its end.
    assert notebook.cells[-1].outputs[0]["text"].strip() == str(home)
