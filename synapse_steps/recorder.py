"""``Recorder``: the one store of a runtime's records, and the front ends' source.

Every ``RuntimeContext`` owns exactly one recorder. The orchestrator publishes lifecycle records
to it and the steps' ``log`` / ``set_progress`` / ``set_metrics`` calls arrive at it first; it
folds each into the current ``RunState`` and hands the record to every subscriber that defines
the matching hook (see ``synapse_steps.events``). Front ends never keep a copy of the history:
they read ``recorder.run``.

Progress is the one call a loop makes millions of times, so it costs a few comparisons: a call
inside the slice of progress the last full call armed (the gate, about 5 ms of a steady loop)
only leaves its value, which any reader of ``recorder.run`` and any other record fold in first.
A ``ProgressReported`` record goes out at most every ``progress_interval`` seconds per store
(plus the first of each tenth of a category and the last, and a flush before any other record,
so subscribers never see a lifecycle change before the progress that preceded it).

The DataFrames and the figure are made by the display layer (through ``synapse_steps.wiring``),
which imports pandas and matplotlib only when one is asked for.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from synapse_steps._warn import warn_user
from synapse_steps.clock import SYSTEM_CLOCK, Clock
from synapse_steps.errors import UsageError
from synapse_steps.events import (
    HOOK_NAMES,
    KNOWN_HOOKS,
    Logged,
    MetricsReported,
    ProgressReported,
    Record,
    RunStarted,
    StepFinished,
    StepStarted,
)
from synapse_steps.run_state import RunState
from synapse_steps.wiring import WIRING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

Hook = Callable[[Any], None]
#: Builds a record from a tuple of its fields (a NamedTuple's own __new__ costs ~3x as much).
_new = tuple.__new__


class LoggedEvent(NamedTuple):
    """A logged event as the recorder keeps it: which run it belongs to, and when."""

    run_id: int
    time: float  # seconds since the epoch
    event: str
    data: dict[str, Any]
    file: str | None


#: Seconds between two progress records at most (tqdm's default refresh interval).
PROGRESS_INTERVAL = 0.1
#: About how often a steady loop's progress calls take the full path (and read the clock).
GATE_SECONDS = 0.005
#: The gate's first width, as a share of the total, and the narrowest (a slow loop's calls all
#: take the full path: int progress never gates less than one step).
GATE_START_SHARE = 1e-4
GATE_MIN_SHARE = 1e-9


def _tenth_start(total: float, tenth: int) -> float:
    """The smallest progress value in ``tenth`` (0..10) of ``total``; exact for int totals."""
    if isinstance(total, int):
        return -(-total * tenth // 10)  # ceil(total * tenth / 10) in integers
    return total * tenth / 10


class Recorder:
    """Records what steps report and how each run went, and tells subscribers.

    ``runs`` holds one ``RunState`` per run (the last ``max_runs``); ``events`` the latest
    ``max_events`` logged events across runs. Metric history lives in each run's ``metrics``.
    """

    def __init__(
        self,
        max_events: int = 100_000,
        max_runs: int = 20,
        *,
        clock: Clock = SYSTEM_CLOCK,
        progress_interval: float = PROGRESS_INTERVAL,
    ) -> None:
        self.clock = clock
        self.progress_interval = progress_interval
        self.events: deque[LoggedEvent] = deque(maxlen=max_events)
        self.runs: deque[RunState] = deque(maxlen=max_runs)
        self.runs.append(RunState())  # holds what is reported before any run starts
        self._fold_into(self.runs[-1])
        self._hooks: dict[type[Any], tuple[Hook, ...]] = {kind: () for kind in HOOK_NAMES}
        #: The record types some subscriber hears: a record nobody would hear need not be made
        #: (a step's own two, see step_started; RunProgress, see the runner).
        self.heard: frozenset[type[Any]] = frozenset()
        self._subscribers: list[object] = []
        # Progress categories updated since the last ProgressReported went out.
        self._unsent: dict[str, tuple[float, float]] = {}
        # The tenth of its total each category last went out at (a new one goes out at once).
        self._tenths: dict[str, int] = {}
        self._next_progress = 0.0
        self._warned_progress = False
        # The progress gate (see set_progress): the category, total and value range whose calls
        # only leave their value, the value held, the slice's width and when it was armed.
        self._gate_category: str | None = None
        self._gate_total: float = math.nan
        self._gate_low, self._gate_high = math.inf, -math.inf
        self._gate_end: float = -math.inf  # where the armed tenth ends
        self._gate_current: float | None = None
        self._gate_share = GATE_START_SHARE  # the slice's width, as a share of the total
        self._gate_armed_at = 0.0
        # One record at a time reaches the subscribers, whichever thread reports it.
        self._lock = threading.RLock()

    @property
    def run(self) -> RunState:
        """The current (or last) run, with the latest progress folded in."""
        self._show_gated()
        return self.runs[-1]

    # -- subscribers -------------------------------------------------------------------------

    def subscribe(self, subscriber: object, *, checked: bool = False) -> None:
        """Deliver records to ``subscriber``'s hooks (``on_step_start`` ...) from now on."""
        if not checked:
            check_hooks(subscriber)
        self._subscribers.append(subscriber)
        self._rebuild_hooks()

    def unsubscribe(self, subscriber: object) -> None:
        self._subscribers = [s for s in self._subscribers if s is not subscriber]
        self._rebuild_hooks()

    @property
    def subscribers(self) -> tuple[object, ...]:
        return tuple(self._subscribers)

    def _rebuild_hooks(self) -> None:
        self._hooks = {
            kind: tuple(
                getattr(s, hook) for s in self._subscribers if callable(getattr(s, hook, None))
            )
            for kind, hook in HOOK_NAMES.items()
        }
        self.heard = frozenset(kind for kind, hooks in self._hooks.items() if hooks)

    # -- records -------------------------------------------------------------------------------

    def publish(self, record: Record) -> None:
        """Fold a record into the run's state, then hand it to the subscribers."""
        kind = type(record)
        if self._gate_current is not None or self._unsent:  # progress goes before any record
            self._settle_progress()
        if kind is RunStarted:
            self._tenths.clear()
            if self.runs[-1].phase != "idle":
                self.runs.append(RunState())
                self._fold_into(self.runs[-1])
        elif kind is Logged:
            self._keep_event(record)  # type: ignore[arg-type]
        self._folds[kind](record)
        hooks = self._hooks[kind]
        if hooks:
            with self._lock:
                self._deliver(hooks, record)

    # -- the two records of every step, made only when heard ----------------------------------

    def step_started(self, position: int, name: str, time: float) -> None:
        """``publish(StepStarted(position, name, time))``; the record is made only when a
        subscriber hears it, else the state folds the fields (every step of every run comes
        by here: a record costs more than the fold)."""
        if StepStarted in self.heard:
            self.publish(_new(StepStarted, (position, name, time)))
            return
        if self._gate_current is not None or self._unsent:
            self._settle_progress()
        self._state.step_started(position, name, time)

    def step_finished(
        self, position: int, name: str, duration: float, time: float, result: Any
    ) -> None:
        """``publish(StepFinished(...))``, made only when heard (see ``step_started``)."""
        if StepFinished in self.heard:
            self.publish(_new(StepFinished, (position, name, duration, time, result)))
            return
        if self._gate_current is not None or self._unsent:
            self._settle_progress()
        self._state.step_finished(position, name, duration)

    def _settle_progress(self) -> None:
        """Fold the gate's held value in and send the unsent progress: before any other record,
        so subscribers never see a lifecycle change before the progress that preceded it."""
        self._take_gated()
        if self._unsent:
            with self._lock:
                self._send_progress()

    def _fold_into(self, state: RunState) -> None:
        # The state's fold method per record type, bound once per run: publish() runs for
        # every record and calls the one it needs directly.
        self._state = state
        self._folds: dict[type[Any], Hook] = {
            kind: getattr(state, hook) for kind, hook in HOOK_NAMES.items()
        }

    def _keep_event(self, record: Logged) -> None:
        run_id = self.runs[-1].run_id
        self.events.append(
            LoggedEvent(run_id, record.wall_time, record.event, record.data, record.file)
        )

    def _deliver(self, hooks: tuple[Hook, ...], record: Record) -> None:
        for hook in hooks:
            try:
                hook(record)
            except Exception as exc:
                # A display must never break a run: report once, then leave that subscriber out.
                self._drop_owner(hook, exc)

    def _drop_owner(self, hook: Hook, exc: Exception) -> None:
        owner = getattr(hook, "__self__", hook)
        warn_user(
            f"{type(owner).__name__} raised in {getattr(hook, '__name__', 'a hook')}: {exc!r}; "
            "it receives no more records from this runtime",
            RuntimeWarning,
        )
        self.unsubscribe(owner)

    # -- what steps report -------------------------------------------------------------------

    def log(
        self, event: str, data: Mapping[str, Any] | None = None, file: str | None = None
    ) -> None:
        if not isinstance(event, str):
            raise UsageError(
                f"log() takes the event name as a string first, got {event!r} of type "
                f"{type(event).__name__}; e.g. context.log('loaded', {{'count': 3}})"
            )
        if data is not None and not isinstance(data, Mapping):
            raise UsageError(
                f"log({event!r}, data) takes a mapping as data, got {data!r} of type "
                f"{type(data).__name__}; e.g. context.log({event!r}, {{'value': ...}})"
            )
        self.publish(Logged(event, dict(data or {}), file, self.clock.wall()))

    def set_progress(self, current: float, total: float, category: str | None = None) -> None:
        # The hot path of every loop, kept to three comparisons and a store: a call whose value
        # stays inside the range the last full call armed (the "gate": same category and total,
        # a slice of the current tenth) only leaves its value for the state. The slice's width
        # adapts so a steady loop leaves it about every GATE_SECONDS (tqdm's miniters idea,
        # counted in progress instead of calls: no counter to keep).
        try:
            if (
                category == self._gate_category
                and total == self._gate_total
                and self._gate_low <= current < self._gate_high
            ):
                self._gate_current = current
                return
        except TypeError:  # not numbers: the full path says so (a zero-cost try in 3.11+)
            pass
        self._progress_in_full(current, total, category)

    def _progress_in_full(self, current: Any, total: Any, category: str | None) -> None:
        self._take_gated()
        try:
            in_range = 0 <= current <= total < math.inf
        except TypeError:
            in_range = False
        if not in_range:
            sanitized = self._sanitize_progress(current, total, category)
            if sanitized is None:
                return
            current, total = sanitized
        self.runs[-1].progress(current, total, category)
        now = self.clock.now()
        tenth = int(10 * current / total) if total else 10
        if self._hooks[ProgressReported]:
            key = category or "progress"
            # Every tenth of a category goes out too, so what a front end prints does not
            # depend on timing (a notebook checked by nbval prints the same lines every run).
            crossed = self._tenths.get(key) != tenth
            self._unsent[key] = (current, total)
            if crossed or now >= self._next_progress:
                self._tenths[key] = tenth
                with self._lock:
                    self._send_progress()
                self._next_progress = now + self.progress_interval
        self._arm_gate(current, total, category, tenth, now)

    def _arm_gate(
        self, current: float, total: float, category: str | None, tenth: int, now: float
    ) -> None:
        """Let the next calls from ``current`` up to a slice of its tenth take the fast path."""
        if (
            category == self._gate_category
            and total == self._gate_total
            and self._gate_high <= current < self._gate_end
        ):
            # The loop went past the slice (not past the tenth): aim at GATE_SECONDS per slice.
            elapsed = now - self._gate_armed_at
            if elapsed < GATE_SECONDS / 2:
                self._gate_share = min(2 * self._gate_share, 0.1)
            elif elapsed > 2 * GATE_SECONDS:
                self._gate_share = max(self._gate_share / 2, GATE_MIN_SHARE)
        with self._lock:  # a reader folding the gate sees its fields change together
            self._gate_current = None
            self._gate_category = category
            self._gate_total = total
            if tenth < 10:
                end = _tenth_start(total, tenth + 1)
                width = total * self._gate_share
                if isinstance(total, int) and isinstance(current, int):
                    width = max(1, int(width))  # int bounds: int-to-float compares cost more
                self._gate_low = current
                self._gate_high = min(current + width, end)
                self._gate_end = end
            else:  # at the end: the last call always takes the full path
                self._gate_low, self._gate_high, self._gate_end = math.inf, -math.inf, -math.inf
            self._gate_armed_at = now

    def _take_gated(self) -> None:
        """Fold the value the gate holds into the state and the unsent progress (reporter side)."""
        current = self._gate_current
        if current is None:
            return
        self._gate_current = None
        category, total = self._gate_category, self._gate_total
        self.runs[-1].progress(current, total, category)
        if self._hooks[ProgressReported]:
            self._unsent[category or "progress"] = (current, total)

    def _show_gated(self) -> None:
        """Fold the gate's value into the state for a reader (a display's ticker thread).

        The value stays held: only the reporting side sends it, so a reader racing the loop
        never drops the last value of a loop that paused.
        """
        if self._gate_current is None:
            return
        with self._lock:
            current = self._gate_current
            if current is not None:
                self.runs[-1].progress(current, self._gate_total, self._gate_category)

    def set_metrics(self, value: Mapping[str, Any], category: str | None = None) -> None:
        if type(value) is not dict and not isinstance(value, Mapping):  # dict: skip the ABC
            raise UsageError(
                f"set_metrics() takes a mapping of metric names to values, got {value!r} of "
                f"type {type(value).__name__}; e.g. context.set_metrics({{'loss': 0.25, "
                "'epoch': 3}})"
            )
        self.publish(MetricsReported(category or "metrics", dict(value), self.clock.now()))

    def _send_progress(self) -> None:
        # Already folded into the state call by call: these records only go to subscribers.
        unsent, self._unsent = self._unsent, {}
        at = self.clock.now()
        hooks = self._hooks[ProgressReported]
        for category, (current, total) in unsent.items():
            self._deliver(hooks, ProgressReported(category, current, total, at))

    def _sanitize_progress(
        self, current: Any, total: Any, category: str | None
    ) -> tuple[float, float] | None:
        """Clamp out-of-range progress into 0..total; ignore what is not a number. Warn once.

        A display must not fail a run over a bad progress value, nor show 167 %.
        """
        usable = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (current, total)
        )
        if not self._warned_progress:
            self._warned_progress = True
            what = "clamped into 0..total" if usable and total > 0 else "ignored"
            warn_user(
                f"set_progress({current!r}, {total!r}) for {category or 'the run'!r}: progress "
                f"must satisfy 0 <= current <= total with finite numbers; {what} "
                "(warned once per runtime)",
                RuntimeWarning,
            )
        if not usable or total <= 0:
            return None
        return min(max(float(current), 0.0), float(total)), float(total)

    # -- history as tables -------------------------------------------------------------------

    def steps_frame(self) -> pd.DataFrame:
        """One row per step of the last run: step, status, duration (s), error, rollback."""
        made: pd.DataFrame = WIRING.steps_frame(self.run)
        return made

    def metrics_frame(self) -> pd.DataFrame:
        """Long format metric history of the last run: category, metric, x, value."""
        made: pd.DataFrame = WIRING.metrics_frame(self.run.metrics)
        return made

    def events_frame(self) -> pd.DataFrame:
        """The logged events: time (datetime), event, data, file."""
        made: pd.DataFrame = WIRING.events_frame(self.events)
        return made

    def plot_metrics(self) -> Figure:
        """A static matplotlib figure of the last run's metrics."""
        made: Figure = WIRING.metrics_figure(self.run.metrics)
        return made

    def __repr__(self) -> str:
        return (
            f"<Recorder: {len(self.events)} events, last run {self.run.outcome()}, "
            f"{len(self.run.metrics)} metric points>"
        )


def check_hooks(subscriber: object) -> None:
    """Warn about ``on_*`` methods that match no hook (a misspelt hook is never called)."""
    for name in dir(subscriber):
        unknown = name.startswith("on_") and name not in KNOWN_HOOKS
        if unknown and callable(getattr(subscriber, name, None)):
            warn_user(
                f"{type(subscriber).__name__}.{name} is not a known hook and will never be "
                f"called; known hooks: {', '.join(sorted(KNOWN_HOOKS))}",
                UserWarning,
            )
