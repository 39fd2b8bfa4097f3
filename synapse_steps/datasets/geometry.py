"""Checking and reshaping DM v2 geometry before it is written in another format.

Each ``*_of`` function either returns clean numbers or raises ``Rejected`` with a short reason;
the converters count the reason and name the file (see ``report.Tally``), so one bad annotation
never stops or silently shrinks a conversion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import isfinite
from typing import Any

from synapse_steps.datasets.classes import valid_class_name

Point = tuple[float, float]

# Coordinates beyond 2**53 pixels are not coordinates: a float cannot even tell neighbouring
# pixels apart there, and products of such numbers (areas, clipping) overflow to inf or NaN. The
# bound is checked with comparisons, which also reject NaN and +-inf and never overflow on huge
# integers (math.isfinite(10**400) raises OverflowError).
COORDINATE_LIMIT = float(2**53)


class Rejected(Exception):
    """An annotation that cannot be converted; ``reason`` is the report key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def class_name_of(annotation: Any) -> str:
    """The annotation's class name: a non-empty string without line breaks."""
    if not isinstance(annotation, dict):
        raise Rejected("malformed annotation")
    name = annotation.get("classification")
    if not valid_class_name(name):
        raise Rejected("missing or invalid class name")
    return str(name)


def _number(value: Any) -> float:
    # bool is an int subclass; True as a coordinate is a bug in the source, not 1.0.
    if type(value) not in (int, float):
        raise Rejected("malformed annotation data")
    if not -COORDINATE_LIMIT <= value <= COORDINATE_LIMIT:
        raise _out_of_range(value)
    return float(value)


def _out_of_range(value: int | float) -> Rejected:
    """The reason a number failed the range check: NaN / inf, or merely too large."""
    if type(value) is float and not isfinite(value):
        return Rejected("non-finite coordinates")
    return Rejected("coordinate out of range")


def check_attrs(annotation: Mapping[str, Any]) -> None:
    """Reject an annotation whose ``attrs`` is not a list, and a rotated box."""
    attrs = annotation.get("attrs")
    if not attrs:
        return
    if not isinstance(attrs, list):
        raise Rejected("malformed annotation")
    for attr in attrs:
        if isinstance(attr, dict) and attr.get("name") == "rotation" and attr.get("value"):
            raise Rejected("rotated box (axis-aligned formats cannot hold it)")


def box_of(annotation: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` of a DM v2 bounding box; rejects rotated and empty boxes."""
    # The hot path of every conversion: unrolled on purpose (no generator, no helper calls).
    data = annotation.get("data")
    if not isinstance(data, list | tuple) or len(data) != 4:
        raise Rejected("malformed annotation data")
    x, y, width, height = data
    for value in data:
        if type(value) is not float and type(value) is not int:  # bool is no coordinate
            raise Rejected("malformed annotation data")
        if not -COORDINATE_LIMIT <= value <= COORDINATE_LIMIT:
            raise _out_of_range(value)
    if width <= 0 or height <= 0:
        raise Rejected("degenerate box")
    if annotation.get("attrs"):
        check_attrs(annotation)
    return x, y, width, height


def polygon_of(annotation: Mapping[str, Any]) -> list[Point]:
    """The points of a DM v2 polygon (``[[x, y], ...]``, at least three, non-zero area)."""
    data = annotation.get("data")
    if not isinstance(data, list) or len(data) < 3:
        raise Rejected("malformed annotation data")
    points: list[Point] = []
    for point in data:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise Rejected("malformed annotation data")
        points.append((_number(point[0]), _number(point[1])))
    if polygon_area(points) <= 0:  # finite: the coordinates are bounded
        raise Rejected("degenerate polygon")
    return points


def keypoint_of(annotation: Mapping[str, Any]) -> tuple[float, float, int]:
    """``(x, y, visibility)`` of a DM v2 keypoint; visibility defaults to 2 (visible)."""
    data = annotation.get("data")
    if not isinstance(data, list) or len(data) != 2:
        raise Rejected("malformed annotation data")
    visibility = annotation.get("visibility", 2)
    if visibility not in (0, 1, 2) or isinstance(visibility, bool):
        raise Rejected("keypoint visibility not 0, 1 or 2")
    return _number(data[0]), _number(data[1]), int(visibility)


def clip_box(
    x: float, y: float, width: float, height: float, image_width: int, image_height: int
) -> tuple[float, float, float, float]:
    """Clip a box to the image; returns corners ``(x1, y1, x2, y2)``; rejects what vanishes."""
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + width, image_width), min(y + height, image_height)
    if x2 <= x1 or y2 <= y1:
        raise Rejected("degenerate box")
    return x1, y1, x2, y2


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned area (shoelace formula)."""
    total = 0.0
    previous_x, previous_y = points[-1]
    for x, y in points:
        total += previous_x * y - x * previous_y
        previous_x, previous_y = x, y
    return abs(total) / 2.0


def clip_polygon(points: Sequence[Point], image_width: int, image_height: int) -> list[Point]:
    """Clip a polygon to the image rectangle (Sutherland-Hodgman); rejects what vanishes.

    Clamping each point instead would distort shapes that leave the image; clipping keeps the
    part that is inside exactly.
    """
    if all(0 <= x <= image_width and 0 <= y <= image_height for x, y in points):
        return list(points)
    clipped = list(points)
    for axis, limit, keep_below in (
        (0, 0.0, False),
        (0, image_width, True),
        (1, 0.0, False),
        (1, image_height, True),
    ):
        clipped = _clip_edge(clipped, axis, float(limit), keep_below)
        if not clipped:
            break
    if len(clipped) < 3 or polygon_area(clipped) <= 0:
        raise Rejected("degenerate polygon")
    return clipped


def _clip_edge(points: list[Point], axis: int, limit: float, keep_below: bool) -> list[Point]:
    def inside(point: Point) -> bool:
        return point[axis] <= limit if keep_below else point[axis] >= limit

    def crossing(a: Point, b: Point) -> Point:
        t = (limit - a[axis]) / (b[axis] - a[axis])
        other = a[1 - axis] + t * (b[1 - axis] - a[1 - axis])
        return (limit, other) if axis == 0 else (other, limit)

    result: list[Point] = []
    previous = points[-1]
    for point in points:
        if inside(point):
            if not inside(previous):
                result.append(crossing(previous, point))
            result.append(point)
        elif inside(previous):
            result.append(crossing(previous, point))
        previous = point
    return result


def bounds(points: Sequence[Point]) -> tuple[float, float, float, float]:
    """``(x_min, y_min, x_max, y_max)`` of some points."""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)
