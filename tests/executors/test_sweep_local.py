"""``sweep`` without Ray: variants one after another, the console form of the combined view."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.errors import UsageError
from synapse_steps.executors.sweep import run_sweep


class Params(BaseTrainParams):
    lr: float = 0.1
    fail: bool = False


class Fit(BaseTrainAction[Params]):
    def execute(self, context: TrainContext) -> dict[str, Any]:
        for epoch in range(3):
            context.set_progress(epoch + 1, 3)
            context.set_metrics({"epoch": epoch, "loss": self.params.lr / (epoch + 1)})
        if self.params.fail:
            raise RuntimeError("diverged")
        return {"done": True}


def test_console_view_prints_a_line_per_status_change_and_the_table_compares_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = run_sweep(
        Fit, [{"lr": 0.5}, {"lr": 0.25, "fail": True}], executor=None, names=["a", "b"],
        display="console", max_parallel=None,
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[a] running",
        "[a] running train",
        "[a] running  loss=0.1667",
        "[a] succeeded  loss=0.1667",
        "[b] running",
        "[b] running train",
        "[b] rolling back  loss=0.08333",
        "[b] failed at train: diverged  loss=0.08333",
        # The sweep's static table, when it ends.
        "Sweep: 2 runs, 1 succeeded, 1 did not",
        "run  lr    fail   outcome            reason    loss",
        "---  ----  -----  -----------------  --------  -------",
        "a    0.5   False  succeeded                    0.1667",
        "b    0.25  True   failed at 'train'  diverged  0.08333",
    ]
    frame = runs.frame()
    assert frame.drop(columns="error").to_dict(orient="index") == {
        "a": {"lr": 0.5, "fail": False, "status": "succeeded", "loss": 0.5 / 3},
        "b": {"lr": 0.25, "fail": True, "status": "failed", "loss": 0.25 / 3},
    }
    # A succeeded run has no error: an empty text, not NaN.
    assert frame["error"].tolist() == ["", "Step 'train' failed: diverged"]
    assert not frame["error"].isna().any()
    assert runs[0].result == {
        "success": True, "steps_executed": 1, "steps_total": 2, "result": {"done": True}
    }  # fmt: skip


def test_sweep_refuses_no_variants_and_mismatched_names() -> None:
    with pytest.raises(UsageError, match="at least one params variant"):
        run_sweep(Fit, [], executor=None, names=None, display="off", max_parallel=None)
    with pytest.raises(UsageError, match="2 names for 1 variants"):
        run_sweep(Fit, [{}], executor=None, names=["a", "b"], display="off", max_parallel=None)
