"""A real local Ray cluster (2 CPUs) for the whole session, shut down at the end.

Every test here is marked ``ray`` (``make test-ray``). The helper module ``ray_steps`` travels
to the workers by value, as a notebook's classes do: the workers cannot import test modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")

import ray
import ray_steps
from ray import cloudpickle

from synapse_steps.executors.ray import RayExecutor

cloudpickle.register_pickle_by_value(ray_steps)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a local Ray started for the tests (no dashboard, loopback only).

    Its workers inherit this process's environment as ``ray.init`` finds it: they get a store
    of their own (what they journal stays out of the user's store; see the root conftest).
    """
    saved = os.environ.get("SYNAPSE_STEPS_HOME")
    os.environ["SYNAPSE_STEPS_HOME"] = str(tmp_path_factory.mktemp("ray_workers_home"))
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            _node_ip_address="127.0.0.1",
        )
    finally:
        if saved is None:
            os.environ.pop("SYNAPSE_STEPS_HOME", None)
        else:
            os.environ["SYNAPSE_STEPS_HOME"] = saved
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def executor(ray_cluster: str) -> Iterator[RayExecutor]:
    ex = RayExecutor(num_cpus=2)
    try:
        yield ex
    finally:
        ex.shutdown()  # stops its idle workers; Ray itself belongs to the session
