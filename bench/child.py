"""A benchmark's second process (the emulator): the same script started with its own
arguments, pinned to one CPU, ready once it prints the address it serves on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildProcess:
    """`script --serve-emulator PORT *extra`, on `cpu` (None: anywhere); `url` is where it serves."""

    def __init__(self, script: str, extra: list[str], cpu: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, script, "--serve-emulator", str(self.port), *extra]
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
        line = self.process.stdout.readline()
        if not re.search(r"https?://", line):
            raise SystemExit(f"the emulator did not start (exit code {self.process.wait()})")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    async def call(self, session, path: str, payload: dict | None = None) -> dict:
        """POST the emulator's `/bench/<path>` control route (aiohttp `session`), its JSON answer."""
        async with session.post(self.url + "/bench/" + path, json=payload or {}) as response:
            response.raise_for_status()
            return await response.json()

    def cpu_seconds(self) -> float:
        """CPU seconds the process has used (user + system)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
