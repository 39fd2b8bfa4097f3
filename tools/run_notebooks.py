"""Execute notebooks in place, the way ``make notebooks`` refreshes the tutorials.

Each notebook runs in a fresh kernel (nbclient, fixed kernel name, no timing metadata) with its
own empty ``SYNAPSE_STEPS_HOME``, so ids in the local backend start at 1 every time and the
committed outputs are reproducible. ``--check`` executes into memory and fails when a committed
notebook's outputs differ from what the code produces now (used by the test suite).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

KERNEL = "python3"
TIMEOUT = 300


def kernel_config(sockets: Path) -> Config:
    """Talk to the kernel over Unix sockets in the private folder ``sockets`` where possible.

    Over TCP (even on 127.0.0.1) ipykernel warns on every start that traffic is unencrypted, and
    rightly: any local user could connect. Unix sockets live in a folder only we can enter, so
    the warning has no cause left. Windows has no ZeroMQ IPC transport; it keeps TCP.
    """
    if os.name != "posix":
        return Config()
    # An explicit socket path: by default they would appear in the notebook's own folder.
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})


def execute(path: Path, *, widget_state: bool = False) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel; keep the widgets' saved state only if asked.

    Committed notebooks leave it out: JupyterLab and GitHub show each widget's text form and
    the run's static summary anyway, and the state (new random model ids on every run) would
    make every regeneration a large diff. The HTML pages of ``make demo`` keep it, so that
    their widgets render.
    """
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("widgets", None)  # state of an earlier run
    # Cells that raise on purpose carry the ``raises-exception`` tag, which nbclient, nbval and
    # JupyterLab's Run All all honour. A cell marked only with nbval's comment gets the tag for
    # this run (nbclient ignores the comment) and loses it again afterwards.
    borrowed: list[nbformat.NotebookNode] = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and "NBVAL_RAISES_EXCEPTION" in cell.source:
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
                borrowed.append(cell)
    notebook.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    with (
        tempfile.TemporaryDirectory(prefix="synapse_steps_home_") as home,
        tempfile.TemporaryDirectory(prefix="synapse_steps_kernel_") as sockets,
    ):
        previous = os.environ.get("SYNAPSE_STEPS_HOME")
        os.environ["SYNAPSE_STEPS_HOME"] = home
        try:
            client = NotebookClient(
                notebook,
                timeout=TIMEOUT,
                kernel_name=KERNEL,
                record_timing=False,
                store_widget_state=widget_state,
                resources={"metadata": {"path": str(path.parent)}},
                config=kernel_config(Path(sockets)),
            )
            client.execute()
        finally:
            if previous is None:
                os.environ.pop("SYNAPSE_STEPS_HOME", None)
            else:
                os.environ["SYNAPSE_STEPS_HOME"] = previous
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    for cell in borrowed:
        # nbval reads the comment and would warn about overlapping markers with both.
        cell.metadata["tags"].remove("raises-exception")
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(f"executing {path}", flush=True)
        notebook = execute(path)
        nbformat.write(notebook, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
