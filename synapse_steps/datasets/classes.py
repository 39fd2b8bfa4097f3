"""One class-name -> id mapping shared by every split of a conversion.

The contract (``docs/datasets.md``): ids follow the *sorted* set of the object class
names (tools ``bounding_box`` and ``polygon``) found in the catalogues and the annotations of all
splits, so YOLO ids and COCO category ids (+1) agree. Keypoint names are not object classes: they
name points of an object.

Knowing the sorted set up front would need a pass over every JSON before writing anything. Instead
ids are handed out provisionally while streaming, seeded with the first catalogue in sorted order.
When every catalogue lists all classes (the usual case) the provisional ids already are the final
ones; otherwise ``remapping`` tells the writer how to fix the few ids it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synapse_steps.errors import DatasetError

OBJECT_TOOLS = ("bounding_box", "polygon")


class ClassMap:
    """Class name -> id; ``fixed`` pins the names and their order (other names are unknown)."""

    def __init__(self, fixed: Sequence[str] | None = None) -> None:
        self.fixed = fixed is not None
        names = list(fixed) if fixed is not None else []
        if len(set(names)) != len(names) or not all(valid_class_name(n) for n in names):
            raise DatasetError(
                f"classes must be distinct non-empty strings without line breaks, got {names!r}."
            )
        self._ids: dict[str, int] = {name: index for index, name in enumerate(names)}
        self._last_catalogue: Mapping[str, Any] | None = None

    @property
    def known(self) -> Mapping[str, int]:
        """Names that already have an id: only valid class names ever get one."""
        return self._ids

    def add_catalogue(self, catalogue: Mapping[str, Any], where: str) -> None:
        """Add the object class names a DM v2 catalogue declares."""
        if self.fixed or catalogue == self._last_catalogue:  # most files repeat the catalogue
            return
        self._last_catalogue = catalogue
        new: list[str] = []
        for tool in OBJECT_TOOLS:
            names = catalogue.get(tool)
            if names is None:
                continue
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise DatasetError(
                    f"{where}: classification.{tool} must be a list of class names, got {names!r}."
                )
            bad = [name for name in names if name and not valid_class_name(name)]
            if bad:
                raise DatasetError(
                    f"{where}: class names cannot contain line breaks (they would break "
                    f"classes.txt), got {bad!r} in classification.{tool}."
                )
            new.extend(name for name in names if name and name not in self._ids)
        for name in sorted(set(new)):
            self._ids[name] = len(self._ids)

    def id_of(self, name: str) -> int | None:
        """The (provisional) id of a valid ``name``; None when it is not among fixed classes."""
        found = self._ids.get(name)
        if found is None and not self.fixed:
            found = self._ids[name] = len(self._ids)
        return found

    @property
    def names(self) -> list[str]:
        """Class names in final id order."""
        return list(self._ids) if self.fixed else sorted(self._ids)

    def remapping(self) -> dict[int, int] | None:
        """Provisional id -> final id, or None when they are already equal."""
        final = {name: index for index, name in enumerate(self.names)}
        mapping = {provisional: final[name] for name, provisional in self._ids.items()}
        if all(provisional == index for provisional, index in mapping.items()):
            return None
        return mapping


def valid_class_name(name: Any) -> bool:
    """A non-empty string without line breaks (one would split a line of classes.txt)."""
    return isinstance(name, str) and bool(name) and "\n" not in name and "\r" not in name
