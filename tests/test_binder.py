"""Binder builds a fresh environment from binder/requirements.txt; so does this test.

repo2docker installs the requirements file from the repository root (the "." line installs
the package itself) on top of a base image that brings JupyterLab and ipykernel. The test does
the same in a new virtual environment and executes the quickstart notebook in it.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What mybinder's base image provides before our requirements are installed.
BASE_IMAGE_PACKAGES = ["ipykernel", "nbclient", "nbformat"]

EXECUTE = """
import json, sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False).execute()
texts = []
for cell in nb.cells:
    for output in cell.get("outputs", []):
        texts.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
print(json.dumps(texts))
"""


@pytest.mark.slow
def test_quickstart_runs_in_an_environment_built_from_binder_requirements(
    tmp_path: Path,
) -> None:
    requirements = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert "." in pins, "binder/requirements.txt must install the repository itself"
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"

    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *BASE_IMAGE_PACKAGES], check=True, cwd=ROOT)
    subprocess.run([*pip, "-r", "binder/requirements.txt"], check=True, cwd=ROOT)

    installed = subprocess.run(
        [python, "-c", "import synapse_steps, ipywidgets; print(synapse_steps.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository root, whose folder would shadow the install
    ).stdout
    assert str(env_dir) in installed  # the package came from the requirements, not from here

    notebook = ROOT / "notebooks" / "01_quickstart.ipynb"
    run = subprocess.run(
        [python, "-c", EXECUTE, str(notebook)],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = json.loads(run.stdout.strip().splitlines()[-1])
    joined = "\n".join(outputs)
    assert "✔ succeeded - 3 of 3 steps executed" in joined  # the run's record
    assert "3  write_report  done" in joined
    assert "{'success': True, 'steps_executed': 3, 'steps_total': 3}" in joined
