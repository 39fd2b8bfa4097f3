"""One workflow on a real local Ray cluster: live records, failures, stop, a killed worker."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ray_steps import Add, Boom, Spin, SweepParams, SweepTrain, Weird, WorkCtx

from synapse_steps import (
    Orchestrator,
    RemoteError,
    RuntimeContext,
    StepFailedError,
    StepRegistry,
    UsageError,
    WorkerDiedError,
)
from synapse_steps.events import ProgressReported, RunFinished, RunStarted
from synapse_steps.executors.ray import RayExecutor
from synapse_steps.executors.transport import RemoteTraceback
from synapse_steps.journal import UnfinishedRunWarning, recover, unfinished_runs


class Arrivals:
    """A driver-side front end noting when each record arrived (driver clock)."""

    def __init__(self, on_step_start: Any = None, on_log: Any = None) -> None:
        self.seen: list[tuple[float, Any]] = []
        self._step = on_step_start
        self._log = on_log

    def _note(self, record: Any) -> None:
        self.seen.append((time.perf_counter(), record))

    on_run_start = on_step_end = on_step_fail = on_rollback_start = _note
    on_step_rollback = on_run_progress = on_run_end = on_progress = on_metrics = _note

    def on_step_start(self, record: Any) -> None:
        self._note(record)
        if self._step is not None:
            self._step(record)

    def on_log(self, record: Any) -> None:
        self._note(record)
        if self._log is not None:
            self._log(record)

    def types(self) -> list[str]:
        return [type(record).__name__ for _, record in self.seen]


def _without_progress(types: list[str]) -> list[str]:
    # Progress is coalesced by time at the source: its count depends on timing, not its place.
    return [name for name in types if name != "ProgressReported"]


def registry(*steps: Any) -> StepRegistry[WorkCtx]:
    reg: StepRegistry[WorkCtx] = StepRegistry()
    for step in steps:
        reg.register(step)
    return reg


def marks(folder: Path) -> list[str]:
    path = folder / "marks.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_remote_run_streams_records_before_it_ends_and_returns_like_a_local_run(
    executor: RayExecutor, tmp_path: Path
) -> None:
    arrivals = Arrivals()
    runtime = RuntimeContext(logger=[arrivals])
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    reg = registry(Add("load", 4), Add("train", 10, pause=1.5))

    result = Orchestrator(reg, context, executor=executor).execute()

    local = Arrivals()
    local_context = WorkCtx(runtime_ctx=RuntimeContext(logger=[local]), marks=str(tmp_path))
    assert result == Orchestrator(reg, local_context).execute()
    # The final context came back into the notebook's object; its runtime stayed the driver's.
    assert (context.total, context.seen) == (14, ["load", "train"])
    assert context.runtime_ctx is runtime
    assert [r.data["total"] for r in context.step_results] == [4, 14]
    # Records arrived while the run was still going: the train step's first progress well
    # before the run's end (the step pauses 1.5 s after it).
    times = {type(r).__name__: t for t, r in reversed(arrivals.seen)}
    first_train_progress = next(
        t for t, r in arrivals.seen if isinstance(r, ProgressReported) and r.category == "train"
    )
    end = next(t for t, r in arrivals.seen if isinstance(r, RunFinished))
    assert end - first_train_progress > 1.0
    assert times["RunStarted"] < times["StepStarted"] < end
    # In order, none lost: the lifecycle is the local one, every metrics call arrived.
    assert _without_progress(arrivals.types()) == _without_progress(local.types())
    assert arrivals.types().count("MetricsReported") == 14
    state = runtime.recorder.run
    assert state.outcome() == "succeeded - 2 of 2 steps executed"
    assert len(state.metrics) == 14  # loss against "step" (an x key), per call
    # Times were re-stamped into the driver's clock: the run's elapsed is about its real length.
    started = next(r for _, r in arrivals.seen if isinstance(r, RunStarted))
    assert abs(started.time - times["RunStarted"]) < 1.0
    assert 1.4 < state.elapsed(time.perf_counter()) < end - times["RunStarted"] + 0.5
    assert [e.event for e in runtime.recorder.events] == ["added", "added"]
    assert {e.data["pid"] for e in runtime.recorder.events} != {os.getpid()}


def test_remote_failure_rolls_back_on_the_worker_and_raises_with_the_remote_traceback(
    executor: RayExecutor, tmp_path: Path
) -> None:
    runtime = RuntimeContext(display="off")
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    orchestrator = Orchestrator(registry(Add("load", 3), Boom()), context, executor=executor)

    with pytest.raises(
        StepFailedError, match="Step 'boom' failed: the sensor returned garbage"
    ) as caught:
        orchestrator.execute()
    failure = caught.value
    assert failure.step == "boom"
    assert failure.rollback_errors == ()
    cause = failure.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "ValueError: the sensor returned garbage" in str(cause)
    assert 'raise ValueError("the sensor returned garbage")' in str(cause)
    # Rolled back there, newest first, in a worker process.
    lines = marks(tmp_path)
    assert lines == ["rollback boom", lines[1]]
    assert lines[1].startswith("rollback load pid=")
    assert lines[1] != f"rollback load pid={os.getpid()}"
    state = runtime.recorder.run
    assert state.outcome() == "failed at 'boom' - rolled back 2 steps"
    assert state.steps[1].error_type == "ValueError"
    assert "the sensor returned garbage" in (state.steps[1].traceback or "")
    assert context.errors == ["Step 'boom' failed: the sensor returned garbage"]


def test_an_exception_that_cannot_be_rebuilt_on_the_driver_still_fails_the_step_clearly(
    executor: RayExecutor, tmp_path: Path
) -> None:
    # Before: the final context carried the exception, could not be unpickled, and the driver
    # got "TypeError: WeirdError.__init__() missing 1 required positional argument".
    runtime = RuntimeContext(display="off")
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    orchestrator = Orchestrator(registry(Add("load", 3), Weird()), context, executor=executor)
    with pytest.raises(StepFailedError, match="Step 'weird' failed: code 7: the disk said no") as e:
        orchestrator.execute()
    assert "as WeirdError" in "".join(e.value.__notes__)
    assert isinstance(e.value.__cause__, RemoteTraceback)
    assert "WeirdError: code 7: the disk said no" in str(e.value.__cause__)
    # The completed step was rolled back as for any other failure, and the context came back.
    assert marks(tmp_path)[:1] == ["rollback weird"]
    assert marks(tmp_path)[1].startswith("rollback load")
    assert context.errors == ["Step 'weird' failed: code 7: the disk said no"]
    exception = context.step_results[-1].exception
    assert isinstance(exception, RemoteError)
    assert exception.type_name == "WeirdError"
    assert "raise WeirdError(7" in (exception.remote_traceback or "")


def test_stop_in_the_notebook_interrupts_the_remote_run_which_rolls_back(
    executor: RayExecutor, tmp_path: Path
) -> None:
    def press_stop(record: Any) -> None:
        if record.event == "spinning":
            threading.Timer(0.3, _thread.interrupt_main).start()

    runtime = RuntimeContext(logger=[Arrivals(on_log=press_stop)])
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    orchestrator = Orchestrator(registry(Add("load", 2), Spin()), context, executor=executor)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()
    assert time.perf_counter() - started < 30  # the spin step would run 60 s
    assert marks(tmp_path) == ["rollback spin", marks(tmp_path)[1]]
    assert marks(tmp_path)[1].startswith("rollback load")
    state = runtime.recorder.run
    assert state.phase == "interrupted"
    assert [s.label for s in state.steps] == ["rolled back", "interrupted, rolled back"]
    assert state.outcome() == "interrupted at 'spin' - rolled back 2 steps"
    # The worker is free again: the next run on the same executor works.
    again = WorkCtx(runtime_ctx=RuntimeContext(display="off"), marks=str(tmp_path))
    assert Orchestrator(registry(Add("load", 2)), again, executor=executor).execute()["success"]


def test_a_killed_worker_ends_the_run_as_failed_with_a_clear_error(
    executor: RayExecutor, tmp_path: Path
) -> None:
    def kill_worker(record: Any) -> None:
        if record.event == "spinning":
            os.kill(record.data["pid"], signal.SIGKILL)

    runtime = RuntimeContext(logger=[Arrivals(on_log=kill_worker)])
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    started = time.perf_counter()
    orchestrator = Orchestrator(registry(Add("load", 2), Spin()), context, executor=executor)
    with (
        pytest.warns(UnfinishedRunWarning, match="'load'"),
        pytest.raises(WorkerDiedError, match="Ray worker running 'WorkCtx' died") as caught,
    ):
        orchestrator.execute()
    assert time.perf_counter() - started < 30
    assert "could not be rolled back" in str(caught.value)
    state = runtime.recorder.run
    assert state.phase == "failed"
    assert [s.status for s in state.steps] == ["done", "failed"]
    assert state.steps[1].error_type == "WorkerDiedError"
    assert marks(tmp_path) == []


def test_a_killed_worker_leaves_its_completed_steps_to_recover_from_the_driver_s_journal(
    executor: RayExecutor, tmp_path: Path
) -> None:
    # The journal is written on the driver, from the records the worker streamed: the steps the
    # dead worker could not roll back stay journaled, and recover() undoes them here.
    def kill_worker(record: Any) -> None:
        if record.event == "spinning":
            os.kill(record.data["pid"], signal.SIGKILL)

    runtime = RuntimeContext(logger=[Arrivals(on_log=kill_worker)])
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    journal = tmp_path / "journal.sqlite3"
    reg = registry(Add("load", 2), Add("fit", 2), Spin())
    orchestrator = Orchestrator(reg, context, executor=executor, journal=journal)
    with (
        pytest.warns(UnfinishedRunWarning, match=r"'load', 'fit'.*died.*recover\("),
        pytest.raises(WorkerDiedError),
    ):
        orchestrator.execute()
    (info,) = unfinished_runs(journal)
    assert not info.owner_alive  # left for recovery, though this process lives on
    assert info.to_roll_back == ("fit", "load")
    report = recover(info.run_id, reg, WorkCtx(runtime_ctx=runtime, marks=str(tmp_path)), journal)
    assert report.rolled_back == ("fit", "load")
    assert marks(tmp_path) == [
        f"rollback fit pid={os.getpid()}",
        f"rollback load pid={os.getpid()}",
    ]
    assert unfinished_runs(journal) == []


def test_after_the_driver_dies_its_journal_recovers_the_steps_its_worker_completed(
    ray_cluster: str, tmp_path: Path
) -> None:
    # docs/architecture.md: a remote run is journaled on the driver; when the driver dies, Ray
    # stops its worker, and recover() in a new process undoes the journaled steps.
    journal = tmp_path / "journal.sqlite3"
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("driver_child.py")), ray_cluster,
         str(journal), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("spinning "), line
    worker = int(line.split()[1])
    child.kill()
    child.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)  # the driver's actor went with it, without a rollback
    assert marks(tmp_path) == []
    (info,) = unfinished_runs(journal)
    assert not info.owner_alive
    assert info.to_roll_back == ("fit", "load")
    context = WorkCtx(runtime_ctx=RuntimeContext(display="off"), marks=str(tmp_path))
    reg = registry(Add("load", 2), Add("fit", 2), Spin())
    assert recover(info.run_id, reg, context, journal).rolled_back == ("fit", "load")
    assert marks(tmp_path) == [
        f"rollback fit pid={os.getpid()}",
        f"rollback load pid={os.getpid()}",
    ]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_train_action_runs_remotely_with_the_same_result(executor: RayExecutor) -> None:
    runtime = RuntimeContext(display="off")
    action = SweepTrain(SweepParams(lr=0.5, epochs=3, seconds=0.01), runtime, executor=executor)
    result = action.run()
    assert result == {"success": True, "steps_executed": 1, "steps_total": 2,
                      "result": {"loss": 0.5 / 3}}  # fmt: skip
    assert action.context is not None
    assert action.context.runtime_ctx is runtime
    assert runtime.recorder.run.metrics.latest() == {"train": {"loss": 0.5 / 3}}


def test_a_workflow_that_cannot_travel_is_refused_before_anything_runs(
    executor: RayExecutor, tmp_path: Path
) -> None:
    step = Add("load", 2)
    step.lock = threading.Lock()  # type: ignore[attr-defined]
    runtime = RuntimeContext(display="off")
    context = WorkCtx(runtime_ctx=runtime, marks=str(tmp_path))
    with pytest.raises(UsageError, match="workflow 'WorkCtx' cannot be sent to a Ray worker"):
        Orchestrator(registry(step), context, executor=executor).execute()
    assert runtime.recorder.run.phase == "idle"
    assert context.total == 0
