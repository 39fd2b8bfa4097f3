"""Staging folders of the store's tmp/ area (the implementation is ``storage.publish``)."""

from __future__ import annotations

from pathlib import Path

from synapse_steps.storage.publish import discard, is_abandoned, make_staging, remove_tree, sweep

__all__ = ["discard", "is_abandoned", "new_staging", "remove_tree", "sweep_abandoned"]


def new_staging(tmp_dir: Path, kind: str) -> Path:
    """Create and return an empty, owner-marked folder under the store's ``tmp/``."""
    return make_staging(tmp_dir, "store", kind)


def sweep_abandoned(tmp_dir: Path) -> list[Path]:
    """Remove the store's staging folders under ``tmp_dir`` whose owner process is gone."""
    return sweep(tmp_dir)
