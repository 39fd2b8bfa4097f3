"""A child process for the crash test with hostile text: a real ``Orchestrator`` whose step
names, workflow name and rollback errors are not valid UTF-8 (lone surrogates, as
``os.listdir`` gives a file name's undecodable bytes).

Each step creates a file ``side_<name>`` in WORK (its name's surrogates become raw bytes on
disk) and returns ``rollback_data={"path": Path}``; its rollback deletes the file, and the
rollback of every step in ``FAILING`` then raises an error whose text holds a lone surrogate.
Logs in WORK, one name per line (written with ``surrogatepass``, flushed, so they survive a kill):

* ``started.log`` / ``returned.log``: a step's ``execute`` entered / about to return;
* ``calls.log``: one line per rollback call (in the run or in a recovery), ``deleted.log`` one
  per file a rollback actually removed;
* ``ended.log``: the run's outcome once ``execute`` returned or raised.

Modes (``entry(argv, ready)`` from a fork server):

    run JOURNAL WORK STEPS FAIL_AT SLEEP_MS     FAIL_AT: a step index that raises, or -1
    recover JOURNAL WORK RUN_ID STEPS SLEEP_MS
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from synapse_steps import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

WORKFLOW = "hostile \udcff files"


#: A lone high surrogate: not the stand-in for any byte, so no file name holds it. (Never
#: followed by a low one here: JSON reads such a pair back as the one character it encodes.)
HIGH = "\ud800"


def names(steps: int) -> list[str]:
    # \udcff and \udc80: the bytes 0xFF and 0x80 of a file name, as os.listdir decodes them.
    return [f"s{i:02d}_\udcff\udc80{'' if i % 2 else HIGH}" for i in range(steps)]


def failing(steps: int) -> set[str]:
    """The steps whose rollback raises (after it removed the step's file)."""
    return {name for i, name in enumerate(names(steps)) if i % 3 == 1}


def undo_error(name: str) -> str:
    return f"OSError: undo of {name} left \udcfe behind"


def append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(line + "\n")
        fh.flush()


def lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8", errors="surrogatepass").splitlines()


def side(work: Path, name: str) -> Path:
    # A file name: the lone \ud800 has no byte to stand for, the others do.
    return work / f"side_{name.replace(HIGH, 'X')}"


class HostileStep(BaseStep[BaseStepContext]):
    def __init__(
        self, name: str, work: Path, *, fail: bool, undo_fails: bool, sleep_ms: float
    ) -> None:
        self._name, self.work, self.fail = name, work, fail
        self.undo_fails, self.sleep_ms = undo_fails, sleep_ms

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
        path = side(self.work, self._name)
        path.write_text("x")
        context.log("made", {"file": path.name})
        self._nap()
        if self.fail:
            raise RuntimeError(f"{self._name} fails on purpose")
        append(self.work / "returned.log", self._name)
        return StepResult(data={"name": self._name}, rollback_data={"path": path})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        path = result.rollback_data.get("path", side(self.work, self._name))
        assert isinstance(path, Path), type(path)
        append(self.work / "calls.log", self._name)
        self._nap()
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        else:
            append(self.work / "deleted.log", self._name)
        if self.undo_fails:
            raise OSError(undo_error(self._name).removeprefix("OSError: "))


def registry(
    work: Path, steps: int, fail_at: int = -1, sleep_ms: float = 0.0
) -> StepRegistry[BaseStepContext]:
    reg = StepRegistry[BaseStepContext]()
    bad = failing(steps)
    for i, name in enumerate(names(steps)):
        reg.register(
            HostileStep(name, work, fail=i == fail_at, undo_fails=name in bad, sleep_ms=sleep_ms)
        )
    return reg


def context() -> BaseStepContext:
    return BaseStepContext(runtime_ctx=RuntimeContext(display="off"))


def main(argv: list[str], ready: Any) -> None:
    from synapse_steps.journal import recover

    mode, journal, work = argv[0], Path(argv[1]), Path(argv[2])
    ready()
    if mode == "run":
        reg = registry(work, int(argv[3]), int(argv[4]), float(argv[5]))
        orchestrator = Orchestrator(reg, context(), name=WORKFLOW, journal=journal)
        try:
            orchestrator.execute()
        except RuntimeError:
            append(work / "ended.log", "failed")
        else:
            append(work / "ended.log", "succeeded")
    elif mode == "recover":
        reg = registry(work, int(argv[4]), -1, float(argv[5]))
        recover(argv[3], reg, context(), path=journal)
        append(work / "recovered.log", argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")


def entry(argv: list[str], ready: Any) -> None:
    main(argv, ready.set)
