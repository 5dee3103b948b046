"""Running the example shop (example_project/) in subprocesses, as `make demo` does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


def demo_env() -> dict[str, str]:
    """The variables `make demo` passes to the shop (example_project/demo.env)."""
    values = {}
    for line in (EXAMPLE / "demo.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that configures the shop."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KUNAPAY_", "DJANGO_", "SHOP_", "SANDBOX_"))
        and name != "DATABASE_URL"
    }
    env.update({"DJANGO_SETTINGS_MODULE": "example_project.settings", **extra})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    env: dict[str, str], port: int, log_path: Path, *, cwd: Path = EXAMPLE, start_within: float = 30
) -> Iterator[str]:
    """The shop under ``runserver`` on 127.0.0.1:``port``, once it answers; its base URL.

    Output goes to ``log_path``, which a start that fails raises with. Stopped on exit.
    """
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + start_within
            while True:
                try:
                    # Any answer will do, an error status too (it closes what it holds).
                    urllib.request.urlopen(url + "/", timeout=2).close()
                    break
                except urllib.error.HTTPError as exc:
                    exc.close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(10)
