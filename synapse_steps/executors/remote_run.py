"""``RemoteRun``: the driver's side of one request running in a Ray actor.

It drains the worker's records (a long poll), publishes each where the caller's records go
(the notebook context's runtime: its front ends, its journal), in order, re-stamped into the
driver's clock, calls the request's progress callback on the driver, and turns the worker's
outcome back into the ``RunOutcome`` a local run would give. Ray is passed in, never imported
here.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from synapse_steps.errors import RunFailedError, WorkerDiedError
from synapse_steps.events import (
    Logged,
    MetricsReported,
    ProgressReported,
    Record,
    RunFinished,
    RunProgress,
    RunStatus,
    StepFailed,
)
from synapse_steps.executors.transport import Outcome, Restamper, WithResult, land, run_outcome
from synapse_steps.steps.request import OnDriver, ProgressCallback, RunOutcome
from synapse_steps.steps.runner import next_run_id

if TYPE_CHECKING:
    from synapse_steps.steps.request import Publish, RunRequest


class RemoteRun:
    """One request running on a worker; ``receive()`` after each ready drain, then ``finish()``."""

    def __init__(
        self,
        ray: Any,
        request: RunRequest[Any],
        publish: Publish,
        actor: Any,
        token: int,
        poll_wait: float,
    ) -> None:
        self._ray = ray
        self.request = request
        self.workflow = request.workflow
        self.runtime = request.context.runtime_ctx
        self._publish = publish
        callback = request.progress_callback
        self._callback: ProgressCallback | None = (
            None if isinstance(callback, OnDriver) else callback
        )
        self.actor = actor
        self.token = token
        self._poll_wait = poll_wait
        # Driver-side run ids: each worker process counts its own from 1.
        self._restamp = Restamper(self.runtime.clock.now, next_run_id)
        #: The run's last record, as published here.
        self.finish_record: RunFinished | None = None
        # Plain loggers get the step calls as calls, as they would locally.
        self._plain = self.runtime.plain_loggers
        self.outcome: Outcome | None = None
        #: A failure seen on the driver (worker died, progress callback raised ...).
        self.error: BaseException | None = None
        self.done = False
        #: False when the actor must not run anything else (killed, died).
        self.reusable = True
        self._cancel_deadline: float | None = None
        self.ref: Any = actor.drain.remote(token, poll_wait)

    @property
    def where(self) -> str:
        return f"a Ray worker (workflow {self.workflow!r})"

    # -- receiving -------------------------------------------------------------------------------

    def receive(self) -> None:
        """Take the drain that is ready: publish its records, then poll again or finish."""
        exceptions = self._ray.exceptions
        try:
            records, outcome = self._ray.get(self.ref)
        except exceptions.RayActorError as exc:
            self._died(f"the Ray worker running {self.workflow!r} died: {_first(exc)}")
            return
        except exceptions.RayError as exc:
            self.reusable = False
            self._ray.kill(self.actor, no_restart=True)
            self._end_locally(
                RunFailedError(
                    f"the run of {self.workflow!r} could not send its records back "
                    f"({_first(exc)}); values given to context.log / set_metrics must pickle"
                )
            )
            return
        for record in records:
            self._deliver(record)
        if outcome is None:
            self.ref = self.actor.drain.remote(self.token, self._poll_wait)
        else:
            self.outcome = outcome
            self.done = True

    def _deliver(self, arrived: Record | WithResult) -> None:
        record: Record = arrived.unwrap() if isinstance(arrived, WithResult) else arrived
        record = self._restamp(record)
        self._publish(record)
        kind = type(record)
        if kind is RunFinished:
            self.finish_record = record  # type: ignore[assignment]
        if self._plain and kind in (Logged, ProgressReported, MetricsReported):
            self._forward_to_plain(record)
        elif isinstance(record, RunProgress) and self._callback is not None:
            try:
                self._callback(record.current, record.total)
            except Exception as exc:
                # Locally a raising callback fails the run: stop the remote one the same way.
                if self.error is None:
                    self.error = RunFailedError(
                        f"progress callback raised {type(exc).__name__}: {exc}"
                    )
                    self.error.__cause__ = exc
                    self.cancel(60.0)

    def _forward_to_plain(self, record: Record) -> None:
        for logger in self._plain:
            if isinstance(record, Logged):
                logger.log(record.event, dict(record.data), record.file)
            elif isinstance(record, ProgressReported):
                logger.set_progress(record.current, record.total, record.category)
            elif isinstance(record, MetricsReported):
                logger.set_metrics(record.values, record.category)

    # -- stopping ----------------------------------------------------------------------------------

    def cancel(self, grace: float) -> None:
        """Interrupt the remote run (it rolls back there); killed if not done within ``grace``."""
        if self.done or self._cancel_deadline is not None:
            return
        self._cancel_deadline = self.runtime.clock.now() + grace
        self.actor.interrupt.remote(self.token)

    def overdue(self) -> bool:
        deadline = self._cancel_deadline
        return deadline is not None and not self.done and self.runtime.clock.now() > deadline

    def kill(self, why: str) -> None:
        """Kill the worker now; the run ends as failed (its steps are not rolled back)."""
        self._ray.kill(self.actor, no_restart=True)
        self._died(f"the Ray worker running {self.workflow!r} was killed: {why}")

    def _died(self, message: str) -> None:
        self.reusable = False
        self._end_locally(
            WorkerDiedError(
                f"{message}. The run ended as failed; steps it had executed could not be "
                "rolled back on that worker (with the journal on, it kept them: recover() "
                "undoes them, see the UnfinishedRunWarning). Run it again (a killed worker is "
                "not restarted)."
            )
        )

    def _end_locally(self, error: RunFailedError) -> None:
        """Close the run's books on the driver: the worker can no longer send its end."""
        self.error = error
        self.done = True
        state = self.runtime.recorder.run
        if state.phase not in ("running", "rolling back"):
            return
        now = self.runtime.clock.now()
        text = str(error)
        step = state.running_step
        failed_step = None
        if step is not None:
            failed_step = step.name
            elapsed = step.elapsed(now) or 0.0
            kind = type(error).__name__
            failed = StepFailed(step.plan.position, step.name, text, elapsed, now, False, kind)
            self._publish(failed)
        executed = sum(1 for s in state.steps if s.status in ("done", "failed", "interrupted"))
        total = len(state.steps)
        duration = state.elapsed(now)
        self.finish_record = RunFinished(
            "failed", executed, total, failed_step, text, (), (), duration, now
        )
        self._publish(self.finish_record)

    # -- the end -----------------------------------------------------------------------------------

    def finish(self) -> RunOutcome:
        """The run's outcome, as a local run gives it (its error rebuilt here, after its
        rollback), with the worker's final context landed on this side."""
        outcome = self.outcome
        if outcome is not None:
            for note in outcome.notes:
                warnings.warn(note, RuntimeWarning, stacklevel=3)
        if self.error is not None:
            status: RunStatus = (
                "interrupted" if isinstance(self.error, KeyboardInterrupt) else "failed"
            )
            run = RunOutcome(status, error=self.error)
        else:
            assert outcome is not None
            run = run_outcome(outcome, self.where)
        if outcome is not None and outcome.context is not None:
            run.context = land(outcome.context, self.runtime)
        run.finish = self.finish_record
        return run


def _first(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
