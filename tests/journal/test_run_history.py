"""The run history (issue 18): ``journal.runs()`` lists runs of every outcome, newest first;
``unfinished_runs()`` shows as a table with the call that recovers or abandons each run; the next
run of a workflow opens its view with how the previous run ended when no view could say it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import orchestrator_child
import pandas as pd
import pytest
from orchestrator_child import WORKFLOW, lines, registry

from synapse_steps import NotFoundError, UsageError
from synapse_steps.context import RuntimeContext
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.events import RunNotice
from synapse_steps.journal import (
    RunHistory,
    UnfinishedRunWarning,
    abandon,
    recover,
    runs,
    unfinished_runs,
)
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["orchestrator_child"])


class Fit(BaseStep[BaseStepContext]):
    """Reports ``epochs`` losses; fails, is interrupted, or has a rollback that raises."""

    progress_weight = 1.0

    def __init__(
        self,
        name: str,
        epochs: int = 3,
        *,
        fail: bool = False,
        interrupt: bool = False,
        undo_fails: bool = False,
        scale: float = 1.0,
    ) -> None:
        self._name, self.epochs, self.fail, self.interrupt = name, epochs, fail, interrupt
        self.undo_fails, self.scale = undo_fails, scale

    @property
    def name(self) -> str:
        return self._name

    def execute(self, context: BaseStepContext) -> StepResult:
        for epoch in range(self.epochs):
            context.set_metrics({"loss": self.scale / (epoch + 1), "epoch": epoch}, "train")
        if self.interrupt:
            raise KeyboardInterrupt
        if self.fail:
            raise ValueError("loss is NaN")
        return StepResult(data={"epochs": self.epochs})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        if self.undo_fails:
            raise OSError("the checkpoint folder is read-only")


def _execute(
    journal: Path, *steps: BaseStep[BaseStepContext], **kwargs: Any
) -> BaseException | None:
    reg = StepRegistry[BaseStepContext]()
    for step in steps:
        reg.register(step)
    runtime = kwargs.pop("runtime", None) or RuntimeContext(display="off")
    orchestrator = Orchestrator(
        reg, BaseStepContext(runtime_ctx=runtime), name=kwargs.pop("name", "fit"), journal=journal
    )
    try:
        orchestrator.execute(**kwargs)
    except BaseException as exc:
        return exc
    return None


def _spawn(*args: str) -> Any:
    ready = _CONTEXT.Event()
    proc = _CONTEXT.Process(target=orchestrator_child.entry, args=(list(args), ready))
    proc.start()
    assert ready.wait(timeout=60), "the child did not start"
    return proc


def _killed_kept_run(journal: Path, work: Path) -> str:
    """A child keeps s00, s01 (s02 failed and was rolled back), then is killed."""
    work.mkdir()
    proc = _spawn("keep", str(journal), str(work))
    while not lines(work / "ended.log"):
        time.sleep(0.005)
    (info,) = [i for i in unfinished_runs(journal) if i.owner_alive and i.workflow == WORKFLOW]
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return info.run_id


def test_runs_of_every_outcome_newest_first(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    assert _execute(journal, Fit("prepare"), Fit("train", 4)) is None
    assert isinstance(_execute(journal, Fit("prepare"), Fit("train", fail=True)), Exception)
    assert isinstance(
        _execute(journal, Fit("prepare", undo_fails=True), Fit("train", fail=True)), Exception
    )
    assert isinstance(
        _execute(journal, Fit("prepare"), Fit("train", interrupt=True), Fit("save")),
        KeyboardInterrupt,
    )
    kept = _execute(journal, Fit("prepare"), Fit("train", fail=True), on_failure="keep")
    assert isinstance(kept, Exception)
    _killed_kept_run(journal, tmp_path / "dead")
    recovered = _killed_kept_run(journal, tmp_path / "recovered")
    recover(recovered, registry(tmp_path / "recovered", 4), orchestrator_child.context(), journal)
    abandoned = _killed_kept_run(journal, tmp_path / "abandoned")
    abandon(abandoned, path=journal)

    history = runs(path=journal)
    assert isinstance(history, RunHistory)
    statuses = [(run.workflow, run.status) for run in history]
    assert statuses == [
        (WORKFLOW, "abandoned"),
        (WORKFLOW, "recovered"),
        (WORKFLOW, "unfinished"),
        ("fit", "kept"),
        ("fit", "interrupted"),
        ("fit", "rollback failed"),
        ("fit", "failed"),
        ("fit", "succeeded"),
    ]
    started = [run.started_at for run in history]
    assert started == sorted(started, reverse=True)
    by_status = {run.status: run for run in history}

    ok = by_status["succeeded"]
    assert (ok.steps_completed, ok.steps_total, ok.stopped_at, ok.reason) == (2, 2, None, None)
    assert ok.outcome == "succeeded"
    assert ok.duration is not None
    assert ok.duration >= 0
    assert ok.metrics == {"loss": 0.25}  # the last value (train: 4 epochs)

    failed = by_status["failed"]
    assert (failed.steps_completed, failed.stopped_at, failed.reason) == (1, "train", "loss is NaN")
    assert failed.outcome == "failed, rolled back 2 steps"

    undo = by_status["rollback failed"]
    assert undo.outcome == "failed, rolled back 1 step; rollback failed for 'prepare'"
    assert undo.rollback_failed == ("prepare",)

    stopped = by_status["interrupted"]
    assert (stopped.stopped_at, stopped.steps_completed, stopped.steps_total) == ("train", 1, 3)
    assert stopped.reason == "interrupted (KeyboardInterrupt)"
    assert stopped.outcome == "interrupted, rolled back 2 steps"

    keeping = by_status["kept"]
    assert keeping.owner_alive
    assert keeping.outcome == "failed; 1 step kept for resume()"
    assert (keeping.stopped_at, keeping.reason) == ("train", "loss is NaN")

    unfinished = by_status["unfinished"]
    assert not unfinished.owner_alive
    assert unfinished.duration is None
    assert unfinished.not_rolled_back == ("s01", "s00")
    assert unfinished.outcome == "process died; 2 steps not rolled back"
    assert unfinished.stopped_at == "s02"
    assert unfinished.reason == "s02 fails on purpose; then the process died"

    assert by_status["recovered"].outcome == "process died; recovered: rolled back 3 steps"
    assert by_status["abandoned"].outcome == "process died; abandoned: 2 steps left as they were"

    # One workflow, a limit.
    assert [run.status for run in runs("fit", limit=2, path=journal)] == ["kept", "interrupted"]
    assert runs("nothing-ran", path=journal) == []


def test_the_history_shows_as_a_table_text_and_a_frame(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    _execute(journal, Fit("prepare"), Fit("train", 4))
    _execute(journal, Fit("prepare"), Fit("train", fail=True))
    history = runs("fit", path=journal)

    text = repr(history)
    assert str(history) == text
    assert text.splitlines()[0] == f"2 runs of workflow 'fit', newest first (journal {journal})"
    header = text.splitlines()[1].split()
    assert header[:3] == ["run", "started", "took"]
    assert history[0].run_id in text.splitlines()[3]
    assert "failed, rolled back 2 steps" in text
    assert "loss=0.25" in text

    markup = history._repr_html_()
    assert markup.count("<tr>") == 3  # the header and two runs
    assert '<span class="sst-bad">failed, rolled back 2 steps</span>' in markup
    assert '<span class="sst-ok">succeeded</span>' in markup
    assert 'body[data-jp-theme-light="false"] .sst-bad' in markup  # the dark theme's colours
    assert "<script" not in markup

    frame = history.frame()
    assert list(frame.columns) == [
        "run_id",
        "workflow",
        "started",
        "duration_s",
        "status",
        "outcome",
        "steps_completed",
        "steps_total",
        "stopped_at",
        "reason",
        "loss",
    ]
    assert frame["status"].tolist() == ["failed", "succeeded"]
    # No NaN where there is nothing to say: a succeeded run has an empty reason.
    for column in ("stopped_at", "reason", "outcome"):
        assert not frame[column].isna().any(), frame[column]
    assert frame["reason"].tolist() == ["loss is NaN", ""]
    assert frame["loss"].tolist() == [pytest.approx(1 / 3), 0.25]
    assert isinstance(frame["started"].iloc[0], pd.Timestamp)


def test_an_empty_journal_says_so(tmp_path: Path) -> None:
    history = runs(path=tmp_path / "never-written.sqlite3")
    assert history == []
    assert repr(history).startswith("No runs of all workflows in the journal")
    assert "No runs" in history._repr_html_()


def test_bad_arguments_are_refused_with_what_was_given(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"limit=.*got 0"):
        runs(limit=0, path=tmp_path)
    with pytest.raises(UsageError, match=r"workflow=.*got 3"):
        runs(3, path=tmp_path)  # type: ignore[arg-type]


def test_plot_metrics_overlays_a_metric_across_runs(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    for scale in (1.0, 2.0, 3.0):
        _execute(journal, Fit("train", 5, scale=scale))
    _execute(journal, Fit("train", 0))  # reported nothing: not drawn
    history = runs(path=journal)
    figure = history.plot_metrics()
    (ax,) = figure.axes
    assert ax.get_title() == "loss"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")
    drawn = [(line.get_label(), list(line.get_ydata())) for line in ax.lines]
    assert [label.split()[0] for label, _ in drawn] == [run.run_id[:8] for run in history[1:]]
    assert [ys[0] for _, ys in drawn] == [3.0, 2.0, 1.0]  # newest first, every point
    assert all(len(ys) == 5 for _, ys in drawn)
    colours = {line.get_color() for line in ax.lines}
    assert len(colours) == 3

    # Chosen runs (by an id's start), one metric by name.
    picked = history.plot_metrics(run_ids=[history[3].run_id[:10]], metric="loss")
    assert [line.get_ydata()[0] for line in picked.axes[0].lines] == [1.0]
    with pytest.raises(NotFoundError, match=r"'accuracy'.*they reported: loss"):
        history.plot_metrics(metric="accuracy")
    with pytest.raises(NotFoundError, match=r"is not among the 4 runs"):
        history.plot_metrics(run_ids=["ffffffff"])
    # The figure shows itself in a notebook (PNG, and HTML that dark themes turn over).
    bundle, _ = figure._repr_mimebundle_()
    assert "image/png" in bundle


def test_unfinished_runs_show_as_a_table_with_the_commands(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    run_id = _killed_kept_run(journal, tmp_path / "work")
    found = unfinished_runs(journal)
    assert found == [found[0]]  # still the list of RunInfo it always was
    text = repr(found)
    # Not the dataclass's raw repr (~900 characters of datetime(...) and CompletedStep(...)).
    assert "CompletedStep(" not in text
    assert "datetime.datetime" not in text
    assert text.splitlines()[0] == "1 unfinished run, oldest first"
    recover_call = f"recover('{run_id}', registry, context, path={str(journal)!r})"
    abandon_call = f"abandon('{run_id}', path={str(journal)!r})"
    assert f"undo its steps: {recover_call}" in text
    assert f"or keep them:   {abandon_call}" in text
    assert "s01, s00" in text  # what recover would roll back, in its order
    assert text.splitlines()[3].endswith("  died")  # its pid and host tell nothing more
    markup = found._repr_html_()
    assert f"<code>{recover_call}</code>" in markup
    assert f"<code>{abandon_call}</code>" in markup
    assert markup.count("<tr>") == 2
    # The default store's runs need no path.
    assert "path=" not in repr(unfinished_runs()) or not unfinished_runs()
    assert repr(unfinished_runs(tmp_path / "empty.sqlite3")).startswith("No unfinished runs")


def test_the_next_run_opens_with_the_killed_run_and_how_to_recover_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    run_id = _killed_kept_run(journal, tmp_path / "work")
    other = tmp_path / "other"
    other.mkdir()
    lines_out: list[str] = []

    class Lines:
        def write(self, text: str) -> None:
            lines_out.extend(text.splitlines())

        def flush(self) -> None:
            pass

    console = ConsoleLogger(stream=Lines())  # type: ignore[arg-type]
    runtime = RuntimeContext(logger=[console])
    reg = registry(other, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Orchestrator(
            reg, BaseStepContext(runtime_ctx=runtime), name=WORKFLOW, journal=journal
        ).execute()
    # Said once, in the run's own view, instead of a warning beside it.
    assert not [w for w in caught if issubclass(w.category, UnfinishedRunWarning)]
    assert lines_out[0].startswith("Run: 2 steps")
    notice = lines_out[1]
    assert notice.startswith("note: The previous run (")
    assert "did not finish: its process died at 's02' with 2 steps not rolled back (s01, s00)" in (
        notice
    )
    assert f"recover('{run_id}', registry, context, path={str(journal)!r})" in notice
    assert f"abandon('{run_id}', path={str(journal)!r})" in notice
    # The run's state has it: every front end (view, record) shows it.
    (record,) = [r for r in runtime.recorder.run.notices]
    assert record == notice.removeprefix("note: ")
    # The next run's previous run is that one: nothing more to say.
    lines_out.clear()
    Orchestrator(
        reg, BaseStepContext(runtime_ctx=runtime), name=WORKFLOW, journal=journal
    ).execute()
    assert not any(line.startswith("note:") for line in lines_out)


def test_without_a_view_the_killed_run_is_still_a_warning(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    run_id = _killed_kept_run(journal, tmp_path / "work")
    other = tmp_path / "other"
    other.mkdir()
    runtime = RuntimeContext(display="off")
    with pytest.warns(UnfinishedRunWarning, match=f"recover\\('{run_id}'"):
        Orchestrator(
            registry(other, 2), BaseStepContext(runtime_ctx=runtime), name=WORKFLOW, journal=journal
        ).execute()
    assert runtime.recorder.run.notices == []


def test_a_notice_is_a_record_like_any_other() -> None:
    from synapse_steps.events import record_from_dict, to_dict

    notice = RunNotice("The previous run (12:03) was interrupted at 'train'.", 1.5)
    assert record_from_dict(to_dict(notice)) == notice
