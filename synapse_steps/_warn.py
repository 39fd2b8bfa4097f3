"""Warnings that point at the user's line, not at ours."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the first frame outside synapse_steps as its location.

    (Python 3.12's ``skip_file_prefixes`` does this; we support 3.11.)
    """
    level = 2  # 1 would be this function
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
