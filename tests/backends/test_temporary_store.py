"""``temporary_store()``: what tutorials use so that running them by hand leaves your store as
it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synapse_steps.backends import LocalBackend, temporary_store

CHILD = """
import os
from pathlib import Path
from synapse_steps.backends import LocalBackend, temporary_store
from synapse_steps.datasets.samples import make_detection_dataset
from synapse_steps.journal import runs
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps import RuntimeContext

class Step(BaseStep[BaseStepContext]):
    name = "s"
    progress_weight = 1.0
    def execute(self, context):
        return StepResult(rollback_data={"x": 1})

store = temporary_store()
source = make_detection_dataset(store.path / "source", n_images=4, seed=0)
LocalBackend().import_dataset(source, format="dm_v2", name="shapes")
registry = StepRegistry()
registry.register(Step())
for _ in range(3):
    Orchestrator(registry, BaseStepContext(runtime_ctx=RuntimeContext(display="off"))).execute()
assert len(runs()) == 3, runs()
print(store.path)
store.remove()
"""


def test_a_tutorial_s_runs_and_data_stay_out_of_the_user_s_store(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    env = {**os.environ, "SYNAPSE_STEPS_HOME": str(user_home)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    assert not user_home.exists()  # nothing written into the user's store
    assert not Path(out.stdout.strip()).exists()  # the temporary one is gone
    assert out.stderr == ""  # nothing complains at exit (the journal keeps its runs at exit)


def test_remove_restores_the_home_and_deletes_only_its_own_folder(
    tmp_path: Path, monkeypatch: object
) -> None:
    before = os.environ.get("SYNAPSE_STEPS_HOME")
    with temporary_store() as store:
        assert os.environ["SYNAPSE_STEPS_HOME"] == str(store.path)
        assert LocalBackend().root == store.path
        (store.path / "x").write_text("data")
    assert not store.path.exists()
    assert os.environ.get("SYNAPSE_STEPS_HOME") == before
    store.remove()  # twice: nothing more happens
    assert os.environ.get("SYNAPSE_STEPS_HOME") == before
