"""A child process for the crash tests: a workflow with file side effects, journaled directly.

    python journal_child.py run JOURNAL WORK STEPS [SLEEP_MS] [BIG_EVERY]
    python journal_child.py run-checkpointing JOURNAL WORK STEPS [SLEEP_MS] [BIG_EVERY]
    python journal_child.py recover JOURNAL WORK RUN_ID [SLEEP_MS]
    python journal_child.py concurrent JOURNAL WORK RUNS STEPS TAG
    python journal_child.py hold JOURNAL WORK
    python journal_child.py cut JOURNAL WORK
    python journal_child.py cut-store JOURNAL WORK

It prints ``ready`` once imported (or sets an Event, see ``entry``), so the parent can time its
SIGKILL from the run's start. Logs
in WORK (each line appended and flushed, so they survive a kill):

* ``run_id``: the run's id, written (atomically) right after ``start_run`` returned;
* ``before.log`` / ``after.log``: a step's name just before ``step_completed`` is called and
  just after it returned;
* ``calls.log``: one line per rollback call made by ``recover``, ``deleted.log`` one per file
  the rollback actually removed.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from synapse_steps.journal import Journal, recover_steps


def _append(path: Path, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line + "\n")
        fh.flush()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run(
    journal: Path, work: Path, steps: int, sleep_ms: float, big_every: int, side_runs: bool = False
) -> None:
    names = [f"s{i:02d}" for i in range(steps)]
    jrun = Journal(journal).start_run("crashy", names, meta={"pid": os.getpid()})
    _write_atomic(work / "run_id", jrun.run_id)
    for i, name in enumerate(names):
        side = work / f"side_{name}"
        side.write_text(name)
        jrun.record({"type": "StepStarted", "position": i, "name": name})
        for k in range(50):
            jrun.record({"type": "ProgressReported", "step": name, "category": None, "current": k})
        rollback_data: dict[str, Any] = {"path": side}
        if big_every and i % big_every == big_every - 1:
            # A few MB to write: a kill lands inside this commit now and then.
            rollback_data["blob"] = "x" * 1_000_000
        _append(work / "before.log", name)
        jrun.step_completed(i, name, {"i": i}, rollback_data)
        _append(work / "after.log", name)
        if side_runs:
            _side_run(journal, work, big=bool(big_every) and i % big_every == big_every - 1)
        time.sleep(random.uniform(0, sleep_ms) / 1000)
    jrun.finish("succeeded")
    _append(work / "finished.log", jrun.run_id)


def _side_run(journal: Path, work: Path, big: bool) -> None:
    """A whole run of another workflow: its end folds it into the store (megabytes if ``big``),
    and with ``CHECKPOINT_BYTES = 1`` asks for a background checkpoint."""
    side = Journal(journal).start_run("side", ["x"])
    side.step_completed(0, "x", {}, {"blob": "z" * (1_000_000 if big else 10)})
    side.finish("succeeded")


def rollback_deleting(work: Path, sleep_ms: float) -> Any:
    def rollback(name: str, data: dict[str, Any], rollback_data: dict[str, Any]) -> None:
        path = rollback_data["path"]
        assert isinstance(path, Path), type(path)
        _append(work / "calls.log", name)
        time.sleep(random.uniform(0, sleep_ms) / 1000)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _append(work / "deleted.log", name)

    return rollback


def concurrent(journal: Path, work: Path, runs: int, steps: int, tag: str) -> None:
    j = Journal(journal)
    while not (work / "go").exists():  # all writers start together
        time.sleep(0.001)
    for r in range(runs):
        jrun = j.start_run(f"{tag}-{r}", [f"s{i}" for i in range(steps)])
        for i in range(steps):
            jrun.record({"type": "Logged", "event": "step", "data": {"i": i, "tag": tag}})
            jrun.record({"type": "MetricsReported", "value": {"loss": 1 / (i + 1)}})
            jrun.step_completed(i, f"s{i}", {"i": i}, {"path": work / f"{tag}-{r}-{i}"})
        jrun.finish("succeeded")
        _append(work / f"{tag}.log", jrun.run_id)


class _KilledBeforeCommit:
    """Stands in for the journal's connection: SIGKILLs the process right after the big entry's
    INSERT, its pages already written to the WAL, before the transaction commits: the file then
    holds a transaction cut in the middle, as a kill at that instant would leave it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @property
    def in_transaction(self) -> bool:
        return bool(self.conn.in_transaction)

    def execute(self, sql: str, params: Any = ()) -> Any:
        result = self.conn.execute(sql, params)
        if sql.startswith("INSERT") and len(str(params)) > 1_000_000:
            os.kill(os.getpid(), signal.SIGKILL)
        return result


def _three_steps(journal: Path, work: Path, workflow: str) -> Any:
    jrun = Journal(journal).start_run(workflow, ["a", "b", "c", "big"])
    _write_atomic(work / "run_id", jrun.run_id)
    for i, name in enumerate(["a", "b", "c"]):
        jrun.step_completed(i, name, {}, {"path": work / name})
    return jrun


def cut(journal: Path, work: Path) -> None:
    """Three steps journaled, then a SIGKILL in the middle of writing the fourth one's entry
    (8 MB) to the run's log: half of its frame is in the file."""
    import synapse_steps.journal._run as run_module

    jrun = _three_steps(journal, work, "cut")

    def half_then_kill(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    run_module.append = half_then_kill  # type: ignore[attr-defined]
    jrun.record({"type": "Logged", "event": "lost with its entry"})
    jrun.step_completed(3, "big", {}, {"path": work / "big", "blob": "y" * 8_000_000})
    print("not cut", flush=True)


def cut_store(journal: Path, work: Path) -> None:
    """Four steps journaled (the last one 8 MB), then a SIGKILL in the middle of ``finish``'s
    transaction, which keeps the ended run in the store."""
    from synapse_steps.journal._store import store_for

    jrun = _three_steps(journal, work, "cut-store")
    jrun.step_completed(3, "big", {}, {"path": work / "big", "blob": "y" * 8_000_000})
    store = store_for(journal)
    # A small page cache makes SQLite spill the big row's pages into the WAL before the commit.
    store.conn.execute("PRAGMA cache_size = 20")
    store.conn = _KilledBeforeCommit(store.conn)  # type: ignore[assignment]
    jrun.finish("succeeded")
    print("not cut", flush=True)


def entry(argv: list[str], ready: Any) -> None:
    """``main`` for a process forked by a multiprocessing fork server: ``ready`` is an Event.

    The crash tests start their many children this way, from a server that has already
    imported synapse_steps: a fresh interpreter per trial would cost 0.3-1 s of imports.
    """
    main(argv, ready.set)


def main(argv: list[str], ready: Any = None) -> None:
    mode, journal, work = argv[0], Path(argv[1]), Path(argv[2])
    if ready is None:
        print("ready", flush=True)
    else:
        ready()
    if mode in ("run", "run-checkpointing"):
        side_runs = mode == "run-checkpointing"
        if side_runs:
            # A side run after each step, each followed by a background checkpoint: kills land
            # inside the side runs' folds and inside checkpoints too.
            import synapse_steps.journal._run as run_module

            run_module.CHECKPOINT_BYTES = 1
        big_every = int(argv[5]) if len(argv) > 5 else 0
        sleep_ms = float(argv[4]) if len(argv) > 4 else 2.0
        run(journal, work, int(argv[3]), sleep_ms, big_every, side_runs)
    elif mode == "recover":
        sleep_ms = float(argv[4]) if len(argv) > 4 else 2.0
        recover_steps(argv[3], rollback_deleting(work, sleep_ms), path=journal)
        _append(work / "recovered.log", argv[3])
    elif mode == "concurrent":
        concurrent(journal, work, int(argv[3]), int(argv[4]), argv[5])
    elif mode == "hold":
        jrun = Journal(journal).start_run("held", ["a", "b"])
        jrun.step_completed(0, "a", {}, {"path": work / "a"})
        _write_atomic(work / "run_id", jrun.run_id)
        time.sleep(60)
    elif mode == "cut":
        cut(journal, work)
    elif mode == "cut-store":
        cut_store(journal, work)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
