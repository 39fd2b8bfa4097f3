"""Rows and their folders, kept in step: the crash-ordering core of the local store.

Files are staged under ``tmp/``. Then, inside one write transaction, the row is inserted (which
allocates the id), a journal entry ``journal/<kind>-<id>`` is written, the staged folder renamed
to ``<kind>s/<id>`` and the transaction committed; the journal entry is removed last. Deleting
journals the same way before its commit. On opening, under the write lock (so never while a live
writer is between its journal entry and its commit), a journaled folder whose row does not exist
is removed: the placement never committed, or the deletion did. That is the only clean-up of
``datasets/`` and ``models/``: a folder without a row and without a journal entry (an index that
was moved away, or an older copy restored) is kept and reported by ``unindexed``.
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
from synapse_steps.storage.paths import INDEX_NAME, STORE_MARKER

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


def _sync_dir(folder: Path) -> None:
    # A journal entry must be on disk before the rename it announces.
    if hasattr(os, "O_DIRECTORY"):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class Records:
    """The index plus ``datasets/``, ``models/``, ``journal/`` and ``tmp/`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.journal = root / "journal"
        for folder in (self.tmp, self.journal, *(self.folder(kind) for kind in KINDS)):
            folder.mkdir(parents=True, exist_ok=True)
        # Marks the folder as a store even if the index is lost: converters refuse to write here.
        (root / STORE_MARKER).touch(exist_ok=True)
        self.index = Index(root / INDEX_NAME)
        self._recover()

    def folder(self, kind: str, record_id: int | None = None) -> Path:
        base = self.root / f"{kind}s"
        return base if record_id is None else base / str(record_id)

    def _journal_entry(self, kind: str, record_id: int) -> Path:
        return self.journal / f"{kind}-{record_id}"

    def _write_journal(self, kind: str, record_id: int) -> Path:
        entry = self._journal_entry(kind, record_id)
        entry.touch()
        _sync_dir(self.journal)
        return entry

    def _recover(self) -> None:
        sweep_abandoned(self.tmp)
        with self.index.write() as conn:
            for entry in sorted(self.journal.iterdir()):
                kind, _, number = entry.name.partition("-")
                if kind not in KINDS or not number.isdigit():
                    continue  # not ours: leave it
                row = conn.execute(f"SELECT 1 FROM {kind}s WHERE id = ?", (int(number),))
                if row.fetchone() is None:
                    folder = self.folder(kind, int(number))
                    if folder.exists():
                        logger.warning(
                            "Removing %s: its import or deletion was interrupted.", folder
                        )
                        discard(folder, self.tmp)
                entry.unlink(missing_ok=True)
        unindexed = self.unindexed()
        if unindexed:
            logger.warning(
                "%d folder(s) in %s have no index row and were kept: %s. Re-index them with "
                "backend.reindex(path) or remove them with backend.remove_unindexed(path).",
                len(unindexed),
                self.root,
                ", ".join(str(p) for p in unindexed[:10]),
            )

    def unindexed(self) -> list[Path]:
        """Dataset and model folders without an index row and without a pending operation."""
        found: list[Path] = []
        with self.index.read() as conn:
            for kind in KINDS:
                known = {row[0] for row in conn.execute(f"SELECT id FROM {kind}s")}
                for path in sorted(self.folder(kind).iterdir(), key=lambda p: p.name.zfill(20)):
                    if not (path.name.isdigit() and path.is_dir()) or int(path.name) in known:
                        continue
                    if not self._journal_entry(kind, int(path.name)).exists():
                        found.append(path)
        return found

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

    def _skip_taken_ids(self, conn: sqlite3.Connection, kind: str) -> None:
        """Make the next id larger than every folder on disk, so no folder is ever reused."""
        numbers = [int(p.name) for p in self.folder(kind).iterdir() if p.name.isdigit()]
        floor = max(numbers, default=0)
        table = f"{kind}s"
        bumped = conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (floor, table)
        ).rowcount
        if not bumped and floor:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, floor))

    def insert_and_place(self, kind: str, row: dict[str, Any], staged: Path) -> int:
        """Insert ``row``, move ``staged`` to the new id's folder, then commit."""
        placed: Path | None = None
        entry: Path | None = None
        try:
            with self.index.write() as conn:
                self._skip_taken_ids(conn, kind)
                columns, marks = ", ".join(row), ", ".join("?" * len(row))
                cursor = conn.execute(
                    f"INSERT INTO {kind}s ({columns}) VALUES ({marks})", tuple(row.values())
                )
                new_id = cursor.lastrowid
                assert new_id is not None
                target = self.folder(kind, new_id)
                entry = self._write_journal(kind, new_id)
                os.replace(staged, target)  # target is free: ids skip every existing folder
                placed = target
        except BaseException:
            if placed is not None:
                discard(placed, self.tmp)
            if entry is not None:
                entry.unlink(missing_ok=True)
            raise
        entry.unlink(missing_ok=True)
        return new_id

    def delete(self, kind: str, record_id: object) -> None:
        rid = as_id(record_id, kind)
        with self.index.write() as conn:
            entry = self._write_journal(kind, rid)
            gone = conn.execute(f"DELETE FROM {kind}s WHERE id = ?", (rid,)).rowcount
            if not gone:
                entry.unlink(missing_ok=True)
                raise self.not_found(kind, rid)
        # After the commit: a crash here leaves the journal entry; the next open finishes it.
        discard(self.folder(kind, rid), self.tmp)
        entry.unlink(missing_ok=True)

    def remove(self, path: Path) -> None:
        """Delete one of the ``unindexed`` folders."""
        discard(path, self.tmp)
