"""LocalBackend: the embedded store (SQLite index + file tree) behind ``RuntimeContext().client``.

Layout under the root::

    index.sqlite3        datasets and models rows (WAL: readers never wait for a writer)
    datasets/<id>/       one DM v2 tree per dataset (split folders, or json/ + original_files/)
    models/<id>/<file>   the stored copy of each model file
    tmp/                 staging folders; abandoned ones are removed when a backend opens
    journal/             one entry per placement or deletion between its start and its commit
    .synapse_steps_store marks the folder as a store (converters refuse to write into it)

How rows and folders stay consistent through crashes is described in ``_records``. Nothing is
read or written when a ``LocalBackend`` is constructed: the store is opened (created, recovered)
by the first operation.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synapse_steps.backends._errors import MissingFileError, OutputExistsError
from synapse_steps.backends._layout import scan_dm_v2
from synapse_steps.backends._models import check_model_input, model_record
from synapse_steps.backends._paths import default_root, resolve_splits
from synapse_steps.backends._records import Records
from synapse_steps.backends._staging import new_staging, remove_tree
from synapse_steps.backends._transfer import (
    Transfer,
    convert_to_dm_v2,
    copy_file,
    copy_hashing,
    copy_splits,
    materialize,
    move_file,
)
from synapse_steps.backends.collection import DataCollection
from synapse_steps.errors import BackendError, DatasetError, NotFoundError
from synapse_steps.storage.errors import BackendIOError, named_io_error
from synapse_steps.storage.output import check_target, staged_publish
from synapse_steps.storage.paths import INDEX_NAME, overlap, real

logger = logging.getLogger(__name__)

FORMATS = ("dm_v2", "yolo", "coco")
Splits = str | list[str] | tuple[str, ...] | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalBackend:
    """A dataset and model store on the local disk, safe across threads and processes.

    Every call opens its own short-lived SQLite connection, so one instance may be shared by
    worker threads, and several processes may use the same root at once.

    Args:
        root: the store's folder; ``$SYNAPSE_STEPS_HOME`` or the per-user data folder
            (e.g. ``~/.local/share/synapse_steps``) when ``None``. Created by the first
            operation that needs it; constructing a backend touches no disk.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = (Path(root).expanduser() if root is not None else default_root()).absolute()
        self._opened: Records | None = None
        self._open_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process (a Ray worker): only the root travels; it opens there itself.
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.root = state["root"]
        self._opened = None
        self._open_lock = threading.Lock()

    @property
    def _records(self) -> Records:
        """The opened store: created and recovered once, by the first operation."""
        opened = self._opened
        if opened is None:
            with self._open_lock:
                if self._opened is None:
                    self._opened = Records(self.root)
                opened = self._opened
        return opened

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def __repr__(self) -> str:
        if self._opened is None:  # a repr must not create a store
            return f"LocalBackend(root={str(self.root)!r}, not opened yet)"
        datasets, models = self._records.count("dataset"), self._records.count("model")
        return f"LocalBackend(root={str(self.root)!r}, datasets={datasets}, models={models})"

    # -- datasets ------------------------------------------------------------------------------

    def import_dataset(
        self, path: str | os.PathLike[str], format: str = "dm_v2", name: str | None = None
    ) -> int:
        """Copy a dataset into the store, keeping its splits; return the new dataset id.

        ``format``: ``'dm_v2'`` (copied as is), ``'yolo'`` or ``'coco'`` (converted to DM v2).
        Files that do not pair (a JSON without image or the reverse) are not stored; they are
        logged and listed under ``skipped`` in the record.
        """
        source = Path(path).expanduser().absolute()
        fmt = str(format).strip().lower()
        if fmt not in FORMATS:
            raise DatasetError(
                f"Unknown dataset format {format!r}; import_dataset accepts {', '.join(FORMATS)}."
            )
        if not source.exists():
            raise MissingFileError(f"Dataset folder {source} does not exist; check the path.")
        staging = new_staging(self._records.tmp, "import")
        try:
            skipped: list[str] = []
            if fmt == "dm_v2":
                scanned = scan_dm_v2(source)
                transfer: Transfer = copy_file
            else:
                converted, skipped = convert_to_dm_v2(source, fmt, staging / "converted")
                scanned = scan_dm_v2(converted)
                transfer = move_file  # the conversion is ours and on the same disk: no 2nd copy
            splits = materialize(scanned, staging / "data", transfer)
            skipped += scanned.unpaired()
            if skipped:
                logger.warning(
                    "Import of %s: %d file(s) not stored (see 'skipped' in the record): %s",
                    source,
                    len(skipped),
                    ", ".join(skipped[:10]),
                )
            row = {
                "name": name or source.resolve().name,
                "format": "dm_v2",
                "source_format": fmt,
                "source_path": str(source),
                "is_categorized": int(scanned.is_categorized),
                "splits": json.dumps(splits),
                "count": scanned.count,
                "skipped": json.dumps(skipped),
                "created_at": _now(),
            }
            return self._records.insert_and_place("dataset", row, staging / "data")
        finally:
            remove_tree(staging)

    def _dataset_record(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "name": row["name"],
            "format": row["format"],
            "splits": json.loads(row["splits"]),
            "count": row["count"],
            "is_categorized": bool(row["is_categorized"]),
            "path": str(self._records.folder("dataset", row["id"])),
            "created_at": row["created_at"],
            "source_format": row["source_format"],
            "source_path": row["source_path"],
            "skipped": json.loads(row["skipped"]),
        }

    def list_datasets(self) -> list[dict[str, Any]]:
        return [self._dataset_record(row) for row in self._records.all("dataset")]

    def get_dataset(self, dataset_id: int | str) -> dict[str, Any]:
        """The dataset's record: id, name, format, splits, count, is_categorized, path, ..."""
        return self._dataset_record(self._records.get("dataset", dataset_id))

    def delete_dataset(self, dataset_id: int | str) -> None:
        self._records.delete("dataset", dataset_id)

    def _selected(
        self, dataset_id: int | str, splits: Splits
    ) -> tuple[dict[str, Any], list[str], Path]:
        record = self.get_dataset(dataset_id)
        chosen = resolve_splits(splits, list(record["splits"]), f"dataset {record['id']}")
        path = Path(record["path"])
        if not path.is_dir():
            raise BackendError(
                f"The files of dataset {record['id']} are missing ({path}); they were removed "
                f"outside synapse_steps. Call delete_dataset({record['id']}) and import it again."
            )
        return record, chosen, path

    def get_data_collection(self, dataset_id: int | str, splits: Splits = None) -> DataCollection:
        """The dataset's items as a lazy sequence of ``DataUnit`` (all splits unless given)."""
        record, chosen, path = self._selected(dataset_id, splits)
        return DataCollection(record["id"], path, list(chosen) if chosen else [None])

    def export_dataset(
        self,
        dataset_id: int | str,
        output_dir: str | os.PathLike[str],
        splits: Splits = None,
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Copy a dataset (or some of its splits) to ``output_dir`` as a DM v2 folder.

        ``output_dir`` may be missing (created) or empty; a non-empty one needs
        ``overwrite=True``. The copy is staged next to it and appears in one rename.
        ``progress(done, total)`` is called after each copied item.
        Returns ``path``, ``format``, ``is_categorized``, ``count``, ``splits`` and ``id``.
        """
        record, chosen, source = self._selected(dataset_id, splits)
        out = Path(output_dir).expanduser().absolute()
        if overlap(out, self.root):
            raise OutputExistsError(
                f"Export target {out} overlaps the local store {self.root} (it is inside the "
                "store or contains it); exporting there would destroy stored data. Choose a "
                "folder outside the store."
            )
        target = check_target(out, source=source, overwrite=overwrite, refused=OutputExistsError)
        with staged_publish(
            out,
            target,
            overwrite=overwrite,
            kind="export",
            what=f"Exporting dataset {record['id']} ({source}) to {out}",
            refused=OutputExistsError,
            io_error=BackendIOError,
        ) as staging:
            counts = copy_splits(source, staging, list(chosen) if chosen else [None], progress)
        return {
            "path": str(out),
            "format": "dm_v2",
            "is_categorized": record["is_categorized"],
            "count": sum(counts.values()),
            "splits": {split: n for split, n in counts.items() if split is not None},
            "id": record["id"],
        }

    # -- models --------------------------------------------------------------------------------

    def create_model(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Store a copy of ``data['file']``; keys other than ``file`` and ``name`` are metadata.

        Returns the record: id, name, file (the stored copy), size, sha256, created_at,
        metadata, original_file.
        """
        source, name, metadata_json = check_model_input(data)
        try:
            staging = new_staging(self._records.tmp, "model")
        except OSError as exc:
            raise named_io_error(
                BackendIOError, exc, f"Storing model file {source} in {self.root}", self.root
            ) from exc
        try:
            try:
                size, sha256 = copy_hashing(source, staging / source.name)
            except OSError as exc:
                raise named_io_error(
                    BackendIOError, exc, f"Storing model file {source} in {self.root}", self.root
                ) from exc
            row = {
                "name": name,
                "file_name": source.name,
                "original_file": str(source),
                "size": size,
                "sha256": sha256,
                "metadata": metadata_json,
                "created_at": _now(),
            }
            model_id = self._records.insert_and_place("model", row, staging)
        finally:
            remove_tree(staging)
        return self.get_model(model_id)

    def get_model(self, model_id: int | str) -> dict[str, Any]:
        row = self._records.get("model", model_id)
        return model_record(row, self._records.folder("model", row["id"]))

    def list_models(self) -> list[dict[str, Any]]:
        return [
            model_record(row, self._records.folder("model", row["id"]))
            for row in self._records.all("model")
        ]

    def delete_model(self, model_id: int | str) -> None:
        self._records.delete("model", model_id)

    # -- folders without an index row --------------------------------------------------------

    def unindexed(self) -> list[Path]:
        """Dataset and model folders of the store that have no index row.

        They appear when ``index.sqlite3`` was moved away or replaced by an older copy. They are
        never deleted automatically: ``reindex`` adds one back, ``remove_unindexed`` deletes it.
        """
        return self._records.unindexed()

    def _unindexed_folder(self, path: str | os.PathLike[str]) -> Path:
        wanted = real(Path(path).expanduser())
        for folder in self._records.unindexed():
            if real(folder) == wanted:
                return folder
        raise NotFoundError(
            f"{path} is not an unindexed folder of the store {self.root}; "
            f"see backend.unindexed() (currently {len(self._records.unindexed())} folder(s))."
        )

    def reindex(self, path: str | os.PathLike[str], name: str | None = None) -> int:
        """Add an unindexed dataset or model folder back to the index; return its new id.

        The folder's content is imported (a dataset as DM v2, a model from its single file) and
        the unindexed folder is then removed. The id may differ from the folder's old name.
        """
        folder = self._unindexed_folder(path)
        if folder.parent == self._records.folder("dataset"):
            new_id = self.import_dataset(folder, name=name or f"reindexed {folder.name}")
        else:
            files = [p for p in folder.iterdir() if p.is_file()]
            if len(files) != 1:
                raise BackendError(
                    f"Model folder {folder} holds {len(files)} files, expected one; add the "
                    "right one with create_model({'file': ...}) and remove the folder with "
                    "remove_unindexed()."
                )
            new_id = self.create_model({"file": str(files[0]), "name": name or files[0].stem})["id"]
        self._records.remove(folder)
        return int(new_id)

    def remove_unindexed(self, path: str | os.PathLike[str]) -> None:
        """Delete one folder listed by ``unindexed`` (and nothing else)."""
        self._records.remove(self._unindexed_folder(path))
