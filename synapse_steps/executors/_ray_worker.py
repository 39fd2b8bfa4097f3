"""The Ray actor a remote run executes in (imported only by ``synapse_steps.executors.ray``).

The shipped ``RunRequest`` runs (``run_request``, as in-process) in a thread of its own inside
the actor, so the driver can drain records (a long poll) and interrupt the run (a
``KeyboardInterrupt`` raised in that thread, as the notebook's stop button does locally) while
it goes on. One actor runs one request at a time and is reused for the next.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from ray import cloudpickle

from synapse_steps.context import RuntimeContext
from synapse_steps.events import Record
from synapse_steps.executors.transport import (
    Outcome,
    RecordBuffer,
    land,
    outcome_of,
    sendable_context,
    ship,
)
from synapse_steps.steps.request import RunOutcome, RunRequest
from synapse_steps.steps.runner import run_request


class RunActor:
    """Runs shipped workflows, one at a time, and hands their records out in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffers: dict[int, RecordBuffer] = {}
        self._arrived = threading.Condition(self._lock)
        # (token, thread id) of the run inside run_request() right now.
        self._running: tuple[int, int] | None = None

    def start(self, token: int, payload: bytes, runtime_spec: dict[str, Any]) -> None:
        buffer = RecordBuffer()
        with self._arrived:
            self._buffers[token] = buffer
            self._arrived.notify_all()
        thread = threading.Thread(
            target=self._run, args=(token, payload, runtime_spec, buffer), daemon=True
        )
        thread.start()

    def _run(self, token: int, payload: bytes, spec: dict[str, Any], buffer: RecordBuffer) -> None:
        runtime = RuntimeContext(logger=[buffer], env=spec["env"], job_id=spec["job_id"])
        request: RunRequest[Any] | None = None
        run: RunOutcome | None = None
        failure: BaseException | None = None
        try:
            request, client = land(payload, runtime)
            if client is not None:
                runtime.client = client
            with self._lock:
                self._running = (token, threading.get_ident())
            try:
                # The journal setting is the driver's business: it journals what arrives there.
                run = run_request(request, runtime.publish)
            finally:
                with self._lock:
                    self._running = None
        except BaseException as exc:  # reported to the driver, which raises it there
            failure = exc
        outcome = outcome_of(run, failure, cloudpickle.dumps)
        if request is not None:
            outcome.context = _ship_context(request.context, runtime, outcome)
        buffer.close(outcome)

    def drain(self, token: int, wait: float) -> tuple[list[Record], Outcome | None]:
        """Records of run ``token`` since the last call (waiting up to ``wait`` s for one)."""
        with self._arrived:
            # Calls to a threaded actor may run out of order: the drain can beat the start.
            if token not in self._buffers:
                self._arrived.wait(wait)
            buffer = self._buffers.get(token)
        if buffer is None:
            return [], None
        records, outcome = buffer.take(wait)
        if outcome is not None:
            with self._lock:
                self._buffers.pop(token, None)
        return records, outcome

    def interrupt(self, token: int) -> bool:
        """Raise ``KeyboardInterrupt`` in run ``token``'s thread (the stop button, remotely).

        Delivered at the next Python bytecode the thread executes: a step blocked in one long C
        call is interrupted when that call returns.
        """
        with self._lock:
            if self._running is None or self._running[0] != token:
                return False
            thread_id = self._running[1]
            done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread_id), ctypes.py_object(KeyboardInterrupt)
            )
            return bool(done == 1)


def _ship_context(context: Any, runtime: RuntimeContext, outcome: Outcome) -> bytes | None:
    """The final context for the driver (step exceptions that cannot be rebuilt there replaced
    by ``RemoteError``)."""
    try:
        return ship(sendable_context(context, cloudpickle.dumps), runtime, cloudpickle.CloudPickler)
    except Exception as exc:
        outcome.notes.append(
            f"the final context could not be sent back ({type(exc).__name__}: {exc}); the "
            "notebook's context keeps its state from before the run"
        )
        return None
