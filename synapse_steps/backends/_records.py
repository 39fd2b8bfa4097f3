"""Rows and their folders, kept in step: the crash-ordering core of the local store.

Files are staged under ``tmp/``; then, inside one write transaction, the row is inserted (which
allocates the id) and the staged folder renamed to ``<kind>s/<id>``; the commit comes last. A
crash before the commit leaves a folder without a row; opening the store removes such orphans
while holding the write lock, so never one that a live writer is about to commit.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from synapse_steps.backends._staging import discard, sweep_abandoned
from synapse_steps.backends._store import Index
from synapse_steps.errors import NotFoundError

logger = logging.getLogger(__name__)

KINDS = ("dataset", "model")
_ADD_HINT = {"dataset": "import_dataset(path)", "model": "create_model({'file': path})"}


def as_id(value: object, kind: str) -> int:
    # bool is an int subclass; True as an id is always a bug in the caller.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise NotFoundError(f"A {kind} id is an int; got {value!r} ({type(value).__name__}).")


class Records:
    """The index plus ``datasets/``, ``models/`` and ``tmp/`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        for folder in (self.tmp, *(self.folder(kind) for kind in KINDS)):
            folder.mkdir(parents=True, exist_ok=True)
        self.index = Index(root / "index.sqlite3")
        self._recover()

    def folder(self, kind: str, record_id: int | None = None) -> Path:
        base = self.root / f"{kind}s"
        return base if record_id is None else base / str(record_id)

    def _recover(self) -> None:
        sweep_abandoned(self.tmp)
        orphans: list[Path] = []
        with self.index.write() as conn:
            for kind in KINDS:
                known = {row[0] for row in conn.execute(f"SELECT id FROM {kind}s")}
                orphans += [
                    p
                    for p in self.folder(kind).iterdir()
                    if p.name.isdigit() and int(p.name) not in known
                ]
        for orphan in orphans:
            logger.warning("Removing %s: left by an interrupted operation (no index row).", orphan)
            discard(orphan, self.tmp)

    def count(self, kind: str) -> int:
        with self.index.read() as conn:
            total: int = conn.execute(f"SELECT COUNT(*) FROM {kind}s").fetchone()[0]
        return total

    def not_found(self, kind: str, record_id: int) -> NotFoundError:
        with self.index.read() as conn:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {kind}s ORDER BY id")]
        if ids:
            shown = ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "")
            hint = f"existing {kind} ids: {shown} (see list_{kind}s())"
        else:
            hint = f"the store has no {kind}s yet; add one with {_ADD_HINT[kind]}"
        return NotFoundError(f"No {kind} with id {record_id} in {self.root}; {hint}.")

    def get(self, kind: str, record_id: object) -> sqlite3.Row:
        rid = as_id(record_id, kind)
        with self.index.read() as conn:
            row = conn.execute(f"SELECT * FROM {kind}s WHERE id = ?", (rid,)).fetchone()
        if not isinstance(row, sqlite3.Row):
            raise self.not_found(kind, rid)
        return row

    def all(self, kind: str) -> list[sqlite3.Row]:
        with self.index.read() as conn:
            return list(conn.execute(f"SELECT * FROM {kind}s ORDER BY id"))

    def insert_and_place(self, kind: str, row: dict[str, Any], staged: Path) -> int:
        """Insert ``row``, move ``staged`` to the new id's folder, then commit."""
        placed: Path | None = None
        try:
            with self.index.write() as conn:
                columns, marks = ", ".join(row), ", ".join("?" * len(row))
                cursor = conn.execute(
                    f"INSERT INTO {kind}s ({columns}) VALUES ({marks})", tuple(row.values())
                )
                new_id = cursor.lastrowid
                assert new_id is not None
                target = self.folder(kind, new_id)
                # We hold the write lock and the id is ours: anything there is a crash orphan.
                discard(target, self.tmp)
                os.replace(staged, target)
                placed = target
        except BaseException:
            if placed is not None:
                discard(placed, self.tmp)
            raise
        return new_id

    def delete(self, kind: str, record_id: object) -> None:
        rid = as_id(record_id, kind)
        with self.index.write() as conn:
            gone = conn.execute(f"DELETE FROM {kind}s WHERE id = ?", (rid,)).rowcount
        if not gone:
            raise self.not_found(kind, rid)
        # After the commit: a crash here leaves an orphan folder, removed on the next open.
        discard(self.folder(kind, rid), self.tmp)
