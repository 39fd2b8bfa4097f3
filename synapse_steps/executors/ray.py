"""``RayExecutor``: run workflows on Ray while the notebook stays the control room.

::

    from synapse_steps.executors.ray import RayExecutor, sweep
    ex = RayExecutor()                       # ray.init() here; RayExecutor(address=...) a cluster
    Orchestrator(registry, context, executor=ex).execute()     # same result dict as locally
    MyTrainAction(params, executor=ex).run()
    runs = sweep(MyTrainAction, [params_a, params_b], executor=ex)
    runs.frame()

Each run executes in a Ray actor (one CPU by default; ``num_gpus=``, ``resources=`` or a step's
``ray_resources`` place it on the right node). The orchestrator's ``RunRequest`` is shipped to
it; every record the run produces streams back while it runs and is published, in order and
re-stamped into the driver's clock, to the runtime of the notebook's context: the live view,
the store and the journal are the same as for a local run (the journal is written on the
driver). The progress callback is called on the driver. The final context state is copied back
into the notebook's context. A failure rolls back on the worker and raises ``StepFailedError``
here with the remote traceback as its cause; ``on_failure="keep"``, ``resume()`` and
``rollback()`` work as locally; the stop button interrupts the remote run (which rolls back
there); a worker that dies ends the run with ``WorkerDiedError``. Needs the ``ray`` extra:
``pip install 'synapse-steps[ray]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

from synapse_steps.errors import MissingDependencyError, UsageError
from synapse_steps.executors.remote_run import RemoteRun
from synapse_steps.steps.request import RunOutcome, RunRequest

if TYPE_CHECKING:
    from synapse_steps.executors.sweep import SweepRuns
    from synapse_steps.steps.request import Publish

#: Seconds a drain call waits on the worker for a record (a long poll: latency stays at the
#: round trip, and an idle run costs one call per interval).
POLL_WAIT = 0.25
#: Seconds a stopped run gets to roll back on its worker before the worker is killed.
CANCEL_GRACE = 60.0


def require_ray() -> Any:
    """The ``ray`` module, or an error naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            "RayExecutor needs Ray, which is not installed. Install the extra: "
            "pip install 'synapse-steps[ray]' (or pip install 'ray>=2.9')"
        ) from exc
    return ray


class RayExecutor:
    """Runs workflows in Ray actors and streams their records back to the notebook.

    Args:
        address: a Ray cluster to connect to (``"ray://head:10001"``, ``"auto"``); ``None``
            starts a local Ray (or uses the one already initialised in this process).
        num_cpus: CPUs of the local Ray started when ``address`` is ``None`` (default: all).
        cpus_per_run: CPUs each run reserves on the cluster.
        num_gpus: GPUs each run reserves: Ray places the run on a node that has them (how you
            pick the GPU node of a cluster). A step may ask for more with a ``ray_resources``
            attribute (e.g. ``{"num_gpus": 1}``): the run reserves the most any of its steps
            asks for, as one run executes in one worker.
        resources: custom Ray resources each run reserves (e.g. ``{"node_a100": 1}``).
        runtime_env: passed to ``ray.init`` (e.g. ``{"pip": ["synapse-steps"]}`` on a cluster
            whose nodes do not have the package yet).
        log_to_driver: also print the workers' stdout/stderr here (steps should report through
            ``context.log``, which always reaches the notebook).
        keep_workers: keep idle workers between calls, so the next run starts at once. An idle
            worker holds its CPUs, so other Ray work of the session (a sharded conversion, your
            own tasks) waits for them: off by default; ``shutdown()`` releases them.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        cpus_per_run: float = 1.0,
        num_gpus: float = 0.0,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        log_to_driver: bool = False,
        keep_workers: bool = False,
    ) -> None:
        self._ray = require_ray()
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_run = cpus_per_run
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.runtime_env = runtime_env
        self.log_to_driver = log_to_driver
        self.keep_workers = keep_workers
        self._started_ray = False
        self._actor_class: Any = None
        #: Idle workers by what they reserve, and what each worker reserves.
        self._idle: dict[str, list[Any]] = {}
        self._placement: dict[Any, str] = {}
        self._tokens = count(1)

    # -- Ray itself ------------------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": self.log_to_driver,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if self.address is not None:
            options["address"] = self.address
        else:
            options["num_cpus"] = self.num_cpus
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        ray.init(**options)
        self._started_ray = True

    def parallelism(self) -> int:
        """How many runs the cluster can hold at once (its CPUs / ``cpus_per_run``)."""
        self._connect()
        cpus = float(self._ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // self.cpus_per_run))

    def _acquire(self, placement: dict[str, Any]) -> Any:
        key = repr(sorted(placement.items()))
        idle = self._idle.get(key)
        if idle:
            return idle.pop()
        if self._actor_class is None:
            from synapse_steps.executors._ray_worker import RunActor

            # Threads: the run, its drains and an interrupt, all at once.
            self._actor_class = self._ray.remote(max_concurrency=4)(RunActor)
        actor = self._actor_class.options(max_restarts=0, **placement).remote()
        self._placement[actor] = key
        return actor

    def _placement_of(self, request: RunRequest[Any]) -> dict[str, Any]:
        """What the run's worker reserves: the executor's figures, or more if a step asks."""
        cpus, gpus, resources = self.cpus_per_run, self.num_gpus, dict(self.resources)
        for step in request.steps:
            asked = getattr(step, "ray_resources", None)
            if not asked:
                continue
            if not isinstance(asked, dict):
                raise UsageError(
                    f"step {step.name!r}: ray_resources must be a dict such as "
                    f"{{'num_gpus': 1}}, got {asked!r}"
                )
            cpus = max(cpus, float(asked.get("num_cpus", 0)))
            gpus = max(gpus, float(asked.get("num_gpus", 0)))
            for name, amount in asked.get("resources", {}).items():
                resources[name] = max(resources.get(name, 0.0), float(amount))
        placement: dict[str, Any] = {"num_cpus": cpus}
        if gpus:
            placement["num_gpus"] = gpus
        if resources:
            placement["resources"] = resources
        return placement

    def _release(self, actor: Any, reusable: bool) -> None:
        key = self._placement.get(actor)
        if reusable and key is not None:
            self._idle.setdefault(key, []).append(actor)
        else:
            self._placement.pop(actor, None)
            self._ray.kill(actor, no_restart=True)

    def release_workers(self) -> None:
        """Stop the idle workers, giving their CPUs back to the cluster."""
        for actors in self._idle.values():
            for actor in actors:
                self._placement.pop(actor, None)
                self._ray.kill(actor, no_restart=True)
        self._idle.clear()

    def shutdown(self) -> None:
        """Stop the idle workers, and Ray itself when this executor started it."""
        self.release_workers()
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- running ---------------------------------------------------------------------------------

    def run(self, request: RunRequest[Any], publish: Publish) -> RunOutcome:
        """Run ``request`` on a Ray worker (see the module docstring)."""
        __tracebackhide__ = True
        (outcome,) = self.run_all([(request, publish)])
        return outcome

    def run_all(
        self,
        jobs: Sequence[tuple[RunRequest[Any], Publish]],
        *,
        max_parallel: int | None = None,
    ) -> list[RunOutcome]:
        """Run several requests at once (at most ``max_parallel``); their outcomes once all
        ended. A ``KeyboardInterrupt`` stops every run and waits for their rollbacks (their
        outcomes then carry the interrupt); pressed twice, the workers are killed at once and
        it is raised."""
        __tracebackhide__ = True
        self._connect()
        limit = max_parallel or self.parallelism()
        payloads = [self._pack(request) for request, _ in jobs]
        placements = [self._placement_of(request) for request, _ in jobs]
        waiting = list(range(len(jobs)))
        runs: list[RemoteRun | None] = [None] * len(jobs)
        active: dict[Any, RemoteRun] = {}
        stopping = False
        try:
            while waiting or active:
                try:
                    while waiting and len(active) < limit and not stopping:
                        index = waiting.pop(0)
                        run = self._start(jobs[index], payloads[index], placements[index])
                        runs[index] = run
                        active[run.ref] = run
                    if not active:
                        break
                    ready, _ = self._ray.wait(list(active), num_returns=1, timeout=0.5)
                    for ref in ready:
                        run = active.pop(ref)
                        run.receive()
                        if run.done:
                            self._release(run.actor, run.reusable)
                        else:
                            active[run.ref] = run
                    if stopping:
                        for run in list(active.values()):
                            if run.overdue():
                                del active[run.ref]
                                run.kill("did not roll back within the grace period after stop")
                except KeyboardInterrupt:
                    if stopping:  # stop pressed twice: do not wait for rollbacks
                        for run in active.values():
                            run.kill("stopped twice: killed without waiting for its rollback")
                        active.clear()
                        raise
                    stopping = True
                    for run in active.values():
                        run.cancel(CANCEL_GRACE)
        finally:
            if not self.keep_workers:
                self.release_workers()
        outcomes = []
        for (request, _), started in zip(jobs, runs, strict=True):
            if started is None:  # stopped before it started
                interrupt = KeyboardInterrupt(f"{request.workflow!r} was stopped before it ran")
                outcomes.append(RunOutcome("interrupted", error=interrupt))
            else:
                outcomes.append(started.finish())
        return outcomes

    def _pack(self, request: RunRequest[Any]) -> bytes:
        """The request as one blob; every request is checked before any run starts."""
        from ray import cloudpickle

        from synapse_steps.executors.transport import ship

        runtime = request.context.runtime_ctx
        # The default client is opened afresh on the worker; one you gave travels by value.
        client = None if runtime.uses_default_client else runtime.client
        try:
            return ship((request.shipped(), client), runtime, cloudpickle.CloudPickler)
        except Exception as exc:
            raise UsageError(
                f"workflow {request.workflow!r} cannot be sent to a Ray worker: its steps, "
                f"context and client must pickle, and this failed with {type(exc).__name__}: "
                f"{exc}. Keep open files, locks and connections out of steps and context "
                "fields (open them inside execute())"
            ) from exc

    def _start(
        self, job: tuple[RunRequest[Any], Publish], payload: bytes, placement: dict[str, Any]
    ) -> RemoteRun:
        request, publish = job
        runtime = request.context.runtime_ctx
        spec = {"env": dict(runtime.env), "job_id": runtime.job_id}
        actor = self._acquire(placement)
        token = next(self._tokens)
        actor.start.remote(token, payload, spec)
        return RemoteRun(self._ray, request, publish, actor, token, POLL_WAIT)

    def __repr__(self) -> str:
        where = self.address or f"local Ray (num_cpus={self.num_cpus})"
        gpus = f", num_gpus={self.num_gpus}" if self.num_gpus else ""
        return f"RayExecutor({where}, cpus_per_run={self.cpus_per_run}{gpus})"


def sweep(
    action_class: type[Any],
    variants: Sequence[Any],
    *,
    executor: Any = None,
    names: Sequence[str] | None = None,
    display: str | None = None,
    max_parallel: int | None = None,
) -> SweepRuns:
    """Run ``action_class`` once per params in ``variants``, in parallel on ``executor``.

    ``variants``: params objects or dicts (validated with the action's params model); see
    ``synapse_steps.executors.sweep.grid`` for a small grid. One combined live view shows a row
    per run. A failing variant rolls back alone; the others finish. Returns ``SweepRuns``
    (``.frame()``: params, status and final metrics per run). Without a ``RayExecutor`` the
    variants run one after another in this process.
    """
    from synapse_steps.executors.sweep import run_sweep

    return run_sweep(
        action_class, variants, executor=executor, names=names, display=display,
        max_parallel=max_parallel,
    )  # fmt: skip


__all__ = ["RayExecutor", "RemoteRun", "require_ray", "sweep"]
