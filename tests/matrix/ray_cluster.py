"""A two-node Ray cluster on loopback for the tests: ``ray start --head`` plus a second ``ray
start --address``, stopped by the session ids of the processes it started (never a machine-wide
``ray stop``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A two-node Ray cluster on loopback whose processes this test started (and stops)."""

    def __init__(self, folder: Path, second_node_resources: str = "{}") -> None:
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
        second = [ray, "start", f"--address=127.0.0.1:{self.port}", *common]
        self._start([*second, f"--resources={second_node_resources}"])

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
