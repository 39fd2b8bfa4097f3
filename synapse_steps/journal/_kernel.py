"""Was a run interrupted because its Jupyter kernel is being restarted or shut down?

What a restart (or shutdown) does to a running step, seen in a real kernel (jupyter_client 8,
ipykernel 7; the server and JupyterLab's Kernel > Restart go through the same
``KernelManager.shutdown_kernel``):

1. SIGINT: the step gets ``KeyboardInterrupt`` and the orchestrator rolls back, as for the stop
   button;
2. a shutdown request a few milliseconds later, which ipykernel's control thread answers at once:
   the shell's ``exit_now`` is set (and the request's ``restart`` flag kept), and the kernel
   exits when the cell ends (``atexit`` runs: the journal stores the ended run);
3. SIGTERM at ``shutdown_wait_time / 2`` (2.5 s) if the kernel is still there: Python's default
   action ends it at once (no ``finally``, no ``atexit``), so a rollback still going is cut off
   and the run stays unfinished in the journal, for ``recover()``; SIGKILL at 5 s.

Nothing tells the interrupt of step 1 from the stop button's, but step 2 comes right behind it:
when an interrupted run ends in a kernel, ``ended_status`` waits for the shutdown request until
``SHUTDOWN_GRACE`` after the interrupt, then names the run's end after it. The front end was cut
off (its view stays frozen), so this status is what ``runs()`` and the next run's notice report.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from synapse_steps.events import RunFinished

#: Seconds after an interrupt within which a kernel's shutdown request is looked for. Measured:
#: a few milliseconds on an idle machine; generous for a loaded one.
SHUTDOWN_GRACE = 0.3
#: The journal status of a run a kernel restart (shutdown) interrupted.
KERNEL_RESTART = "interrupted: kernel restart"
KERNEL_SHUTDOWN = "interrupted: kernel shutdown"


def kernel_stopping(wait: float) -> str | None:
    """``"restart"`` or ``"shutdown"`` when this process is a Jupyter kernel asked to stop
    (waiting up to ``wait`` seconds for the request), else None."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return None
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    deadline = time.monotonic() + wait
    while not getattr(shell, "exit_now", False):
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)
    # The reply ipykernel keeps right after setting exit_now says whether it restarts.
    while True:
        message = getattr(kernel, "_shutdown_message", None)
        if message is not None or time.monotonic() >= deadline + 0.05:
            break
        time.sleep(0.005)
    try:
        restart = bool(message["content"]["restart"])  # type: ignore[index]
    except (TypeError, KeyError):
        return "restart"  # the request came, its flag did not: a restart is the usual case
    return "restart" if restart else "shutdown"


def ended_status(record: RunFinished, run: Any) -> str:
    """The journal status of a run that ended with ``record``: its own, or ``KERNEL_RESTART``
    / ``KERNEL_SHUTDOWN`` when a kernel stopping interrupted it.

    ``run``: the run's ``RunState`` (its failure's time says how long ago the interrupt came).
    """
    if record.status != "interrupted" or "KeyboardInterrupt" not in (record.error or ""):
        return record.status
    failure = getattr(run, "failure", None)
    since = record.time - failure.time if failure is not None else 0.0
    stopping = kernel_stopping(max(0.0, SHUTDOWN_GRACE - since))
    if stopping is None:
        return record.status
    return KERNEL_RESTART if stopping == "restart" else KERNEL_SHUTDOWN
