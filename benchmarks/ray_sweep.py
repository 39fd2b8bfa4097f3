"""Scaling out on Ray: sweep speed-up, record latency, sharded conversion.

    python benchmarks/ray_sweep.py [--runs 8] [--updates 150000] [--images 20000] [--calls 60]

1. A sweep of ``--runs`` small training runs (fixed pure-Python CPU work, ``--updates``),
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
    #: SGD updates per epoch (10 epochs); 150,000 is about 1 s of CPU on the machine below.
    updates: int = 150_000


def sgd(lr: float, updates: int) -> float:
    """The same work as one epoch of ``SmallTrain``, bare (the plain-Ray ceiling)."""
    weight = bias = loss = 0.0
    for _ in range(updates // 200):
        for i in range(200):
            x = (i % 20) / 20
            error = weight * x + bias - (3 * x + 1)
            weight -= lr * error * x
            bias -= lr * error
            loss = error * error
    return loss


def bench_ceiling(runs: int, updates: int) -> None:
    """What Ray itself gives on this machine now: the same work as bare tasks."""
    started = time.perf_counter()
    for i in range(runs):
        for _ in range(10):
            sgd(0.01 * (i + 1), updates)
    sequential = time.perf_counter() - started
    task = ray.remote(lambda lr, updates: [sgd(lr, updates) for _ in range(10)])
    ray.get([task.remote(0.01, 200) for _ in range(2)])  # workers up
    started = time.perf_counter()
    ray.get([task.remote(0.01 * (i + 1), updates) for i in range(runs)])
    parallel = time.perf_counter() - started
    print(f"  ceiling, bare functions: {sequential:6.2f} s here vs {parallel:6.2f} s as plain "
          f"Ray tasks: {sequential / parallel:.2f}x")  # fmt: skip


class SmallTrain(BaseTrainAction[Params]):
    """Fits y = 3x + 1 by SGD in pure Python: the same fixed work wherever it runs."""

    def execute(self, context: TrainContext) -> dict[str, Any]:
        weight, bias, epochs, lr = 0.0, 0.0, 10, self.params.lr
        for epoch in range(epochs):
            loss = 0.0
            for _ in range(self.params.updates // 200):
                for i in range(200):
                    x = (i % 20) / 20
                    error = weight * x + bias - (3 * x + 1)
                    weight -= lr * error * x
                    bias -= lr * error
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


def bench_sweep(executor: RayExecutor, runs: int, updates: int) -> None:
    variants = [{"lr": 0.01 * (i + 1), "updates": updates} for i in range(runs)]
    started = time.perf_counter()
    local = sweep(SmallTrain, variants, display="off")
    sequential = time.perf_counter() - started
    sweep(SmallTrain, variants[:2], executor=executor, display="off")  # warm-up
    started = time.perf_counter()
    remote = sweep(SmallTrain, variants, executor=executor, display="off")
    parallel = time.perf_counter() - started
    assert [r.status for r in local] == [r.status for r in remote] == ["succeeded"] * runs
    print(f"sweep of {runs} runs x {updates * 10:,} SGD updates")
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
    parser.add_argument("--updates", type=int, default=150_000)
    parser.add_argument("--skip-convert", action="store_true")
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--images", type=int, default=20_000)
    args = parser.parse_args()
    # Runs journal and keep data in a store of their own, never the user's (the Ray workers
    # started below inherit it too); removed with everything in it at the end.
    with tempfile.TemporaryDirectory(prefix="synapse_steps_bench_home_") as home:
        os.environ["SYNAPSE_STEPS_HOME"] = home
        run_benchmarks(args)


def run_benchmarks(args: argparse.Namespace) -> None:
    print(f"Python {platform.python_version()}, Ray {ray.__version__}, {os.cpu_count()} CPUs")
    print("load average before:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    print(f"ray.init(num_cpus=2): {time.perf_counter() - started:.1f} s (once per session)")
    # Workers kept between the warm-up and the measured sweep (see RayExecutor(keep_workers=)).
    executor = RayExecutor(keep_workers=True)
    try:
        bench_sweep(executor, args.runs, args.updates)
        executor.release_workers()  # the kept workers hold both CPUs
        bench_ceiling(args.runs, args.updates)
        bench_latency(executor, args.calls)
        if not args.skip_convert:
            bench_convert(executor, args.images)
    finally:
        executor.shutdown()
        ray.shutdown()
        print("load average after:", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
