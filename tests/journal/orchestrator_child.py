"""A child process for the orchestrator crash tests: a real ``Orchestrator`` with real steps.

Each step creates a file ``side_<name>`` in WORK and returns ``rollback_data={"path": Path}``;
its rollback deletes the file. Logs in WORK (each line appended and flushed, so they survive a
kill):

* ``started.log``: a step's name when its ``execute`` is entered;
* ``returned.log``: a step's name just before its ``execute`` returns successfully;
* ``calls.log``: one line per rollback call (in the run or in a recovery), ``deleted.log`` one
  per file a rollback actually removed;
* ``ended.log``: the run's outcome once ``execute`` returned or raised.

Modes (``entry(argv, ready)`` from a fork server, or ``python orchestrator_child.py ...``):

    run JOURNAL WORK STEPS FAIL_AT SLEEP_MS     FAIL_AT: a step index that raises, or -1
    recover JOURNAL WORK RUN_ID STEPS SLEEP_MS
    keep JOURNAL WORK                           a kept run (on_failure="keep"), then sleeps
    concurrent JOURNAL WORK RUNS TAG
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from synapse_steps import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

WORKFLOW = "crashy-files"


def append(path: Path, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line + "\n")
        fh.flush()


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


class FileStep(BaseStep[BaseStepContext]):
    """Creates ``side_<name>``; its rollback deletes it (idempotent)."""

    def __init__(self, name: str, work: Path, fail: bool = False, sleep_ms: float = 0.0) -> None:
        self._name, self.work, self.fail, self.sleep_ms = name, work, fail, sleep_ms

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 1.0

    def _nap(self) -> None:
        if self.sleep_ms:
            time.sleep(random.uniform(0, self.sleep_ms) / 1000)

    def execute(self, context: BaseStepContext) -> StepResult:
        append(self.work / "started.log", self._name)
        side = self.work / f"side_{self._name}"
        side.write_text(self._name)
        for k in range(20):
            context.set_progress(k + 1, 20, "items")
        context.log("made", {"file": side.name})
        self._nap()
        if self.fail:
            raise RuntimeError(f"{self._name} fails on purpose")
        append(self.work / "returned.log", self._name)
        return StepResult(data={"name": self._name}, rollback_data={"path": side})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        # A step that raised has no result of its own: undo what it may have made.
        path = result.rollback_data.get("path", self.work / f"side_{self._name}")
        assert isinstance(path, Path), type(path)
        append(self.work / "calls.log", self._name)
        self._nap()
        try:
            path.unlink()
        except FileNotFoundError:
            return
        append(self.work / "deleted.log", self._name)


def names(steps: int, prefix: str = "") -> list[str]:
    return [f"{prefix}s{i:02d}" for i in range(steps)]


def registry(
    work: Path, steps: int, fail_at: int = -1, sleep_ms: float = 0.0, prefix: str = ""
) -> StepRegistry[BaseStepContext]:
    reg = StepRegistry[BaseStepContext]()
    for i, name in enumerate(names(steps, prefix)):
        reg.register(FileStep(name, work, i == fail_at, sleep_ms))
    return reg


def context() -> BaseStepContext:
    return BaseStepContext(runtime_ctx=RuntimeContext(display="off"))


def run(journal: Path, work: Path, steps: int, fail_at: int, sleep_ms: float) -> None:
    orch = Orchestrator(
        registry(work, steps, fail_at, sleep_ms), context(), name=WORKFLOW, journal=journal
    )
    try:
        orch.execute()
    except RuntimeError:
        append(work / "ended.log", "failed")
    else:
        append(work / "ended.log", "succeeded")


def main(argv: list[str], ready: Any = None) -> None:
    from synapse_steps.journal import recover

    mode, journal, work = argv[0], Path(argv[1]), Path(argv[2])
    if ready is None:
        print("ready", flush=True)
    else:
        ready()
    if mode == "run":
        run(journal, work, int(argv[3]), int(argv[4]), float(argv[5]))
    elif mode == "recover":
        reg = registry(work, int(argv[4]), -1, float(argv[5]))
        recover(argv[3], reg, context(), path=journal)
        append(work / "recovered.log", argv[3])
    elif mode == "keep":
        reg = registry(work, 4, fail_at=2)
        orch = Orchestrator(reg, context(), name=WORKFLOW, journal=journal)
        try:
            orch.execute(on_failure="keep")
        except RuntimeError:
            append(work / "ended.log", "kept")
        time.sleep(60)
    elif mode == "concurrent":
        runs, tag = int(argv[3]), argv[4]
        while not (work / "go").exists():  # all writers start together
            time.sleep(0.001)
        for r in range(runs):
            reg = registry(work, 5, prefix=f"{tag}-{r}-")
            Orchestrator(reg, context(), name=f"{tag}", journal=journal).execute()
            append(work / f"{tag}.log", str(r))
    else:
        raise SystemExit(f"unknown mode {mode}")


def entry(argv: list[str], ready: Any) -> None:
    main(argv, ready.set)


if __name__ == "__main__":
    main(sys.argv[1:])
