"""A sweep's view ends static (issue 18, point 3): the rows give way to one table (per variant:
params, outcome, the reason of a failure, final metrics) and the live rows' output is removed,
so a saved notebook and the offline pages show the sweep once."""

from __future__ import annotations

from typing import Any

from display_helpers import text_of

from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.display.summary import GONE_VIEW
from synapse_steps.executors.sweep import run_sweep


class Params(BaseTrainParams):
    lr: float = 0.1


class Fit(BaseTrainAction[Params]):
    def execute(self, context: TrainContext) -> dict[str, Any]:
        for epoch in range(3):
            loss = (2.0 - self.params.lr * (epoch + 1)) ** 2
            if loss > 10:
                raise RuntimeError(f"diverged at epoch {epoch}")
            context.set_progress(epoch + 1, 3)
            context.set_metrics({"epoch": epoch, "loss": loss})
        return {"loss": loss}


def test_the_sweep_view_gives_way_to_one_static_table(shown: Any) -> None:
    runs = run_sweep(
        Fit,
        [{"lr": 0.5}, {"lr": -5.0}],
        executor=None,
        names=None,
        display="widgets",
        max_parallel=None,
    )
    box, table = shown
    assert repr(box) == ""  # what nbval compares of the view: nothing that changes
    assert shown.replaced == [(box, GONE_VIEW)]
    text = table["text/plain"].splitlines()
    assert text == [
        "Sweep: 2 runs, 1 succeeded, 1 did not",
        "run    lr   outcome            reason               loss",
        "-----  ---  -----------------  -------------------  ----",
        "run 1  0.5  succeeded                               0.25",
        "run 2  -5   failed at 'train'  diverged at epoch 0",
    ]
    markup = table["text/html"]
    assert '<span class="sst-bad">failed at &#x27;train&#x27;</span>' in markup
    assert '<span class="sst-ok">succeeded</span>' in markup
    assert "diverged at epoch 0" in markup
    # While it ran, the failed row said why beside its bar.
    status, _bar, metrics = runs_view_rows(box)[1]
    assert status.value == "failed at train"
    assert text_of(metrics.value) == "diverged at epoch 0"
    assert runs.frame()["error"].tolist() == ["", "Step 'train' failed: diverged at epoch 0"]


def runs_view_rows(box: Any) -> list[tuple[Any, Any, Any]]:
    """Each row's status label, bar and metrics HTML (the widgets keep their last values)."""
    return [(row.children[1], row.children[2], row.children[3]) for row in box.children]
