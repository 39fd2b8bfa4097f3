"""Where the local store lives, and choosing splits (the names are in ``storage.constants``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from synapse_steps.errors import DatasetError
from synapse_steps.storage.constants import IMAGE_EXTENSIONS, SPLIT_ALIASES, SPLITS, canonical_split

HOME_ENV = "SYNAPSE_STEPS_HOME"

__all__ = [
    "HOME_ENV",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "SPLIT_ALIASES",
    "canonical_split",
    "default_root",
    "resolve_splits",
]


def default_root() -> Path:
    """The store used when ``LocalBackend()`` is given no root.

    ``$SYNAPSE_STEPS_HOME`` wins; otherwise the platform's per-user data folder.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base / "synapse_steps"


def resolve_splits(
    requested: str | list[str] | tuple[str, ...] | None,
    available: list[str],
    owner: str,
) -> list[str]:
    """Validate a user's split selection against ``available``; keep canonical order.

    ``owner`` names the thing the splits belong to in error messages (e.g. ``"dataset 3"``).
    """
    if requested is None:
        return list(available)
    if not available:
        raise DatasetError(
            f"{owner} is uncategorized (no train/valid/test splits) but splits={requested!r} "
            "was given; pass splits=None to use all of it."
        )
    # A bare string is one split, not a sequence of one-letter split names.
    names = [requested] if isinstance(requested, str) else list(requested)
    if not names:
        raise DatasetError(
            f"splits is empty for {owner}; pass splits=None for all splits or choose from: "
            f"{', '.join(available)}."
        )
    chosen: set[str] = set()
    for name in names:
        canon = canonical_split(name) if isinstance(name, str) else None
        if canon is None or canon not in available:
            raise DatasetError(
                f"Unknown split {name!r} for {owner}; available splits: {', '.join(available)} "
                "('val' and 'validation' are accepted for 'valid')."
            )
        chosen.add(canon)
    return [split for split in available if split in chosen]
