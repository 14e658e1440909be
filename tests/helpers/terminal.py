"""A command on a pseudo-terminal of its own, as a person starts it from a shell: for what only a
terminal shows (Ctrl-C, confirmation prompts)."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path


class Terminal:
    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        """Runs `python -m kbjuctl ARGS` in `cwd` with exactly `env`."""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once, nothing else
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "kbjuctl", *args], env)
        self.output = b""
        self.cursor = 0  # expect() looks at what came after the previous match
        self.exit_code: int | None = None

    def _pump(self, seconds: float) -> bool:
        """Read what arrives within `seconds`; False once the terminal is closed and read to its end."""
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child's side is closed and everything was read
                return False
            self.output += chunk
            return bool(chunk)
        return True

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    @property
    def unread(self) -> str:
        """What came after the last expect() match."""
        return self.output[self.cursor:].decode(errors="replace")

    def expect(self, wanted: str, timeout: float = 60) -> str:
        """Wait until `wanted` appears after the previous match; returns the output up to it."""
        deadline = time.monotonic() + timeout
        encoded = wanted.encode()
        while (found := self.output.find(encoded, self.cursor)) < 0:
            assert time.monotonic() < deadline and self.poll() is None, f"never saw {wanted!r}:\n{self.text}"
            self._pump(0.05)
        seen = self.output[self.cursor:found + len(encoded)].decode(errors="replace")
        self.cursor = found + len(encoded)
        return seen

    def type(self, line: str, then: str | None = None) -> str | None:
        os.write(self.fd, line.encode() + b"\n")
        return self.expect(then) if then else None

    def press_ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")  # the terminal turns it into SIGINT for the foreground group

    def poll(self) -> int | None:
        if self.exit_code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
        return self.exit_code

    def wait(self, timeout: float) -> float:
        """Seconds until it exited (fails after `timeout`), with all its output read: the terminal
        is read to its end before the child is reaped."""
        started = time.monotonic()
        while self._pump(0.02) or self.poll() is None:
            assert time.monotonic() - started < timeout, f"still running after {timeout} s:\n{self.text}"
        return time.monotonic() - started

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
