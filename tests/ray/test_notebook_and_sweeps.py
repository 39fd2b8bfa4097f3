"""Notebook-defined steps shipped by value through a real kernel; sweeps; Ray missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from ray_steps import SweepParams, SweepTrain

from synapse_steps.executors.ray import RayExecutor, sweep
from synapse_steps.executors.sweep import grid

NOTEBOOK_CELLS = [
    """
    import os
    from dataclasses import dataclass
    from synapse_steps import (BaseStep, BaseStepContext, Orchestrator, RuntimeContext,
                               StepFailedError, StepRegistry, StepResult)
    from synapse_steps.executors.ray import RayExecutor

    @dataclass
    class CellContext(BaseStepContext):
        words: list | None = None
        pid: int = 0

    class Shout(BaseStep[CellContext]):
        name = "shout"
        progress_weight = 1.0
        def execute(self, context):
            context.words = [w.upper() for w in ["ray", "from", "a", "cell"]]
            context.pid = os.getpid()
            context.set_metrics({"words": len(context.words)})
            return StepResult()

    class Fail(BaseStep[CellContext]):
        name = "fail_in_cell"
        progress_weight = 1.0
        def execute(self, context):
            raise KeyError("missing from the cell")
    """,
    """
    ex = RayExecutor(address=ADDRESS)
    registry = StepRegistry()
    registry.register(Shout())
    context = CellContext(runtime_ctx=RuntimeContext(display="off"))
    result = Orchestrator(registry, context, executor=ex).execute()
    print(result, context.words, context.pid != os.getpid(), type(context).__module__)
    state = context.runtime_ctx.recorder.run
    print(state.outcome(), state.metrics.latest())
    """,
    """
    registry.register(Fail())
    try:
        Orchestrator(registry, context, executor=ex).execute()
    except StepFailedError as failure:
        remote = str(failure.__cause__)
        print("FAILED", failure.step, "|", "KeyError: 'missing from the cell'" in remote)
    ex.shutdown()
    """,
]


def test_notebook_defined_steps_travel_by_value_through_a_real_kernel(
    ray_cluster: str, tmp_path: Path
) -> None:
    notebook = nbformat.v4.new_notebook()
    cells = [f"ADDRESS = {ray_cluster!r}"] + [textwrap.dedent(c).strip() for c in NOTEBOOK_CELLS]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(notebook, timeout=240, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells]
    assert outputs[2].splitlines() == [
        "{'success': True, 'steps_executed': 1, 'steps_total': 1} ['RAY', 'FROM', 'A', 'CELL'] "
        "True __main__",
        "succeeded - 1 of 1 steps executed {'shout': {'words': 4.0}}",
    ]
    assert outputs[3].strip() == "FAILED fail_in_cell | True"


def test_a_sweep_of_four_with_one_failing_rolls_that_one_back_and_finishes_the_others(
    executor: RayExecutor,
) -> None:
    variants = [
        {"lr": 0.1},
        {"lr": 0.2},
        {"lr": 0.3, "fail": True},
        SweepParams(lr=0.4),
    ]
    runs = sweep(SweepTrain, variants, executor=executor, display="off")
    assert [run.status for run in runs] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert runs[2].error is not None
    assert "diverged at lr=0.3" in str(runs[2].error)
    assert [s.label for s in runs[2].state.steps] == ["failed, rolled back", "not run"]
    assert runs[0].result == {
        "success": True, "steps_executed": 1, "steps_total": 2, "result": {"loss": 0.1 / 4}
    }  # fmt: skip
    frame = runs.frame()
    assert list(frame.index) == ["run 1", "run 2", "run 3", "run 4"]
    assert list(frame.columns) == ["lr", "fail", "status", "error", "loss"]
    assert list(frame["lr"]) == [0.1, 0.2, 0.3, 0.4]
    assert list(frame["loss"]) == [0.1 / 4, 0.2 / 4, 0.3 / 4, 0.4 / 4]
    assert frame["error"].iloc[2].startswith("Step 'train' failed: diverged")


def test_sweep_without_ray_runs_the_variants_here_one_after_another() -> None:
    runs = sweep(SweepTrain, grid(lr=[0.1, 0.2], epochs=[1, 2]), display="off")
    assert [r.params for r in runs] == grid(lr=[0.1, 0.2], epochs=[1, 2])
    assert [r.status for r in runs] == ["succeeded"] * 4
    assert list(runs.frame()["loss"]) == [0.1, 0.1 / 2, 0.2, 0.2 / 2]


def test_without_ray_using_the_executor_names_the_extra(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ray"] = None  # as if Ray were not installed
        import synapse_steps
        from synapse_steps.executors.ray import RayExecutor
        from synapse_steps import MissingDependencyError
        try:
            RayExecutor()
        except MissingDependencyError as error:
            print(isinstance(error, ImportError), error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.startswith("True RayExecutor needs Ray, which is not installed.")
    assert "pip install 'synapse-steps[ray]'" in out


def test_importing_synapse_steps_and_its_executors_does_not_import_ray() -> None:
    code = (
        "import sys, synapse_steps, synapse_steps.executors, synapse_steps.executors.ray; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
