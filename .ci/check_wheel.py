"""What a release would upload holds what it should.

The wheel: every file under django_invoices/ and nothing else (bench/, tests/ and
example_project/ stay out). The sdist: every file git tracks (or, outside a checkout,
every file) under django_invoices/, tests/, docs/, example_project/ and bench/, the
top-level notes and build files, and nothing built or local (databases, caches).

Usage: python .ci/check_wheel.py DIST...   (.whl and .tar.gz files)
"""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDIST_DIRS = ("django_invoices", "tests", "docs", "example_project", "bench")
SDIST_FILES = (
    "README.rst",
    "CHANGELOG.rst",
    "CONTRIBUTING.rst",
    "SECURITY.rst",
    "LICENSE",
    "MANIFEST.in",
    ".readthedocs.yaml",
    "Makefile",
    "noxfile.py",
    "pyproject.toml",
    "ruff.toml",
    "setup.cfg",
)
NEVER = ("__pycache__", ".sqlite3", ".pyc", "docs/_build/", "docs/_generated/")


def ours(*dirs: str) -> set[str]:
    try:
        listed = subprocess.run(  # noqa: S603  (fixed arguments)
            ["git", "ls-files", "--", *dirs],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [
            path.relative_to(ROOT).as_posix()
            for folder in dirs
            for path in (ROOT / folder).rglob("*")
            if path.is_file()
        ]
    return {path for path in listed if not any(bad in path for bad in NEVER)}


def check_wheel(wheel: str) -> list[str]:
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/", 1)[0] for name in names}
    problems = [
        f"not ours: {top}"
        for top in sorted(tops)
        if top != "django_invoices" and ".dist-info" not in top
    ]
    problems += [f"missing: {path}" for path in sorted(ours("django_invoices") - names)]
    if not problems:
        print(f"{Path(wheel).name}: {len(names)} files, all of django_invoices/ and nothing else")
    return problems


def check_sdist(sdist: str) -> list[str]:
    with tarfile.open(sdist) as archive:
        members = [
            m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile() and "/" in m.name
        ]
    names = set(members)
    wanted = ours(*SDIST_DIRS) | {name for name in SDIST_FILES if (ROOT / name).is_file()}
    problems = [f"missing: {path}" for path in sorted(wanted - names)]
    problems += [
        f"should not ship: {path}" for path in sorted(names) if any(bad in path for bad in NEVER)
    ]
    if not problems:
        print(f"{Path(sdist).name}: {len(names)} files, tests, docs, example and notes included")
    return problems


def main(paths: list[str]) -> int:
    failed = False
    for path in paths:
        problems = check_wheel(path) if path.endswith(".whl") else check_sdist(path)
        for problem in problems:
            print(f"{path}: {problem}")
        failed = failed or bool(problems)
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
