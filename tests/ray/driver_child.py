"""A notebook's process, as a child the test kills: connects to the test's Ray, runs a workflow
on a RayExecutor with its journal at argv[2], and prints the worker's pid once the last step
spins (then the test kills this process with SIGKILL)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import ray
import ray_steps
from ray import cloudpickle
from ray_steps import Add, Spin, WorkCtx

from synapse_steps import Orchestrator, RuntimeContext, StepRegistry
from synapse_steps.executors.ray import RayExecutor


class Tell:
    def on_log(self, record: Any) -> None:
        if record.event == "spinning":
            print(f"spinning {record.data['pid']}", flush=True)


def main() -> None:
    address, journal, marks = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    cloudpickle.register_pickle_by_value(ray_steps)
    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    registry: StepRegistry[WorkCtx] = StepRegistry()
    for step in (Add("load", 2), Add("fit", 2), Spin()):
        registry.register(step)
    context = WorkCtx(runtime_ctx=RuntimeContext(logger=[Tell()]), marks=marks)
    Orchestrator(registry, context, executor=RayExecutor(), journal=journal).execute()


if __name__ == "__main__":
    main()
