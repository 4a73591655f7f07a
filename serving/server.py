"""Start and stop a real `bentoml serve` process (used by `hybrid demo` and the integration tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVICE = "serving.service:HybridService"
STARTUP_FAILED = "Application startup failed"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def serve_command(host: str, port: int) -> list[str]:
    bentoml = Path(sys.executable).with_name("bentoml")
    return [str(bentoml), "serve", SERVICE, "--host", host, "--port", str(port)]


class ServiceProcess:
    """A `bentoml serve` subprocess; a context manager that waits until it is ready.

        with ServiceProcess(port=free_port(), log_path=Path("server.log")) as server:
            httpx.post(f"{server.url}/classify", json={"texts": ["hi"]})
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        log_path: Path = Path("mlruns/server.log"),
        env: dict[str, str] | None = None,
        ready_timeout: float = 180.0,
    ) -> None:
        self.host, self.port, self.log_path = host, port, Path(log_path)
        self.env = {**os.environ, **(env or {})}
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServiceProcess:
        if port_in_use(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is already in use: stop that server or pick another port")
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            serve_command(self.host, self.port), stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True,  # so stop() can signal the workers too
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            # BentoML's supervisor outlives a worker that failed to start, so read the log as well.
            if self.process.poll() is not None or STARTUP_FAILED in self.log_tail(200):
                self.stop()
                raise RuntimeError(f"the server failed to start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"the server was not ready after {self.ready_timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if hasattr(self, "_log"):
            self._log.close()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
