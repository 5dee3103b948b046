"""Running the docs' guides as a reader would (tests/test_tutorial.py, test_guide_*.py).

A guide's code lives in files beside its page (``docs/tutorial/``,
``docs/howto/<guide>/``) between "# [name]" and "# [end-name]" markers; the page includes
those regions with ``literalinclude``, and a test applies exactly them, in the page's
order, to a project made by ``django-admin startproject``.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


class Guide:
    """A page (``docs/<page>.rst``) and the folder of files it includes from."""

    def __init__(self, page: str, folder: str | None = None):
        self.page = DOCS / f"{page}.rst"
        self.folder_name = folder or Path(page).name
        self.folder = self.page.parent / self.folder_name

    def text(self) -> str:
        return self.page.read_text(encoding="utf-8")

    def region(self, filename: str, name: str) -> str:
        text = (self.folder / filename).read_text(encoding="utf-8")
        match = re.search(rf"^# \[{name}\]\n(.*?)^# \[end-{name}\]\n", text, re.S | re.M)
        assert match, f"no region {name} in {filename}"
        return match.group(1)

    def regions(self) -> list[tuple[str, str]]:
        """The (file, region) pairs the page includes, in the order the reader meets
        them; each must end at its own end marker."""
        return [(filename, name) for filename, name, _prose in self.includes()]

    def before(self, filename: str, name: str) -> str:
        """The page's prose between the previous include and this region's include."""
        (prose,) = [text for f, n, text in self.includes() if (f, n) == (filename, name)]
        return prose

    def includes(self) -> list[tuple[str, str, str]]:
        text = self.text()
        found = []
        since = 0
        pattern = rf"^\.\. literalinclude:: {re.escape(self.folder_name)}/(\S+)\n((?:   :.*\n)*)"
        for match in re.finditer(pattern, text, flags=re.M):
            filename, options = match.groups()
            start = re.search(r"^   :start-after: # \[([\w-]+)\]$", options, flags=re.M)
            assert start, f"{filename} is included without a region"
            name = start.group(1)
            assert f"   :end-before: # [end-{name}]" in options, (filename, name)
            found.append((filename, name, text[since : match.start()]))
            since = match.end()
        return found


class Shell:
    """Runs a page's command lines as a fresh environment would: ``django-admin``,
    ``python`` and ``pytest`` are this interpreter's once ``pip install`` has run (which
    the suite already did) and "command not found" before it; ``cd`` moves."""

    def __init__(self, cwd: Path, env: dict[str, str], installs=("django-invoices",)):
        self.cwd = cwd
        self.env = env
        self.installs = installs
        self.installed = False

    def argv(self, line: str) -> list[str]:
        words = shlex.split(line)
        if words[0] == "django-admin":
            return [sys.executable, "-m", "django", *words[1:]]
        if words[0] in ("pytest", "celery"):
            return [sys.executable, "-m", *words]
        assert words[0] == "python", line
        return [sys.executable, *words[1:]]

    def lines(self, lines: str) -> list[str]:
        return [line for line in lines.splitlines() if line.strip() and not line.startswith("#")]

    def run(self, lines: str, timeout: float = 120) -> str:
        output = ""
        for line in self.lines(lines):
            if line.startswith("cd "):
                self.cwd = self.cwd / line[3:].strip()
                continue
            if line.startswith("pip install "):
                assert shlex.split(line)[2:] == list(self.installs), line
                self.installed = True
                continue
            # A new environment has neither Django's command nor Django to run
            # manage.py with until the page has installed them.
            assert self.installed, f"{line}: command not found (nothing installed yet)"
            done = subprocess.run(
                self.argv(line),
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            output += done.stdout + done.stderr
        return output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    """Until ``url`` answers (any status), or the server exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text()}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer:\n{log.read_text()}")
