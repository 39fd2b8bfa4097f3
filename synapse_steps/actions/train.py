"""Train actions: validated params, a ``TrainContext``, and an action that runs as steps.

An action runs in one of two modes:

* **step mode**: ``setup_steps(registry)`` registers steps; they run through the orchestrator.
* **automatic mode**: ``setup_steps`` registers nothing and the action builds the usual pipeline:
  export the dataset (when ``params.dataset`` is set), convert it (when ``target_format`` is
  set), train (``train_step()``: by default a step calling the user's ``execute(context)``),
  and upload ``context.model_path`` (named ``context.model_name``, with
  ``context.model_metadata``).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import InvalidParamsError
from synapse_steps.steps.base import BaseStep, StepResult
from synapse_steps.steps.dataset import DatasetContext, remove_temporary_work_dirs
from synapse_steps.steps.orchestrator import Orchestrator
from synapse_steps.steps.registry import StepRegistry

if TYPE_CHECKING:
    from synapse_steps.executors import Executor


class BaseTrainParams(BaseModel):
    """Parameters every train action accepts; subclass to add your own (extra keys allowed)."""

    model_config = ConfigDict(extra="allow")

    dataset: int | None = None
    splits: list[str] | None = None
    output_dir: str | None = None
    checkpoint: int | str | None = None

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_is_an_id(cls, value: Any) -> Any:
        # pydantic would read True as dataset 1: a flag passed by mistake must not pick data.
        if isinstance(value, bool):
            raise ValueError(
                f"dataset must be a dataset id (an int such as 3), got the bool {value!r}"
            )
        return value


@dataclass
class TrainContext(DatasetContext):
    """What the steps of a train action share (``params``, ``dataset`` and ``client`` come
    from ``DatasetContext``)."""

    model_path: str | None = None
    #: The stored model's name (``params['model_name']`` wins; default: the file's stem).
    model_name: str | None = None
    #: Stored with the model (``create_model``'s metadata), e.g. its final metrics.
    model_metadata: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None


P = TypeVar("P", bound=BaseTrainParams)


class BaseTrainAction(Generic[P]):
    """Base class of train actions, generic over the params model ``P``.

    ``MyTrainAction(params).run()`` runs with validated params;
    ``MyTrainAction.dispatch({'dataset': 1, ...})`` validates a plain dict first.
    """

    #: Dataset format the automatic pipeline converts to (``'yolo'``, ``'coco'``) or None.
    target_format: ClassVar[str | None] = None
    #: Context class the action creates; point it at a ``TrainContext`` subclass to extend it.
    context_class: ClassVar[type[TrainContext]] = TrainContext
    #: Weights of the automatic pipeline's steps.
    train_weight: ClassVar[float] = 0.7

    def __init__(
        self,
        params: P,
        runtime_ctx: RuntimeContext | None = None,
        *,
        executor: Executor | None = None,
    ) -> None:
        expected = self.params_model()
        if not isinstance(params, expected):
            action = type(self).__name__
            raise InvalidParamsError(
                f"{action} needs validated params, an instance of {expected.__name__}; got "
                f"{type(params).__name__}. Build them with {expected.__name__}(...) or use "
                f"{action}.dispatch(dict_params) to validate a dict"
            )
        self.params = params
        self.runtime_ctx = runtime_ctx if runtime_ctx is not None else RuntimeContext()
        self.context: TrainContext | None = None
        #: Where the steps run (``None``: here; see ``synapse_steps.executors``).
        self.executor = executor

    # -- what subclasses provide ---------------------------------------------------------------

    def setup_steps(self, registry: StepRegistry[TrainContext]) -> None:
        """Register the action's steps (step mode). The default registers none."""

    def execute(self, context: TrainContext) -> dict[str, Any]:
        """Train (automatic mode); set ``context.model_path`` to have the model uploaded."""
        raise NotImplementedError(
            f"{type(self).__name__} registers no steps in setup_steps() and does not implement "
            "execute(context); implement one of them"
        )

    # -- running ---------------------------------------------------------------------------------

    @classmethod
    def params_model(cls) -> type[BaseTrainParams]:
        """The params class given as ``BaseTrainAction[MyParams]`` (``BaseTrainParams`` if none)."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                if typing.get_origin(base) is BaseTrainAction:
                    (argument,) = typing.get_args(base)
                    if isinstance(argument, type) and issubclass(argument, BaseTrainParams):
                        return argument
        return BaseTrainParams

    @classmethod
    def dispatch(
        cls,
        params: dict[str, Any],
        runtime_ctx: RuntimeContext | None = None,
        *,
        executor: Executor | None = None,
    ) -> dict[str, Any]:
        """Validate ``params`` with the action's params model, then run."""
        validated = cls.params_model().model_validate(params)
        return cls(validated, runtime_ctx, executor=executor).run()  # type: ignore[arg-type]

    def create_context(self) -> TrainContext:
        return self.context_class(
            runtime_ctx=self.runtime_ctx, params=self.params.model_dump(exclude_none=False)
        )

    def build_registry(self) -> StepRegistry[TrainContext]:
        registry: StepRegistry[TrainContext] = StepRegistry()
        self.setup_steps(registry)
        if len(registry) == 0:
            self._register_automatic_steps(registry)
        return registry

    def run(self) -> dict[str, Any]:
        context = self.create_context()
        self.context = context
        try:
            registry = self.build_registry()
            orchestrator = Orchestrator(
                registry, context, name=type(self).__name__, executor=self.executor
            )
            result = orchestrator.execute()
        finally:
            # Scratch folders the steps made for themselves (no output_dir given) go now.
            remove_temporary_work_dirs(context.step_results)
        for step_result in context.step_results:
            if "train_result" in step_result.data:
                result["result"] = step_result.data["train_result"]
        if context.model and "id" in context.model:
            result["model_id"] = context.model["id"]
        return result

    def _register_automatic_steps(self, registry: StepRegistry[TrainContext]) -> None:
        from synapse_steps.steps.dataset import ConvertDatasetStep, ExportDatasetStep

        if self.params.dataset is not None:
            registry.register(ExportDatasetStep())
        if self.target_format:
            registry.register(ConvertDatasetStep(target_format=self.target_format))
        registry.register(self.train_step())
        registry.register(UploadModelStep())

    def train_step(self) -> BaseStep[TrainContext]:
        """The automatic pipeline's train step; the default calls ``execute(context)``."""
        return ExecuteTrainStep(self)


class ExecuteTrainStep(BaseStep[TrainContext]):
    """Automatic mode's train step: calls the action's ``execute(context)``."""

    def __init__(self, action: BaseTrainAction[Any]) -> None:
        self.action = action

    @property
    def name(self) -> str:
        return "train"

    @property
    def progress_weight(self) -> float:
        return self.action.train_weight

    def execute(self, context: TrainContext) -> StepResult:
        returned = self.action.execute(context)
        if returned is not None and not isinstance(returned, dict):
            return StepResult(
                success=False,
                error=(
                    f"{type(self.action).__name__}.execute() returned {type(returned).__name__}; "
                    "it must return a dict (or None)"
                ),
            )
        return StepResult(data={"train_result": returned or {}})


class UploadModelStep(BaseStep[TrainContext]):
    """Uploads ``context.model_path`` to the client; skipped when no model file was produced."""

    @property
    def name(self) -> str:
        return "upload_model"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def can_skip(self, context: TrainContext) -> bool:
        return context.model_path is None

    def execute(self, context: TrainContext) -> StepResult:
        path = Path(str(context.model_path))
        if not path.is_file():
            return StepResult(
                success=False,
                error=(
                    f"context.model_path is {str(path)!r}, which is not a file; the train step "
                    "must save the model there before setting model_path"
                ),
            )
        context.set_progress(0, 1)
        name = str(context.params.get("model_name") or context.model_name or path.stem)
        model = context.client.create_model(
            {**context.model_metadata, "file": str(path), "name": name}
        )
        context.model = model
        context.set_progress(1, 1)
        return StepResult(data={"model_id": model["id"]}, rollback_data={"model_id": model["id"]})

    def rollback(self, context: TrainContext, result: StepResult) -> None:
        model_id = result.rollback_data.get("model_id")
        delete = getattr(context.client, "delete_model", None)
        if model_id is not None and callable(delete):
            delete(model_id)
        context.model = None


__all__ = [
    "BaseTrainAction",
    "BaseTrainParams",
    "ExecuteTrainStep",
    "TrainContext",
    "UploadModelStep",
]
