"""Are we in a Jupyter kernel? Decided at call time, never at import (as ``tqdm.auto`` does)."""

from __future__ import annotations

import sys


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook 7, VS Code, nbclient)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return False
    return shell is not None and hasattr(shell, "kernel")
