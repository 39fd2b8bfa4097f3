"""A small model that really learns on the sample data, on a CPU, in seconds."""

from synapse_steps.training.crop_classifier import (
    CropClassifier,
    EpochMetrics,
    load_yolo_crops,
    train_crop_classifier,
)

__all__ = ["CropClassifier", "EpochMetrics", "load_yolo_crops", "train_crop_classifier"]
