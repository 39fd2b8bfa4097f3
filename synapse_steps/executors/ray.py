"""``RayExecutor``: run workflows on Ray while the notebook stays the control room.

::

    from synapse_steps.executors.ray import RayExecutor, sweep
    ex = RayExecutor()                       # ray.init() here; RayExecutor(address=...) a cluster
    Orchestrator(registry, context, executor=ex).execute()     # same result dict as locally
    MyTrainAction(params, executor=ex).run()
    runs = sweep(MyTrainAction, [params_a, params_b], executor=ex)
    runs.frame()

Each run executes in a Ray actor (one CPU by default). Every record it produces streams back
while it runs and is published, in order and re-stamped into the driver's clock, to the
runtime of the notebook's context: the live view and the store are the same as for a local run.
The final context state is copied back into the notebook's context. A failure rolls back on the
worker and raises ``StepFailedError`` here with the remote traceback as its cause; the stop
button interrupts the remote run (which rolls back there); a worker that dies ends the run with
``WorkerDiedError``. Needs the ``ray`` extra: ``pip install 'synapse-steps[ray]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

from synapse_steps.errors import MissingDependencyError, UsageError
from synapse_steps.events import Record
from synapse_steps.executors.remote_run import RemoteRun

if TYPE_CHECKING:
    from synapse_steps.executors.sweep import SweepRuns
    from synapse_steps.steps.orchestrator import Orchestrator

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
        runtime_env: dict[str, Any] | None = None,
        log_to_driver: bool = False,
        keep_workers: bool = False,
    ) -> None:
        self._ray = require_ray()
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_run = cpus_per_run
        self.runtime_env = runtime_env
        self.log_to_driver = log_to_driver
        self.keep_workers = keep_workers
        self._started_ray = False
        self._actor_class: Any = None
        self._idle: list[Any] = []
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

    def _acquire(self) -> Any:
        if self._idle:
            return self._idle.pop()
        if self._actor_class is None:
            from synapse_steps.executors._ray_worker import RunActor

            # Threads: the run, its drains and an interrupt, all at once.
            self._actor_class = self._ray.remote(num_cpus=self.cpus_per_run, max_concurrency=4)(
                RunActor
            )
        return self._actor_class.options(max_restarts=0).remote()

    def _release(self, actor: Any, reusable: bool) -> None:
        if reusable:
            self._idle.append(actor)
        else:
            self._ray.kill(actor, no_restart=True)

    def release_workers(self) -> None:
        """Stop the idle workers, giving their CPUs back to the cluster."""
        for actor in self._idle:
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

    def execute(self, orchestrator: Orchestrator[Any]) -> dict[str, Any]:
        """Run ``orchestrator``'s workflow on a Ray worker; see the module docstring."""
        __tracebackhide__ = True
        runtime = orchestrator.context.runtime_ctx
        with runtime.running():
            (run,) = self.run_all([orchestrator])
            return run.finish()

    def run_all(
        self,
        orchestrators: Sequence[Orchestrator[Any]],
        *,
        max_parallel: int | None = None,
        on_record: Callable[[int, Record], None] | None = None,
    ) -> list[RemoteRun]:
        """Run several workflows at once (at most ``max_parallel``); their runs once all ended.

        ``on_record(index, record)`` is called after each record was published to the
        ``index``-th orchestrator's runtime. Call ``finish()`` on a run for its result (or its
        error). A ``KeyboardInterrupt`` stops every run, waits for their rollbacks and is
        re-raised.
        """
        __tracebackhide__ = True
        self._connect()
        limit = max_parallel or self.parallelism()
        payloads = [self._pack(orchestrator) for orchestrator in orchestrators]
        waiting = list(enumerate(orchestrators))
        runs: list[RemoteRun | None] = [None] * len(orchestrators)
        active: dict[Any, RemoteRun] = {}
        stopping: KeyboardInterrupt | None = None
        try:
            while waiting or active:
                try:
                    while waiting and len(active) < limit and stopping is None:
                        index, orchestrator = waiting.pop(0)
                        run = self._start(orchestrator, payloads[index], index, on_record)
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
                    if stopping is not None:
                        for run in list(active.values()):
                            if run.overdue():
                                del active[run.ref]
                                run.kill("did not roll back within the grace period after stop")
                except KeyboardInterrupt as interrupt:
                    if stopping is not None:  # stop pressed twice: do not wait for rollbacks
                        for run in active.values():
                            run.kill("stopped twice: killed without waiting for its rollback")
                        active.clear()
                        raise
                    stopping = interrupt
                    for run in active.values():
                        run.cancel(CANCEL_GRACE)
        finally:
            if not self.keep_workers:
                self.release_workers()
        if stopping is not None:
            raise stopping
        return [run for run in runs if run is not None]

    def _pack(self, orchestrator: Orchestrator[Any]) -> bytes:
        """The workflow as one blob; everything is checked before any run starts."""
        from ray import cloudpickle

        from synapse_steps.executors.transport import ship

        runtime = orchestrator.context.runtime_ctx
        # The default client is opened afresh on the worker; one you gave travels by value.
        client = None if runtime._client is _unset() else runtime._client
        shipped = (orchestrator.registry, orchestrator.context, orchestrator.name, client)
        try:
            return ship(shipped, runtime, cloudpickle.CloudPickler)
        except Exception as exc:
            raise UsageError(
                f"workflow {orchestrator.name!r} cannot be sent to a Ray worker: its steps, "
                f"context and client must pickle, and this failed with {type(exc).__name__}: "
                f"{exc}. Keep open files, locks and connections out of steps and context "
                "fields (open them inside execute())"
            ) from exc

    def _start(
        self,
        orchestrator: Orchestrator[Any],
        payload: bytes,
        index: int,
        on_record: Callable[[int, Record], None] | None,
    ) -> RemoteRun:
        runtime = orchestrator.context.runtime_ctx
        spec = {"env": dict(runtime.env), "job_id": runtime.job_id}
        actor = self._acquire()
        token = next(self._tokens)
        actor.start.remote(token, payload, spec)
        forward = None if on_record is None else (lambda record: on_record(index, record))
        return RemoteRun(self._ray, orchestrator, actor, token, POLL_WAIT, forward)

    def __repr__(self) -> str:
        where = self.address or f"local Ray (num_cpus={self.num_cpus})"
        return f"RayExecutor({where}, cpus_per_run={self.cpus_per_run})"


def _unset() -> Any:
    from synapse_steps.context import _UNSET

    return _UNSET


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
