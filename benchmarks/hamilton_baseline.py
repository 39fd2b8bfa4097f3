"""Hamilton's cost per node, measured in the same process as our figures (the peer baseline).

Hamilton (``sf-hamilton``, in the ``bench`` extra) runs a DAG of Python functions. Its per-node
cost is what a user pays for its bookkeeping; ours is compared with it in the same run, since
the shared 2-core machines make absolute figures drift by 2x from one minute to the next.

The DAG: ``n`` independent nodes ``f_i(x) -> x + i`` over one input, all requested; the
driver is built once (not timed), ``execute`` is timed, best of ``repeat``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def available() -> bool:
    try:
        import hamilton.driver  # noqa: F401
    except ImportError:
        return False
    return True


def per_node_seconds(n: int, repeat: int, best_of: Any) -> float:
    """Seconds per node of ``driver.execute`` on an ``n``-node DAG (best of ``repeat``)."""
    from hamilton import driver

    source = "\n".join(f"def f_{i}(x: int) -> int:\n    return x + {i}\n" for i in range(n))
    module = types.ModuleType(f"hamilton_nodes_{n}")
    exec(source, module.__dict__)
    sys.modules[module.__name__] = module  # Hamilton reads functions from importable modules
    dr = driver.Builder().with_modules(module).build()
    outputs = [f"f_{i}" for i in range(n)]
    seconds: float = best_of(lambda: dr.execute(outputs, inputs={"x": 1}), repeat)
    return seconds / n
