"""Scaling out on Ray: sweep speed-up, record latency, sharded conversion.

    python benchmarks/ray_sweep.py [--runs 8] [--seconds 1.0] [--images 20000] [--calls 60]

1. A sweep of ``--runs`` small training runs (pure-Python CPU work of about ``--seconds`` each),
   sequential in this process vs on a local Ray with 2 CPUs (``RayExecutor(num_cpus=2)``). The
   Ray figure is measured on a warm executor (Ray started, workers up, after a 2-run warm-up
   sweep); the start-up cost is printed separately.
2. The delay from a remote ``set_progress`` call (worker wall clock) to the record's arrival in
   the driver's store (driver wall clock; one machine, one clock): median and p95 over
   ``--calls`` calls spaced 0.12 s apart (so the recorder's 0.1 s coalescing sends each one).
3. DM v2 -> YOLO of ``--images`` images: the single-process converter vs ``convert_sharded``
   over 2 Ray workers (same output, checked by the tests byte for byte).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")

import ray

from synapse_steps import BaseStep, BaseStepContext, Orchestrator, RuntimeContext, StepResult
from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext
from synapse_steps.datasets import convert, make_detection_dataset
from synapse_steps.executors.ray import RayExecutor, sweep
from synapse_steps.executors.ray_convert import convert_sharded


class Params(BaseTrainParams):
    lr: float = 0.01
    seconds: float = 1.0


class SmallTrain(BaseTrainAction[Params]):
    """Fits y = 3x + 1 by SGD in pure Python for about ``seconds`` of CPU."""

    def execute(self, context: TrainContext) -> dict[str, Any]:
        weight, bias, epochs = 0.0, 0.0, 10
        deadline_per_epoch = self.params.seconds / epochs
        for epoch in range(epochs):
            started = time.process_time()
            loss = 0.0
            while time.process_time() - started < deadline_per_epoch:
                for i in range(200):
                    x = (i % 20) / 20
                    error = weight * x + bias - (3 * x + 1)
                    weight -= self.params.lr * error * x
                    bias -= self.params.lr * error
                    loss = error * error
            context.set_progress(epoch + 1, epochs)
            context.set_metrics({"epoch": epoch, "loss": loss})
        return {"weight": weight, "bias": bias}


@dataclass
class LatencyContext(BaseStepContext):
    sent: list[tuple[int, float]] = field(default_factory=list)


class Ticks(BaseStep[LatencyContext]):
    name = "ticks"
    progress_weight = 1.0

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def execute(self, context: LatencyContext) -> StepResult:
        for i in range(1, self.calls + 1):
            time.sleep(0.12)
            context.sent.append((i, time.time()))
            context.set_progress(i, self.calls)
        return StepResult()


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def on_progress(self, record: Any) -> None:
        self.at.setdefault(int(record.current), time.time())


def bench_sweep(executor: RayExecutor, runs: int, seconds: float) -> None:
    variants = [{"lr": 0.01 * (i + 1), "seconds": seconds} for i in range(runs)]
    started = time.perf_counter()
    local = sweep(SmallTrain, variants, display="off")
    sequential = time.perf_counter() - started
    sweep(SmallTrain, variants[:2], executor=executor, display="off")  # warm-up
    started = time.perf_counter()
    remote = sweep(SmallTrain, variants, executor=executor, display="off")
    parallel = time.perf_counter() - started
    assert [r.status for r in local] == [r.status for r in remote] == ["succeeded"] * runs
    print(f"sweep of {runs} runs x ~{seconds:.1f}s CPU")
    print(f"  sequential here: {sequential:6.2f} s")
    print(f"  Ray, 2 workers : {parallel:6.2f} s   speed-up {sequential / parallel:.2f}x")


def bench_latency(executor: RayExecutor, calls: int) -> None:
    arrivals = Arrivals()
    context = LatencyContext(runtime_ctx=RuntimeContext(logger=[arrivals]))
    registry: Any = __import__("synapse_steps").StepRegistry()
    registry.register(Ticks(calls))
    Orchestrator(registry, context, executor=executor).execute()
    delays = sorted((arrivals.at[i] - sent) * 1000 for i, sent in context.sent if i in arrivals.at)
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(f"set_progress -> driver store, {len(delays)} of {calls} calls:")
    print(f"  median {statistics.median(delays):.1f} ms, p95 {p95:.1f} ms, max {delays[-1]:.1f} ms")


def bench_convert(executor: RayExecutor, images: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ray-convert-bench-"))
    try:
        started = time.perf_counter()
        source = make_detection_dataset(work / "dm", n_images=images, distinct_images=50)
        print(f"DM v2 -> YOLO, {images} images (built in {time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        convert(source, "dm_v2", "yolo", work / "single")
        single = time.perf_counter() - started
        started = time.perf_counter()
        convert_sharded(source, "dm_v2", "yolo", work / "sharded", executor=executor, shards=2)
        sharded = time.perf_counter() - started
        print(f"  single process : {single:6.2f} s ({images / single:,.0f} images/s)")
        print(f"  2 Ray shards   : {sharded:6.2f} s ({images / sharded:,.0f} images/s)  "
              f"speed-up {single / sharded:.2f}x")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--images", type=int, default=20_000)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, Ray {ray.__version__}, {os.cpu_count()} CPUs")
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    print(f"ray.init(num_cpus=2): {time.perf_counter() - started:.1f} s (once per session)")
    executor = RayExecutor()
    try:
        bench_sweep(executor, args.runs, args.seconds)
        bench_latency(executor, args.calls)
        bench_convert(executor, args.images)
    finally:
        executor.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
