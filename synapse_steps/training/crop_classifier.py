"""A softmax-regression classifier of object crops from a YOLO dataset.

Each labelled box is cropped, resized to ``size`` x ``size`` grey levels (colour would give the
class away at once; in grey the model has to learn shapes) and standardised; a linear model
trained with mini-batch gradient descent learns the class. It is deliberately tiny (numpy only,
a second or two on a laptop) yet real: loss falls and accuracy rises epoch by epoch, which is
what the tutorials and the demo need to show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from synapse_steps.errors import DatasetError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None

    def as_dict(self) -> dict[str, float | int]:
        values: dict[str, float | int] = {
            "epoch": self.epoch,
            "loss": self.loss,
            "accuracy": self.accuracy,
        }
        if self.val_loss is not None and self.val_accuracy is not None:
            values["val_loss"] = self.val_loss
            values["val_accuracy"] = self.val_accuracy
        return values


def _read_names(dataset_yaml: Path) -> list[str]:
    try:
        config = yaml.safe_load(dataset_yaml.read_text(encoding="utf-8"))
        names = config["names"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"cannot read class names from {dataset_yaml}: {exc}; expected a YOLO dataset.yaml "
            "with a 'names' list (ConvertDatasetStep(target_format='yolo') writes one)"
        ) from exc
    if isinstance(names, dict):
        return [str(names[key]) for key in sorted(names)]
    return [str(name) for name in names]


def _split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    if (root / split / "images").is_dir():
        return root / split / "images", root / split / "labels"
    if split in ("train", "valid") and (root / "images").is_dir():
        return root / "images", root / "labels"  # uncategorized: one folder for everything
    raise DatasetError(f"YOLO dataset {root} has no '{split}' split (no {root / split / 'images'})")


def load_yolo_crops(
    root: str | Path, split: str, size: int = 16
) -> tuple[FloatArray, IntArray, list[str]]:
    """Crops of every box of one split: features ``(n, size*size)``, labels, class names."""
    root = Path(root)
    names = _read_names(root / "dataset.yaml")
    images_dir, labels_dir = _split_dirs(root, split)
    features: list[FloatArray] = []
    labels: list[int] = []
    for image_path in sorted(images_dir.iterdir()):
        label_path = labels_dir / f"{image_path.stem}.txt"
        if not label_path.is_file():
            continue
        rows = [line.split() for line in label_path.read_text().splitlines() if line.strip()]
        if not rows:
            continue
        with Image.open(image_path) as opened:
            image = opened.convert("L")
        width, height = image.size
        for row in rows:
            cls, cx, cy, w, h = int(row[0]), *map(float, row[1:5])
            box = (
                round((cx - w / 2) * width),
                round((cy - h / 2) * height),
                round((cx + w / 2) * width),
                round((cy + h / 2) * height),
            )
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            crop = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(crop, dtype=np.float64).reshape(-1)
            features.append(pixels / 255.0)
            labels.append(cls)
    if not features:
        return np.zeros((0, size * size)), np.zeros(0, dtype=np.int64), names
    return np.stack(features), np.asarray(labels, dtype=np.int64), names


class CropClassifier:
    """Softmax regression on standardised pixel features."""

    def __init__(self, names: list[str], n_features: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.names = list(names)
        self.weights: FloatArray = rng.normal(0.0, 0.01, (n_features, len(names)))
        self.bias: FloatArray = np.zeros(len(names))
        self.mean: FloatArray = np.zeros(n_features)
        self.scale: FloatArray = np.ones(n_features)

    def _logits(self, x: FloatArray) -> FloatArray:
        result: FloatArray = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return result

    def probabilities(self, x: FloatArray) -> FloatArray:
        logits = self._logits(x)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
        return result

    def loss_and_accuracy(self, x: FloatArray, y: IntArray) -> tuple[float, float]:
        probs = self.probabilities(x)
        loss = float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12)))
        accuracy = float(np.mean(probs.argmax(axis=1) == y))
        return loss, accuracy

    def predict(self, x: FloatArray) -> list[str]:
        return [self.names[i] for i in self.probabilities(x).argmax(axis=1)]

    def fit_epoch(self, x: FloatArray, y: IntArray, lr: float, batch_size: int, seed: int) -> None:
        order = np.random.default_rng(seed).permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            xb = (x[batch] - self.mean) / self.scale
            probs = self.probabilities(x[batch])
            probs[np.arange(len(batch)), y[batch]] -= 1.0
            self.weights -= lr * xb.T @ probs / len(batch)
            self.bias -= lr * probs.mean(axis=0)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        with path.open("wb") as handle:  # np.savez would append .npz to a str path
            np.savez(
                handle,
                weights=self.weights,
                bias=self.bias,
                mean=self.mean,
                scale=self.scale,
                names=np.asarray(self.names),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> CropClassifier:
        with np.load(Path(path)) as data:
            names = [str(name) for name in data["names"]]
            model = cls(names, int(data["weights"].shape[0]))
            model.weights, model.bias = data["weights"], data["bias"]
            model.mean, model.scale = data["mean"], data["scale"]
        return model


def train_crop_classifier(
    root: str | Path,
    epochs: int = 10,
    *,
    lr: float = 0.002,
    batch_size: int = 32,
    size: int = 16,
    seed: int = 0,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> tuple[CropClassifier, list[EpochMetrics]]:
    """Train on the ``train`` split of a YOLO dataset, validating on ``valid`` when present."""
    x, y, names = load_yolo_crops(root, "train", size)
    if len(y) == 0:
        raise DatasetError(f"YOLO dataset {root} has no labelled boxes in its train split")
    try:
        x_val, y_val, _ = load_yolo_crops(root, "valid", size)
    except DatasetError:
        x_val, y_val = x[:0], y[:0]
    model = CropClassifier(names, x.shape[1], seed)
    model.mean = x.mean(axis=0)
    model.scale = x.std(axis=0) + 1e-3
    history: list[EpochMetrics] = []
    for epoch in range(epochs):
        model.fit_epoch(x, y, lr, batch_size, seed + epoch)
        loss, accuracy = model.loss_and_accuracy(x, y)
        val_loss: float | None = None
        val_accuracy: float | None = None
        if len(y_val):
            val_loss, val_accuracy = model.loss_and_accuracy(x_val, y_val)
        metrics = EpochMetrics(epoch, loss, accuracy, val_loss, val_accuracy)
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
    return model, history
