"""Running the example shop (example_project/) in subprocesses, as `make demo` does."""

from __future__ import annotations

import os
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
