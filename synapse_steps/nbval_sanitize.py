"""Where the nbval sanitize file shipped with synapse_steps is.

``python -m synapse_steps.nbval_sanitize`` prints its path, for a CI line such as::

    pytest --nbval --nbval-sanitize-with "$(python -m synapse_steps.nbval_sanitize)" notebooks/

Only notebooks saved with real times need it: in deterministic mode
(``SYNAPSE_STEPS_DETERMINISTIC=1``, on by itself when ``CI=true``) synapse_steps prints no times.
"""

from __future__ import annotations

import sys
from pathlib import Path

FILE_NAME = "nbval_sanitize.cfg"


def path() -> Path:
    """The sanitize file inside the installed package."""
    return Path(__file__).resolve().with_name(FILE_NAME)


def main() -> int:
    print(path())
    return 0


if __name__ == "__main__":
    sys.exit(main())
