"""Dataset formats: read DM v2, write YOLO and COCO, and bring YOLO / COCO back to DM v2.

The formats are described in ``docs/datasets.md``. Start with ``convert``::

    result = convert("data/dm", "dm_v2", "yolo", "out/yolo", progress=context.set_progress)
    result.config_path  # out/yolo/dataset.yaml
"""

from typing import TYPE_CHECKING, Any

from synapse_steps.datasets.convert import (
    CONVERTERS,
    Converter,
    convert,
    register_converter,
    supported_conversions,
)
from synapse_steps.datasets.dm_v2 import DMItem, DMv2Dataset, DMv2Writer, open_dm_v2
from synapse_steps.datasets.images import image_size
from synapse_steps.datasets.job import ConversionJob, ProgressCallback, Written
from synapse_steps.datasets.report import ConversionResult, Tally
from synapse_steps.errors import DatasetError

if TYPE_CHECKING:
    from synapse_steps.datasets.samples import make_detection_dataset

__all__ = [
    "CONVERTERS",
    "ConversionJob",
    "ConversionResult",
    "Converter",
    "DMItem",
    "DMv2Dataset",
    "DMv2Writer",
    "DatasetError",
    "ProgressCallback",
    "Tally",
    "Written",
    "convert",
    "image_size",
    "make_detection_dataset",
    "open_dm_v2",
    "register_converter",
    "supported_conversions",
]


def __getattr__(name: str) -> Any:
    # The sample generator needs numpy and Pillow; converters should not pay for importing them.
    if name == "make_detection_dataset":
        from synapse_steps.datasets.samples import make_detection_dataset

        return make_detection_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
