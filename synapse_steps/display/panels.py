"""Which metrics share a panel, and what the panel and its lines are called.

One decision for the live plots and the static figure alike (no matplotlib here).

Automatic grouping follows Keras and livelossplot: a metric and its validation (or test)
counterpart share one panel, named after the metric, with one line per role::

    loss, val_loss                  -> panel "loss": lines "train", "validation"
    train_loss, valid_loss          -> panel "loss": lines "train", "validation"
    loss, validation_loss, test_loss-> panel "loss": lines "train", "validation", "test"
    train/acc, val/acc (or acc/val) -> panel "acc": lines "train", "validation"

Role words are ``train``/``training``, ``val``/``valid``/``validation`` and ``test``, joined to
the metric by ``_`` or ``/`` before or after it (case-insensitive). A bare name is the training
line. Lines are labelled by role when each has its own role, by their metric names otherwise
(``loss``, ``train_loss`` and ``val_loss`` share panel "loss" under their own names). A lone
``val_loss`` keeps its name: nothing was merged into it.

Explicit grouping, for any other combination: ``groups={"loss": ["loss", "val_loss",
"test_loss"], "accuracy": ["top1", "top5"]}`` puts each listed metric that was reported into
the named panel (in the listed order); metrics not listed are grouped automatically. Groups
apply within each category (the live view draws one figure per category). Set them for every
figure with ``synapse_steps.display.plots.configure(groups=...)``, or per figure with the
``groups=`` argument of ``CategoryPlot`` and ``metrics_figure``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from synapse_steps.metrics import MetricStore

#: Metric name -> panels: ``{"panel name": ["metric", "other metric", ...]}``.
Groups = Mapping[str, Sequence[str]]

#: Role words and the legend label each gets.
ROLE_WORDS = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
}
#: Order of lines in a panel: roles first, in this order, then anything else.
ROLE_ORDER = ("train", "validation", "test")
SEPARATORS = ("_", "/")


@dataclass(frozen=True)
class Line:
    metric: str  # the name the step reported (the MetricStore series name)
    label: str  # what the legend calls it


@dataclass(frozen=True)
class Panel:
    name: str  # "loss"
    title: str  # "loss", or "train · loss" when several categories are shown
    lines: tuple[Line, ...]
    x_label: str  # "epoch", "step", "iteration" or "call"
    category: str


def split_role(name: str) -> tuple[str, str | None]:
    """``("loss", "validation")`` for ``val_loss``, ``loss/val``...; ``(name, None)`` if no role."""
    lower = name.lower()
    for separator in SEPARATORS:
        head, sep, tail = lower.partition(separator)
        if sep and tail and head in ROLE_WORDS:
            return name[len(head) + 1 :], ROLE_WORDS[head]
        head, sep, tail = lower.rpartition(separator)
        if sep and head and tail in ROLE_WORDS:
            return name[: len(head)], ROLE_WORDS[tail]
    return name, None


def _lines(metrics: Sequence[str]) -> tuple[Line, ...]:
    """Lines for metrics sharing a panel: role labels when each has its own role, else names."""
    parts = [split_role(metric) for metric in metrics]
    roles = [role or "train" for _, role in parts]
    same_metric = len({base for base, _ in parts}) == 1
    if len(metrics) > 1 and same_metric and len(set(roles)) == len(roles):
        order = sorted(range(len(metrics)), key=lambda i: ROLE_ORDER.index(roles[i]))
        return tuple(Line(metrics[i], roles[i]) for i in order)
    return tuple(Line(metric, metric) for metric in metrics)


def group_metrics(
    names: Iterable[str], groups: Groups | None = None
) -> list[tuple[str, tuple[Line, ...]]]:
    """``(panel name, lines)`` for metric ``names``, panels in order of their first metric."""
    names = list(names)
    present = set(names)
    members: dict[str, list[str]] = {}  # panel name -> metrics, in insertion order
    panel_of: dict[str, str] = {}
    for panel, listed in (groups or {}).items():
        for metric in listed:
            if metric in present and metric not in panel_of:
                panel_of[metric] = panel
                members.setdefault(panel, []).append(metric)
    explicit = set(members)
    by_base: dict[str, list[str]] = {}
    for name in names:
        if name not in panel_of:
            by_base.setdefault(split_role(name)[0], []).append(name)
    for base, metrics in by_base.items():
        if len(metrics) > 1:
            # Marker bytes keep automatic keys apart from explicit panel names and each other.
            members[f"\0{base}"] = metrics
            for metric in metrics:
                panel_of[metric] = f"\0{base}"
        else:
            for metric in metrics:
                members[f"\1{metric}"] = [metric]
                panel_of[metric] = f"\1{metric}"
    automatic = set(members) - explicit
    ordered: list[tuple[str, tuple[Line, ...]]] = []
    seen: set[str] = set()
    for name in names:
        key = panel_of[name]
        if key not in seen:
            seen.add(key)
            # Automatic panels' keys start with a marker byte (\0 merged, \1 lone metric).
            ordered.append((key[1:] if key in automatic else key, _lines(members[key])))
    return ordered


def category_panels(
    store: MetricStore, category: str, *, groups: Groups | None = None
) -> list[Panel]:
    """The panels of one category, titled with the category only when several are shown and
    it adds something: panel "loss" of category "loss" is titled "loss", not "loss · loss"."""
    names = list(store.series.get(category, {}))
    x_label = store.x_labels.get(category, "call")
    several = len(store.series) > 1
    return [
        Panel(name, panel_title(category, name, several=several), lines, x_label, category)
        for name, lines in group_metrics(names, groups)
    ]


def panel_title(category: str, name: str, *, several: bool) -> str:
    """``train · loss`` when several categories are shown and the category is not the name."""
    return f"{category} · {name}" if several and category != name else name


def store_panels(store: MetricStore, *, groups: Groups | None = None) -> list[Panel]:
    """Every category's panels, categories in the order they were first reported."""
    return [
        panel
        for category in list(store.series)
        for panel in category_panels(store, category, groups=groups)
    ]
