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

import re
from collections.abc import Mapping, Sequence
from typing import Any

from synapse_steps.errors import DatasetError

OBJECT_TOOLS = ("bounding_box", "polygon")


class ClassMap:
    """Class name -> id; ``fixed`` pins the names and their order (other names are unknown)."""

    def __init__(self, fixed: Sequence[str] | None = None) -> None:
        self.fixed = fixed is not None
        if fixed is not None and (isinstance(fixed, str) or not isinstance(fixed, Sequence)):
            raise DatasetError(f"classes must be a list of class names, got {fixed!r}.")
        names = list(fixed) if fixed is not None else []
        if not all(valid_class_name(n) for n in names) or len(set(names)) != len(names):
            raise DatasetError(
                "classes must be distinct non-empty strings without line breaks or lone "
                f"surrogates, got {names!r}."
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
                    f"{where}: class names cannot contain line breaks of any kind (they would "
                    f"break classes.txt) or lone surrogates (not UTF-8), got {bad!r} in "
                    f"classification.{tool}."
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


# Every character ``str.splitlines`` breaks a line at (``\n`` and ``\r`` but also VT, FF, the file /
# group / record separators, NEL and the Unicode line and paragraph separators): another tool's
# reader may split classes.txt or a YAML file at any of them.
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Lone surrogates (from a JSON escape like "\\ud800") cannot be written as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_class_name(name: Any) -> bool:
    """A class name every output format stores and gives back unchanged: a non-empty string with
    no line break of any kind (one would split a line of classes.txt) and no lone surrogate."""
    if not isinstance(name, str) or not name:
        return False
    if name.isascii():  # the usual case: only \n, \r, \x0b, \x0c and \x1c-\x1e can hurt
        return name.isprintable() or _LINE_BREAKS.search(name) is None
    return _LINE_BREAKS.search(name) is None and _SURROGATE.search(name) is None
