"""``python -m synapse_steps.demo``: the main job on the embedded defaults, in a terminal.

Generates the sample shapes dataset, imports it into the local backend, and runs a train
action in automatic mode: export -> convert to YOLO -> train a small classifier -> upload the
model. Progress and the final summary go to the console.

Everything it stores (the dataset, the model, the run journal) goes to a temporary store that is
removed when it ends, so trying the demo leaves the user's real store
(``$SYNAPSE_STEPS_HOME``, by default the per-user data folder) as it was. ``--real-store`` keeps
them in the real store instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.context import RuntimeContext
from synapse_steps.training import EpochMetrics, train_crop_classifier


class ShapesParams(BaseTrainParams):
    epochs: int = 15
    learning_rate: float = 0.002


class ShapesTrainAction(BaseTrainAction[ShapesParams]):
    """Trains the crop classifier on a YOLO export of the dataset given in ``params``."""

    target_format = "yolo"

    def execute(self, context: TrainContext) -> dict[str, Any]:
        yolo_root = Path(context.dataset["path"])
        epochs = int(context.params["epochs"])

        def report(metrics: EpochMetrics) -> None:
            context.set_metrics(metrics.as_dict())
            context.set_progress(metrics.epoch + 1, epochs)

        model, history = train_crop_classifier(
            yolo_root, epochs, lr=float(context.params["learning_rate"]), on_epoch=report
        )
        context.model_path = str(model.save(yolo_root.parent / "shapes_classifier.npz"))
        last = history[-1]
        return {
            "classes": model.names,
            "accuracy": last.accuracy,
            "val_accuracy": last.val_accuracy,
        }


@contextmanager
def demo_store(real: bool) -> Iterator[Path | None]:
    """A temporary store for the demo (``SYNAPSE_STEPS_HOME`` while it runs), removed after;
    the user's own store (None) with ``real``."""
    if real:
        yield None
        return
    from synapse_steps.backends._paths import HOME_ENV

    previous = os.environ.get(HOME_ENV)
    with tempfile.TemporaryDirectory(prefix="synapse_steps_demo_store_") as home:
        os.environ[HOME_ENV] = home
        try:
            yield Path(home)
        finally:
            if previous is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synapse_steps.demo", description=__doc__)
    parser.add_argument("--images", type=int, default=200, help="sample images to generate")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--real-store",
        action="store_true",
        help="keep the dataset, the model and the run in your store ($SYNAPSE_STEPS_HOME) "
        "instead of a temporary one removed at the end",
    )
    args = parser.parse_args(argv)
    with demo_store(args.real_store) as store:
        code = _run(args.images, args.epochs)
        if store is not None:
            print(
                f"  store:          {store} (temporary, removed now; --real-store keeps the "
                "dataset and model in yours)"
            )
    return code


def _run(images: int, epochs: int) -> int:
    from synapse_steps.datasets.samples import make_detection_dataset

    runtime = RuntimeContext(display="console")
    backend = runtime.client
    with tempfile.TemporaryDirectory(prefix="synapse_steps_demo_") as scratch:
        source = make_detection_dataset(Path(scratch) / "shapes", n_images=images, seed=0)
        dataset_id = backend.import_dataset(source, format="dm_v2", name="shapes-demo")
        dataset = backend.get_dataset(dataset_id)
        print(
            f"imported sample dataset #{dataset_id}: {dataset['count']} images {dataset['splits']}"
        )
        print(f"local backend: {backend}")
        result = ShapesTrainAction.dispatch(
            {
                "dataset": dataset_id,
                "epochs": epochs,
                "output_dir": str(Path(scratch) / "run"),
            },
            runtime,
        )
    model = backend.get_model(result["model_id"])
    trained = result["result"]
    print()
    print("summary")
    print(f"  steps executed: {result['steps_executed']}/{result['steps_total']}")
    print(f"  classes:        {', '.join(trained['classes'])}")
    print(f"  accuracy:       train {trained['accuracy']:.3f}, valid {trained['val_accuracy']:.3f}")
    print(f"  model #{model['id']}:      {model['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
