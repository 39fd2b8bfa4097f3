"""The runs the journal's SQLite file keeps: each ended run, one row holding its whole log.

Bounded: each workflow keeps its newest ``KEEP_FINISHED`` finished runs, and the file its newest
``KEEP_BYTES`` of them in all; unfinished runs live in their logs and are never pruned.

One row per run (``store_run``), written once the run has ended, several runs to a transaction
(``_run.keep_ended``): per step a run pays only its log's ``write()`` (``_runlog``); one row per
step cost ~6 us a step more here, a transaction per run 4-8 us a step of a 100-step run.
"""

from __future__ import annotations

import sqlite3

from synapse_steps.journal._runlog import RunLog, parse_log

#: Finished runs kept per workflow; older ones are removed when another of its runs is stored,
#: so a journal used every day stays small. Runs in progress or dead are never removed.
KEEP_FINISHED = 50
#: The most bytes of finished runs' logs the file keeps, across workflows: the oldest go first
#: (the newest run always stays). Runs are small (a step's data is kept only when small), but
#: a run that logs a lot, times many workflows, must not grow the file without bound.
KEEP_BYTES = 64 * 1024 * 1024


def store_run(conn: sqlite3.Connection, log: RunLog, data: bytes) -> bool:
    """Keep an ended run in the store, inside the caller's write transaction, and prune its
    workflow's oldest; False if it was already kept. ``data``: its log's bytes; ``log``: what
    they hold (its header and end are read; ``size`` bounds what is kept)."""
    header, finish = log.header, log.finish
    assert header is not None
    assert finish is not None
    # SQLite's text must be UTF-8: a lone surrogate in a name is escaped here (``\udcff``);
    # the log kept with it holds the exact text. (Run ids are hex; a hand-made log's may not be.)
    workflow = _sqlite_text(header[2])
    cursor = conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, workflow, started_at, status, finished_at, log) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            _sqlite_text(log.run_id),
            workflow,
            header[5],
            _sqlite_text(finish[1]),
            finish[2],
            data[: log.size],
        ),
    )
    if not cursor.rowcount:
        return False
    conn.execute(
        "DELETE FROM runs WHERE workflow = ? AND id NOT IN "
        "(SELECT id FROM runs WHERE workflow = ? ORDER BY id DESC LIMIT ?)",
        (workflow, workflow, KEEP_FINISHED),
    )
    # length() of a BLOB reads its size from the record header, not the blob itself.
    conn.execute(
        "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, SUM(length(log)) OVER "
        "(ORDER BY id DESC) AS newer FROM runs) WHERE newer > ? AND id < "
        "(SELECT MAX(id) FROM runs))",
        (KEEP_BYTES,),
    )
    return True


def _sqlite_text(text: str) -> str:
    """``text`` as valid UTF-8: what is not (a lone surrogate) as a backslash escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def stored_log(conn: sqlite3.Connection, run_id: str) -> RunLog | None:
    """The log of an ended run the store keeps (None: it keeps no such run)."""
    row = conn.execute("SELECT log FROM runs WHERE run_id = ?", (_sqlite_text(run_id),)).fetchone()
    return None if row is None else parse_log(run_id, bytes(row[0]))
