"""``YoloTrainAction``: a real detector trained with Ultralytics YOLO, live in the notebook.

Automatic mode (no ``setup_steps``)::

    from synapse_steps.actions.yolo import YoloTrainAction, YoloTrainParams

    result = YoloTrainAction(YoloTrainParams(dataset=3, epochs=50, imgsz=640)).run()
    backend.get_model(result["model_id"])      # best.pt, with its final metrics as metadata

runs ``export_dataset`` (from the backend) -> ``convert_dataset`` (to YOLO) -> ``train``
(Ultralytics, its batches and epochs streamed to the live view) -> ``upload_model`` (``best.pt``
and its final metrics into the backend). A failure or an interrupt at any point rolls back what
the steps did, the uploaded model included.

Step mode: register ``YoloTrainStep()`` among your own steps (after a step that sets
``context.dataset`` to a YOLO dataset, e.g. ``ConvertDatasetStep('yolo')``, and before
``UploadModelStep()``)::

    class MyYolo(YoloTrainAction):
        def setup_steps(self, registry):
            registry.register(ExportDatasetStep())
            registry.register(ConvertDatasetStep(target_format="yolo"))
            registry.register(YoloTrainStep())
            registry.register(UploadModelStep())
            registry.register(MyEvaluationStep())

The training runs offline and writes only into the run's work folder (``params.output_dir``, or
the temporary folder the export made): no weights or fonts are downloaded (``model`` is a model
yaml, trained from scratch, or a weights file you have), the plots Ultralytics would draw are
off, AMP and its check are off, ``workers=0``, and its settings file goes to the work folder
unless you have Ultralytics settings of your own (see
``synapse_steps.integrations.ultralytics.load_ultralytics``). ``train_args`` passes anything
else to ``model.train`` (``{"lr0": 0.005, "patience": 20}``; ``{"amp": True}`` on a GPU, which
downloads its check's weights).

Needs the ``yolo`` extra: ``pip install 'synapse-steps[yolo]'``.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.steps.base import BaseStep, StepResult

#: Arguments of ``model.train`` the action sets itself (the data and where the run goes).
RESERVED_TRAIN_ARGS = frozenset({"data", "project", "name", "exist_ok", "mode", "resume"})
#: Arguments with a field of their own in ``YoloTrainParams``.
PARAM_TRAIN_ARGS = frozenset({"model", "epochs", "imgsz", "batch", "device", "seed", "verbose"})
#: What the action sets so the training runs offline and stays in its folder (train_args wins).
OFFLINE_TRAIN_ARGS: dict[str, Any] = {"plots": False, "amp": False, "workers": 0}
#: The run's Ultralytics folder inside the work folder.
RUN_FOLDER = "ultralytics"
WEIGHT_SUFFIXES = (".pt", ".pth")


class YoloTrainParams(BaseTrainParams):
    """Parameters of ``YoloTrainAction`` (Ultralytics' names and defaults)."""

    #: A model yaml (``yolov8n.yaml``: trained from scratch) or a weights file you have.
    model: str = "yolov8n.yaml"
    epochs: int = Field(100, ge=1)
    imgsz: int = Field(640, ge=32)
    batch: int = Field(16, ge=1)
    #: ``"cpu"``, ``"0"`` (first GPU), ``"0,1"``; ``None``: Ultralytics picks (a GPU if any).
    device: str | None = None
    seed: int = 0
    #: Ultralytics' own console output (arguments, model summary, progress bars).
    verbose: bool = False
    #: The stored model's name (default: the model's stem, ``yolov8n``).
    model_name: str | None = None
    #: Also report the running train losses every N batches (None: per epoch only).
    every_n_batches: int | None = Field(None, ge=1)
    #: Any other argument of ``model.train``.
    train_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("train_args")
    @classmethod
    def _train_args_do_not_override_the_action(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(set(value) & RESERVED_TRAIN_ARGS)
        if reserved:
            raise ValueError(
                f"train_args may not set {reserved}: the action passes the converted dataset "
                "and keeps the run in its work folder (set output_dir to keep that folder)"
            )
        own = sorted(set(value) & PARAM_TRAIN_ARGS)
        if own:
            raise ValueError(
                f"train_args sets {own}, which have fields of their own: pass them as "
                f"{', '.join(f'{name}=...' for name in own)}"
            )
        return value


class YoloTrainStep(BaseStep[TrainContext]):
    """Trains a YOLO model on ``context.dataset`` (a YOLO dataset) with the action's params.

    Sets ``context.model_path`` to ``best.pt``, ``context.model_name`` and
    ``context.model_metadata`` (the final metrics), for ``UploadModelStep``. Its rollback removes
    the run's folder.
    """

    def __init__(self, weight: float = 0.7) -> None:
        self._weight = weight

    @property
    def name(self) -> str:
        return "train"

    @property
    def progress_weight(self) -> float:
        return self._weight

    def execute(self, context: TrainContext) -> StepResult:
        from synapse_steps.integrations.ultralytics import attach, load_ultralytics

        params = YoloTrainParams.model_validate(context.params)
        dataset = context.dataset
        if not isinstance(dataset, dict) or dataset.get("format") != "yolo":
            return StepResult(
                success=False,
                error=(
                    "YoloTrainStep needs a YOLO dataset in context.dataset (from "
                    "ConvertDatasetStep(target_format='yolo')); got "
                    f"{_describe(dataset)}. Register ExportDatasetStep() and "
                    "ConvertDatasetStep(target_format='yolo') before it"
                ),
            )
        config = Path(dataset["config_path"])
        run_root = config.parent.parent / RUN_FOLDER
        model_source = _model_source(params.model)
        if model_source is None:
            return StepResult(
                success=False,
                error=(
                    f"model {params.model!r} is not a file here, and training runs offline "
                    "(no weights are downloaded). Give a weights file you have, or a model yaml "
                    "such as 'yolov8n.yaml' to train from scratch"
                ),
            )
        try:
            ultralytics = load_ultralytics(run_root / "settings")
            model = ultralytics.YOLO(model_source)
            attachment = attach(
                model, context, verbose=params.verbose, every_n_batches=params.every_n_batches
            )
            arguments: dict[str, Any] = {
                **OFFLINE_TRAIN_ARGS,
                **params.train_args,
                "data": str(config),
                "epochs": params.epochs,
                "imgsz": params.imgsz,
                "batch": params.batch,
                "seed": params.seed,
                "verbose": params.verbose,
                "project": str(run_root),
                "name": "train",
                "exist_ok": False,
            }
            if params.device is not None:
                arguments["device"] = params.device
            model.train(**arguments)
            trainer = model.trainer
            best = trainer.best if trainer.best.exists() else trainer.last
        except BaseException:
            # Interrupted or failed: what the training wrote goes (rollback gets no data here).
            shutil.rmtree(run_root, ignore_errors=True)
            raise
        final = _final_metrics(attachment.final_metrics, attachment.epochs)
        context.model_path = str(best)
        context.model_name = params.model_name or Path(params.model).stem
        context.model_metadata = {
            "framework": "ultralytics",
            "task": str(model.task),
            "base_model": params.model,
            "epochs": len(attachment.epochs),
            "imgsz": params.imgsz,
            "classes": [str(name) for name in dict(model.names).values()],
            "metrics": final,
        }
        return StepResult(
            data={"train_result": {"metrics": final, "epochs": len(attachment.epochs)}},
            rollback_data={"run_dir": str(run_root)},
        )

    def rollback(self, context: TrainContext, result: StepResult) -> None:
        run_dir = result.rollback_data.get("run_dir")
        if run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        context.model_path = None
        context.model_metadata = {}


class YoloTrainAction(BaseTrainAction[YoloTrainParams]):
    """Export -> convert to YOLO -> train with Ultralytics -> upload ``best.pt`` (see module)."""

    target_format: ClassVar[str | None] = "yolo"

    def train_step(self) -> BaseStep[TrainContext]:
        return YoloTrainStep(weight=self.train_weight)


def _model_source(model: str) -> str | None:
    """A weights file as an absolute path, a yaml as given (Ultralytics finds its own); None
    for weights that are not here (Ultralytics would download them)."""
    path = Path(model).expanduser()
    if path.is_file():
        return str(path.absolute())
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        return None
    return model


def _final_metrics(final: dict[str, float], epochs: list[dict[str, float]]) -> dict[str, Any]:
    """The validation of best.pt (or the last epoch's numbers), finite values only (JSON)."""
    chosen = final or (epochs[-1] if epochs else {})
    return {
        name: (value if math.isfinite(value) else None)
        for name, value in chosen.items()
        if name != "epoch"
    }


def _describe(dataset: Any) -> str:
    if isinstance(dataset, dict):
        return f"a {dataset.get('format')!r} dataset"
    return repr(dataset)


__all__ = [
    "OFFLINE_TRAIN_ARGS",
    "YoloTrainAction",
    "YoloTrainParams",
    "YoloTrainStep",
]
