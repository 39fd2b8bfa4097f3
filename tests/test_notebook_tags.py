"""The tutorials mark every cell that raises on purpose with the ``raises-exception`` tag.

JupyterLab's Run All (and nbclient, and nbval) keep going past a cell with that tag; an nbval
comment marker alone is invisible to JupyterLab, so Run All would stop at the first such cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TAG = "raises-exception"
COMMENT = "NBVAL_RAISES_EXCEPTION"


def _code_cells(path: Path) -> list[tuple[int, Any]]:
    notebook = nbformat.read(path, as_version=4)
    return [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]


def _raises(cell: Any) -> bool:
    return any(output.get("output_type") == "error" for output in cell.get("outputs", []))


def test_there_are_tutorials() -> None:
    assert len(TUTORIALS) >= 8


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_every_raising_cell_is_tagged(path: Path) -> None:
    untagged = [
        index
        for index, cell in _code_cells(path)
        if (_raises(cell) or COMMENT in cell.source) and TAG not in cell.metadata.get("tags", [])
    ]
    assert not untagged, (
        f"{path.name}: cells {untagged} raise (error output or {COMMENT}) but lack the "
        f"{TAG!r} tag, so JupyterLab's Run All stops there"
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_no_cell_is_tagged_needlessly(path: Path) -> None:
    needless = [
        index
        for index, cell in _code_cells(path)
        if TAG in cell.metadata.get("tags", []) and not _raises(cell)
    ]
    assert not needless, (
        f"{path.name}: cells {needless} carry {TAG!r} but their committed outputs have no error"
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_the_tag_alone_marks_the_cell(path: Path) -> None:
    # nbval honours the tag; with the comment as well it warns about overlapping options.
    doubled = [
        index
        for index, cell in _code_cells(path)
        if COMMENT in cell.source and TAG in cell.metadata.get("tags", [])
    ]
    assert not doubled, f"{path.name}: cells {doubled} have both the tag and the {COMMENT} comment"
