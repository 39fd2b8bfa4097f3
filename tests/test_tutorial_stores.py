"""The tutorials leave the user's store as it was (issue 18, point 6; the brief: never write
into the user's store from tutorials unless asked).

Run as a reader runs them (a kernel whose ``SYNAPSE_STEPS_HOME`` is the user's store), they put
their runs, datasets and models in a temporary store of their own, and their last cells remove
it and give ``SYNAPSE_STEPS_HOME`` its value back. Tutorials 10 (Ray) and 12 (trainers) need
their extras: they use the same first and last cells, checked by the parametrised test below.
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

TUTORIALS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
#: Run here in a kernel; the others need an extra (Ray, the trainers).
RUNNABLE = [name for name in TUTORIALS if not name.startswith(("10_", "12_"))]


@pytest.mark.parametrize("name", TUTORIALS)
def test_every_tutorial_makes_a_temporary_store_and_removes_it(name: str) -> None:
    sources = [
        cell.source
        for cell in nbformat.read(REPO / "notebooks" / name, as_version=4).cells
        if cell.cell_type == "code"
    ]
    made = [i for i, s in enumerate(sources) if "temporary_store()" in s or "mkdtemp" in s]
    assert made, f"{name} keeps its runs in the user's store"
    if name.startswith(("07_", "11_")):
        return  # their own throw-away folder, checked by running them below
    assert "store = temporary_store()" in sources[0]
    assert sources[-1].startswith("store.remove()")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", RUNNABLE)
def test_a_tutorial_run_by_hand_leaves_the_users_store_as_it_was(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "my-store"
    home.mkdir()
    (home / "keep-me.txt").write_text("the user's")
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(home))
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
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
    # Their runs went somewhere: a store the tutorial made, and removed at its end.
    assert notebook.cells[-1].outputs[0]["text"].strip() == str(home)
