"""The executors every option is checked on: none, ``LocalExecutor()``, and ``RayExecutor()`` on
a local Ray and on a two-node cluster (``ray start --head`` plus a second ``ray start
--address`` on loopback). The Ray ones are marked ``ray`` (``make test-ray``); ``make test``
deselects them, so it needs no Ray installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KINDS = [
    "none",
    "local",
    pytest.param("ray", marks=pytest.mark.ray),
    pytest.param("ray-cluster", marks=pytest.mark.ray),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A two-node Ray cluster on loopback whose processes this test started (and stops)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.sessions: list[int] = []
        # New clusters use token auth: the joining node and the driver need the token too. It
        # is the default one (~/.ray/auth_token, which a local ray.init makes as well): a
        # process that once read a token keeps it, so the driver could not switch to another.
        self.env = {**os.environ, "RAY_DISABLE_USAGE_STATS": "1", "RAY_AUTH_MODE": "token"}
        ray = str(Path(sys.executable).with_name("ray"))
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
        self._start(
            [ray, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
             f"--temp-dir={folder / 'ray'}", *common]
        )  # fmt: skip
        self._start([ray, "start", f"--address=127.0.0.1:{self.port}", *common])

    def _start(self, command: list[str]) -> None:
        # Each `ray start` and every daemon it spawns share a new session: stopped by its id.
        process = subprocess.Popen(
            command, env=self.env, start_new_session=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.sessions.append(process.pid)
        output, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            self.stop()
            raise RuntimeError(f"{' '.join(command[:3])} failed:\n{output}")

    def connect(self) -> None:
        import ray

        os.environ["RAY_AUTH_MODE"] = "token"
        ray.init(address=f"127.0.0.1:{self.port}", log_to_driver=False, logging_level=logging.ERROR)
        nodes = [node for node in ray.nodes() if node["Alive"]]
        assert len(nodes) == 2, nodes

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 10
            while self._processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        os.environ.pop("RAY_AUTH_MODE", None)

    def _processes(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) in self.sessions and fields[0] != "Z":
                found.append(int(entry.name))
        return found


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
