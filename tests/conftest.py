"""Shared fixtures: loggers that remember what they were told."""

from __future__ import annotations

from typing import Any

import pytest


class ListLogger:
    """The three basic logger methods only; every call is kept as a tuple in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        self.calls.append(("log", event, data, file))

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.calls.append(("set_progress", current, total, category))

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        self.calls.append(("set_metrics", value, category))

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """``(event, data)`` of every ``log`` call, in order."""
        return [(c[1], c[2]) for c in self.calls if c[0] == "log"]


class HookLogger(ListLogger):
    """A ``ListLogger`` that also defines every lifecycle hook; records go to ``records``.

    It has no hooks for the steps' own calls (``on_log`` / ``on_progress`` / ``on_metrics``):
    those reach it through the plain methods, into ``calls``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: list[Any] = []

    def on_run_start(self, record: Any) -> None:
        self.records.append(record)

    def on_step_start(self, record: Any) -> None:
        self.records.append(record)

    def on_step_skip(self, record: Any) -> None:
        self.records.append(record)

    def on_step_end(self, record: Any) -> None:
        self.records.append(record)

    def on_step_fail(self, record: Any) -> None:
        self.records.append(record)

    def on_rollback_start(self, record: Any) -> None:
        self.records.append(record)

    def on_step_rollback(self, record: Any) -> None:
        self.records.append(record)

    def on_step_reuse(self, record: Any) -> None:
        self.records.append(record)

    def on_run_progress(self, record: Any) -> None:
        self.records.append(record)

    def on_run_end(self, record: Any) -> None:
        self.records.append(record)

    def on_run_notice(self, record: Any) -> None:
        self.records.append(record)


@pytest.fixture
def list_logger() -> ListLogger:
    return ListLogger()


@pytest.fixture
def hook_logger() -> HookLogger:
    return HookLogger()
