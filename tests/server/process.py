"""A real `vectro serve` subprocess for the tests that need a real process (kill -9, restart, CLI)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def vectro_cli(*args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vectro", *map(str, args)], capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"vectro {args} failed: {proc.stderr}")
    return proc


def _parse(resp):
    body = resp.read()
    if resp.headers.get("content-type", "").startswith("application/json"):
        return json.loads(body)
    return body.decode()


class Server:
    """`python -m vectro serve --data DIR` on a free loopback port; waits until /health answers."""

    def __init__(self, data: Path, *extra, start_timeout: float = 60.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "vectro", "serve", "--data", str(data), "--port",
                                      str(self.port), *map(str, extra)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=cli_env())
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("server did not start in time")
                time.sleep(0.05)
        self.ready_seconds = time.perf_counter() - self.started

    def request(self, method: str, path: str, body=None, headers=None):
        """(status, parsed JSON, or the text when the answer is not JSON) of one request."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, _parse(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, _parse(exc)

    def stop(self) -> str:
        """Ctrl-C; returns what the server printed."""
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        return out

    def terminate(self) -> str:
        """SIGTERM (what systemd and docker stop send); returns what the server printed."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no clean-up at all
        self.proc.communicate(timeout=60)
