"""The executors every option is checked on: none, ``LocalExecutor()``, and ``RayExecutor()`` on
a local Ray and on a two-node cluster (``ray start --head`` plus a second ``ray start
--address`` on loopback). The Ray ones are marked ``ray`` (``make test-ray``); ``make test``
deselects them, so it needs no Ray installed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Ray reads its auth mode when imported; new clusters (ray start) use tokens, and a local
# ray.init then does too: set before any test imports Ray.
os.environ.setdefault("RAY_AUTH_MODE", "token")

KINDS = [
    "none",
    "local",
    pytest.param("ray", marks=pytest.mark.ray),
    pytest.param("ray-cluster", marks=pytest.mark.ray),
]


@pytest.fixture(scope="module", params=KINDS)
def executor(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Any]:
    """An executor of each kind, or ``None`` (a test run against each, grouped by kind)."""
    kind = request.param
    if kind == "none":
        yield None
        return
    if kind == "local":
        from synapse_steps.executors import LocalExecutor

        yield LocalExecutor()
        return
    import matrix_steps
    import ray
    from ray import cloudpickle

    from synapse_steps.executors.ray import RayExecutor

    cloudpickle.register_pickle_by_value(matrix_steps)
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    cluster = None
    if kind == "ray":
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False,
            logging_level=logging.ERROR, _node_ip_address="127.0.0.1",
        )  # fmt: skip
    else:
        from ray_cluster import Cluster

        cluster = Cluster(tmp_path_factory.mktemp("cluster"))
        try:
            cluster.connect()
        except BaseException:
            cluster.stop()
            raise
    executor = RayExecutor()
    try:
        yield executor
    finally:
        executor.shutdown()
        ray.shutdown()
        if cluster is not None:
            cluster.stop()
