"""A real Jupyter kernel restarted while a step runs (issue 18, point 1).

The kernel is started and restarted with ``jupyter_client``'s ``KernelManager``, the code path of
the Jupyter server behind JupyterLab's and Notebook 7's Kernel > Restart: SIGINT, a shutdown
request, then SIGTERM after 2.5 s. The run rolls back; its view is cut off with the kernel, so
the journal names its end (``interrupted: kernel restart``), ``runs()`` lists it, and the next
run of the workflow, in the new kernel, opens with one line saying what happened. The stop
button (an interrupt alone) stays a plain ``interrupted`` and leaves the next run silent.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synapse_steps.journal import runs

jupyter_client = pytest.importorskip("jupyter_client")

WORKFLOW = "restart-demo"
CELL = """
import time
from pathlib import Path
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

MARK = Path({mark!r})


class Step(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(self, n: int, slow: bool) -> None:
        self.n, self.slow = n, slow

    @property
    def name(self) -> str:
        return f"step_{{self.n}}"

    def execute(self, context):
        if self.slow and self.n == 4:
            MARK.write_text("step_4 runs")
            time.sleep(120)
        return StepResult()

    def rollback(self, context, result):
        pass


registry = StepRegistry()
for n in range(6):
    registry.register(Step(n, {slow!r}))
context = BaseStepContext()  # the default front end of a notebook: the live view
Orchestrator(registry, context, name={workflow!r}).execute()
print("notices:", context.runtime_ctx.recorder.run.notices)
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Any]:
    env = dict(os.environ)
    env["SYNAPSE_STEPS_HOME"] = str(tmp_path / "home")
    env.pop("SYNAPSE_STEPS_DISPLAY", None)
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(env=env)
    try:
        yield manager
    finally:
        manager.shutdown_kernel(now=True)


def _client(manager: Any) -> Any:
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


def _outputs(client: Any, msg_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The iopub messages of one execution, until it is idle."""
    found = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        found.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return found
    raise AssertionError(f"the cell did not finish in {timeout}s: {found[-5:]}")


def _start_slow_run(client: Any, mark: Path) -> None:
    client.execute(CELL.format(mark=str(mark), slow=True, workflow=WORKFLOW))
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert time.monotonic() < deadline, "step_4 never started"
        time.sleep(0.05)


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    """What each output says: a stream's text, a display's ``text/plain``."""
    parts = []
    for msg in messages:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            parts.append(content["text"])
        elif msg["msg_type"] in ("display_data", "execute_result"):
            parts.append(content["data"].get("text/plain", ""))
    return parts


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_kernel_restart_mid_run_is_named_and_told_by_the_next_run(
    kernel: Any, tmp_path: Path
) -> None:
    journal = tmp_path / "home" / "journal.sqlite3"
    client = _client(kernel)
    try:
        # The stop button first: an interrupt alone is the user's own doing.
        _start_slow_run(client, tmp_path / "mark-1")
        kernel.interrupt_kernel()
        deadline = time.monotonic() + 30
        while not runs(WORKFLOW, path=journal) or runs(WORKFLOW, path=journal)[0].owner_alive:
            assert time.monotonic() < deadline, "the interrupted run never ended"
            time.sleep(0.1)
        stopped = runs(WORKFLOW, path=journal)[0]
        assert stopped.status == "interrupted", stopped
        time.sleep(0.5)  # the cell's traceback arrives

        # Now a restart while step_4 runs.
        _start_slow_run(client, tmp_path / "mark-2")
    finally:
        client.stop_channels()
    kernel.restart_kernel(now=False)

    (restarted, interrupted) = runs(WORKFLOW, path=journal)
    assert restarted.status == "kernel restart", restarted
    assert restarted.outcome == "interrupted by a kernel restart, rolled back 5 steps"
    assert (restarted.stopped_at, restarted.reason) == ("step_4", "kernel restart")
    assert (restarted.steps_completed, restarted.steps_total) == (4, 6)
    assert interrupted.run_id == stopped.run_id

    # The next run, in the new kernel, opens with what happened to it.
    client = _client(kernel)
    try:
        msg_id = client.execute(
            CELL.format(mark=str(tmp_path / "x"), slow=False, workflow=WORKFLOW)
        )
        text = _texts(_outputs(client, msg_id))
        msg_id = client.execute(
            CELL.format(mark=str(tmp_path / "x"), slow=False, workflow=WORKFLOW)
        )
        again = _texts(_outputs(client, msg_id))
    finally:
        client.stop_channels()
    line = "was interrupted at 'step_4' by a kernel restart; 5 steps were rolled back."
    # In the run's static record (what the saved notebook keeps), first thing.
    (record,) = [part for part in text if "succeeded - 6 of 6" in part]
    assert record.startswith("⚠ The previous run ("), text
    assert line in record.splitlines()[0], text
    assert any(part.startswith('notices: ["The previous run (') for part in text), text
    # Said once: the run after it has a clean previous run.
    assert "notices: []\n" in again, again
    assert runs(WORKFLOW, path=journal)[0].status == "succeeded"
