"""A user's notebook passes ``pytest --nbval`` with no sanitize file in deterministic mode.

The notebook is written here the way a user would: steps with progress and metrics, a run that
succeeds, one that fails and rolls back (a cell tagged ``raises-exception``), the console and
HTML front ends, and the recorder's table. It is executed once with nbclient (as saving it from
JupyterLab would), then checked by nbval twice, each time in a fresh kernel, with
``SYNAPSE_STEPS_DETERMINISTIC=1`` and nothing masked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    """\
import time
from dataclasses import dataclass, field

from synapse_steps.context import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


@dataclass
class Ctx(BaseStepContext):
    rows: list[int] = field(default_factory=list)


class Load(BaseStep[Ctx]):
    name = "load"
    progress_weight = 0.3

    def execute(self, context: Ctx) -> StepResult:
        for i in range(20):
            context.rows.append(i)
            context.set_progress(i + 1, 20)
            time.sleep(0.003)
        return StepResult(data={"rows": len(context.rows)}, rollback_data={"n": 20})

    def rollback(self, context: Ctx, result: StepResult) -> None:
        context.rows.clear()


class Train(BaseStep[Ctx]):
    name = "train"
    progress_weight = 0.7

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def execute(self, context: Ctx) -> StepResult:
        for epoch in range(10):
            context.set_metrics({"loss": 1 / (epoch + 1), "epoch": epoch})
            context.set_progress(epoch + 1, 10)
            time.sleep(0.005)
        if self.fail:
            raise ValueError("the loss went up")
        return StepResult(data={"loss": 0.1})


def workflow(fail: bool = False) -> StepRegistry[Ctx]:
    registry = StepRegistry[Ctx]()
    registry.register(Load())
    registry.register(Train(fail))
    return registry""",
    "workflow()",
    "context = Ctx()\nOrchestrator(workflow(), context).execute()",
    "Orchestrator(workflow(fail=True), Ctx()).execute()",
    'Orchestrator(workflow(), Ctx(runtime_ctx=RuntimeContext(display="console"))).execute()',
    'Orchestrator(workflow(), Ctx(runtime_ctx=RuntimeContext(display="text"))).execute()',
    'context.runtime_ctx.recorder.steps_frame()[["step", "status", "error"]]',
]
RAISES = {3}


def _write_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    for index, source in enumerate(CELLS):
        cell = nbformat.v4.new_code_cell(source)
        if index in RAISES:
            cell.metadata["tags"] = ["raises-exception"]
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    NotebookClient(notebook, timeout=120, kernel_name="python3", record_timing=False).execute(
        cwd=str(path.parent)
    )
    nbformat.write(notebook, path)


def _nbval(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            f"--rootdir={path.parent}",
            path.name,
        ],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_user_notebook_passes_nbval_without_sanitizing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    path = tmp_path / "my_workflow.ipynb"
    _write_notebook(path)
    saved = nbformat.read(path, as_version=4)
    text = "".join(str(output) for cell in saved.cells for output in cell.get("outputs", []))
    # What the notebook shows: a finished run, a failure with its rollback, console progress.
    assert "…s" in text
    assert "rolled back" in text
    assert "train: 10/10 (100%)" in text
    assert saved.cells[3].outputs[-1].output_type == "error"

    env = dict(os.environ)
    for attempt in (1, 2):
        result = _nbval(path, env)
        assert result.returncode == 0, f"nbval run {attempt}:\n{result.stdout}\n{result.stderr}"
        assert f"{len(CELLS)} passed" in result.stdout, result.stdout
