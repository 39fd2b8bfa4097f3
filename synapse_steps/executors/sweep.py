"""Sweeps: N variants of a train action side by side, one combined live view, one table.

Each variant gets its own ``RuntimeContext`` (its own store and ``RunState``) whose only front
end is a row of the combined ``SweepView``. With a ``RayExecutor`` the variants run in parallel
on the cluster; with any other executor (or none) one after another in this process.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import UsageError
from synapse_steps.executors.sweep_view import SweepRow, SweepView, row_view
from synapse_steps.run_state import RunState
from synapse_steps.steps.orchestrator import Orchestrator, execute_all

if TYPE_CHECKING:
    import pandas as pd


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values: ``grid(lr=[0.1, 0.01], epochs=[2, 4])`` is 4 dicts."""
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


@dataclass
class SweepRun:
    """One variant: its params, how it ended, its result (or error) and its run's state."""

    name: str
    params: dict[str, Any]
    runtime: RuntimeContext
    status: str = "pending"
    result: dict[str, Any] | None = None
    error: BaseException | None = None

    @property
    def state(self) -> RunState:
        return self.runtime.recorder.run

    @property
    def outcome(self) -> str:
        """``succeeded``, ``failed at 'train'``, ``interrupted at 'train'``, ``failed`` ..."""
        finish = self.state.finish
        if self.status == "succeeded" or finish is None or not finish.failed_step:
            return self.status
        return f"{self.status} at '{finish.failed_step}'"

    @property
    def reason(self) -> str:
        """Why it did not succeed: its step's error, else the error it raised ("" if none)."""
        if self.status == "succeeded":
            return ""
        failure = self.state.failure
        if failure is not None:
            return failure.error
        return "" if self.error is None else str(self.error)

    @property
    def final_metrics(self) -> dict[str, float]:
        """The last value of each metric (``category/metric`` when several categories)."""
        return self.state.metrics.latest_by_name()


@dataclass
class SweepRuns:
    """The variants of a sweep, in the order given."""

    runs: list[SweepRun] = field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, index: int) -> SweepRun:
        return self.runs[index]

    def frame(self) -> pd.DataFrame:
        """One row per run: run, the params that vary, status, error, final metrics."""
        import pandas as pd

        varying = _varying_keys([run.params for run in self.runs])
        rows = []
        for run in self.runs:
            row: dict[str, Any] = {"run": run.name}
            row.update({key: run.params.get(key) for key in varying})
            row["status"] = run.status
            row["error"] = "" if run.error is None else str(run.error)  # never NaN
            row.update(run.final_metrics)
            rows.append(row)
        return pd.DataFrame(rows).set_index("run")

    def table(self) -> list[SweepRow]:
        """Per variant: its params, how it ended, why a failed one failed, its final metrics."""
        return [
            SweepRow(run.name, run.params, run.outcome, run.reason, run.final_metrics)
            for run in self.runs
        ]

    def _repr_html_(self) -> str:
        return str(self.frame().to_html())

    def __repr__(self) -> str:
        statuses = ", ".join(f"{run.name}: {run.status}" for run in self.runs)
        return f"<SweepRuns {len(self.runs)} runs: {statuses}>"


def _varying_keys(params: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for entry in params:
        keys.extend(key for key in entry if key not in keys)
    if len(params) < 2:
        return keys
    return [k for k in keys if len({repr(entry.get(k)) for entry in params}) > 1] or keys


def run_sweep(
    action_class: type[Any],
    variants: Sequence[Any],
    *,
    executor: Any,
    names: Sequence[str] | None,
    display: str | None,
    max_parallel: int | None,
) -> SweepRuns:
    __tracebackhide__ = True
    if not variants:
        raise UsageError("sweep() needs at least one params variant; got an empty list")
    if names is not None and len(names) != len(variants):
        raise UsageError(f"sweep() got {len(names)} names for {len(variants)} variants")
    model = action_class.params_model()
    params = [v if isinstance(v, model) else model.model_validate(dict(v)) for v in variants]
    labels = list(names) if names is not None else [f"run {i + 1}" for i in range(len(params))]
    shown = _shown_params(params, variants)
    view = SweepView(labels, shown, display=display)
    sweep = SweepRuns()
    actions = []
    for label, validated, given in zip(labels, params, shown, strict=True):
        runtime = RuntimeContext(logger=[row_view(view, len(sweep.runs))])
        sweep.runs.append(SweepRun(label, given, runtime))
        actions.append(action_class(validated, runtime, executor=executor))
    view.attach([run.runtime for run in sweep.runs])
    try:
        if hasattr(executor, "run_all"):
            _run_parallel(sweep, actions, executor, max_parallel)
        else:
            for run, action in zip(sweep.runs, actions, strict=True):
                _settle(run, action, lambda action=action: action.run())
    except BaseException:
        view.close()  # an interrupt: the rows as they are, live
        raise
    view.close(sweep.table())  # the view gives way to the sweep's static table
    return sweep


def _run_parallel(sweep: SweepRuns, actions: list[Any], executor: Any, limit: int | None) -> None:
    orchestrators = []
    for run, action in zip(sweep.runs, actions, strict=True):
        context = action.create_context()
        action.context = context
        orchestrators.append(
            Orchestrator(action.build_registry(), context, name=type(action).__name__)
        )
        run.status = "running"
    settled = execute_all(orchestrators, executor, max_parallel=limit)
    for run, action, result in zip(sweep.runs, actions, settled, strict=True):
        _settle(run, action, lambda result=result, action=action: _result(action, result))


def _result(action: Any, settled: dict[str, Any] | BaseException) -> dict[str, Any]:
    if isinstance(settled, BaseException):
        raise settled
    result = dict(settled)
    # What BaseTrainAction.run() adds to the orchestrator's result.
    for step_result in action.context.step_results:
        if "train_result" in step_result.data:
            result["result"] = step_result.data["train_result"]
    if action.context.model and "id" in action.context.model:
        result["model_id"] = action.context.model["id"]
    return result


def _settle(run: SweepRun, action: Any, call: Any) -> None:
    """Run ``call``; a failing variant is recorded, not raised (the others go on)."""
    try:
        run.result = call()
        run.status = "succeeded"
    except Exception as exc:
        run.error = exc
        run.status = run.state.phase if run.state.phase in ("failed", "interrupted") else "failed"


def _shown_params(validated: list[Any], given: Sequence[Any]) -> list[dict[str, Any]]:
    """Per variant, the params any variant set (dict keys, or fields set on a params object)."""
    keys: list[str] = []
    for entry in given:
        names = entry if isinstance(entry, Mapping) else entry.model_dump(exclude_unset=True)
        keys.extend(key for key in names if key not in keys)
    return [{key: getattr(params, key, None) for key in keys} for params in validated]
