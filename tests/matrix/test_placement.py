"""Picking the node a run executes on (docs/ray.md, "Picking the GPU node"), on CPUs: the second
node of a two-node cluster carries a custom resource, as a GPU node carries GPUs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matrix_steps
import pytest
from matrix_steps import Add, MatrixCtx, WhereAmI

from synapse_steps import BaseStep, Orchestrator, RuntimeContext, StepRegistry

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: Any) -> Iterator[dict[str, str]]:
    """A two-node cluster whose second node has the resource "picked"; its node ids by role."""
    import ray
    from ray import cloudpickle
    from ray_cluster import Cluster

    cloudpickle.register_pickle_by_value(matrix_steps)
    made = Cluster(tmp_path_factory.mktemp("cluster"), '{"picked": 1}')
    try:
        made.connect()
        nodes = {
            "picked" if node["Resources"].get("picked") else "head": node["NodeID"]
            for node in ray.nodes()
            if node["Alive"]
        }
        yield nodes
    finally:
        ray.shutdown()
        made.stop()


def _node_of(executor: Any, step: BaseStep[MatrixCtx]) -> str:
    registry: StepRegistry[MatrixCtx] = StepRegistry()
    registry.register(Add("a", 1))
    registry.register(step)
    logged: list[str] = []

    class Nodes:
        def on_log(self, record: Any) -> None:
            if record.event == "node":
                logged.append(record.data["id"])

    context = MatrixCtx(runtime_ctx=RuntimeContext(logger=[Nodes()]))
    Orchestrator(registry, context, executor=executor, journal=False).execute()
    (node,) = logged
    return node


def test_resources_place_every_run_on_the_node_that_has_them(
    cluster: dict[str, str], tmp_path: Path
) -> None:
    from synapse_steps.executors.ray import RayExecutor

    with RayExecutor(resources={"picked": 1}) as executor:
        assert {_node_of(executor, WhereAmI()) for _ in range(3)} == {cluster["picked"]}


def test_a_step_s_ray_resources_move_its_whole_run(cluster: dict[str, str]) -> None:
    from synapse_steps.executors.ray import RayExecutor

    with RayExecutor() as executor:
        asked = WhereAmI({"resources": {"picked": 1}})
        assert {_node_of(executor, asked) for _ in range(3)} == {cluster["picked"]}
        # Without it, runs go where there is room: the head too (one CPU each node).
        assert executor._placement_of(_request(WhereAmI())) == {"num_cpus": 1.0}


def test_ray_resources_that_are_no_dict_are_refused_before_anything_runs(
    cluster: dict[str, str],
) -> None:
    from synapse_steps import UsageError
    from synapse_steps.executors.ray import RayExecutor

    with RayExecutor() as executor, pytest.raises(UsageError, match="ray_resources must be a dict"):
        _node_of(executor, WhereAmI(1))  # type: ignore[arg-type]


def _request(step: BaseStep[MatrixCtx]) -> Any:
    registry: StepRegistry[MatrixCtx] = StepRegistry()
    registry.register(step)
    context = MatrixCtx(runtime_ctx=RuntimeContext(display="off"))
    return Orchestrator(registry, context, journal=False).request()


logging.getLogger("ray").setLevel(logging.ERROR)
