"""Run mutmut's survivors again against tests written after its run, and record kills.

    .venv/bin/python .ci/mutation_recheck.py TESTFILE [TESTFILE ...] -- PREFIX [PREFIX ...]
    .venv/bin/python .ci/mutation_recheck.py --timeouts

A survivor of the last ``mutmut run`` (``survived`` or ``no tests``, not explained in
``.ci/mutation_survivors/``) whose name starts with one of the prefixes runs against
the given test files, inside mutants/ (the code as mutmut copied it), as mutmut runs a
mutant: ``MUTANT_UNDER_TEST`` set, the tests stopped at the first failure. A failure is
recorded in mutmut's own record as the kill it is (exit code 1), so
``.ci/mutation_score.py`` and ``mutmut results`` count it; nothing else is changed.
The files are first run with no mutant active and must pass there, or nothing is
recorded: a test that fails on mutmut's copy for another reason (it tests code newer
than the copy) would otherwise count every mutant as killed.

One Python process runs them all: mutmut's trampolines read ``MUTANT_UNDER_TEST`` at
every call, so each mutant needs a pytest run but no new interpreter.

``--timeouts`` runs the mutants recorded as timed out again, each with the tests mutmut
chose for it, in a process of its own given ``TIMEOUT`` seconds: a run that was paused
(or shared a busy machine) records a timeout that says nothing about the mutant. The new
result replaces the old (a kill, a survivor, or a timeout again).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
NOT_KILLED = {0, 33}  # mutmut's exit codes for "survived" and "no tests"
TIMED_OUT = {36, 24, -24, 152, 255}
TIMEOUT = 300
ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-migrations"]


def explained() -> set[str]:
    """The survivors ``.ci/mutation_survivors/*.txt`` explain: not run again."""
    names = set()
    for path in (ROOT / ".ci" / "mutation_survivors").glob("*.txt"):
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                names.add(line.split()[0])
    return names


def survivors(prefixes: list[str]) -> dict[Path, list[str]]:
    known = explained()
    found: dict[Path, list[str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names = [
            name
            for name, code in codes.items()
            if code in NOT_KILLED
            and name not in known
            and any(name.startswith(p) for p in prefixes)
        ]
        if names:
            found[meta] = sorted(names)
    return found


def run(tests: list[str], mutant: str) -> int:
    import pytest

    os.environ["MUTANT_UNDER_TEST"] = mutant
    return int(pytest.main([*ARGS, *tests]))


def recheck_timeouts() -> int:
    import subprocess

    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text())
    tests_of = stats["tests_by_mangled_function_name"]
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        record = json.loads(meta.read_text())
        codes = record.get("exit_code_by_key", {})
        for name in [n for n, code in codes.items() if code in TIMED_OUT]:
            tests = sorted(tests_of.get(name.rsplit("__mutmut_", 1)[0], ()))
            if not tests:
                continue
            try:
                done = subprocess.run(  # noqa: S603 (our own interpreter and pytest)
                    [sys.executable, "-m", "pytest", *ARGS, *tests],
                    cwd=MUTANTS,
                    env={**os.environ, "MUTANT_UNDER_TEST": name},
                    capture_output=True,
                    timeout=TIMEOUT,
                    check=False,
                )
                codes[name] = 1 if done.returncode != 0 else 0
            except subprocess.TimeoutExpired:
                codes[name] = 36
            print(
                f"{name}: {'killed' if codes[name] else 'survived'}"
                f"{' (timeout)' if codes[name] == 36 else ''}",
                flush=True,
            )
        meta.write_text(json.dumps(record, indent=4))
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--timeouts"]:
        return recheck_timeouts()
    if "--" not in argv:
        print(__doc__)
        return 2
    split = argv.index("--")
    tests, prefixes = argv[:split], argv[split + 1 :]
    for test in tests:
        shutil.copy(ROOT / test, MUTANTS / test)
    os.chdir(MUTANTS)
    sys.path.insert(0, str(MUTANTS))
    if run(tests, "") != 0:
        print("The tests fail with no mutant active in mutants/: nothing recorded.")
        return 1
    killed = total = 0
    for meta, names in survivors(prefixes).items():
        record = json.loads(meta.read_text())
        for name in names:
            total += 1
            if run(tests, name) != 0:
                killed += 1
                record["exit_code_by_key"][name] = 1
                print(f"killed: {name}", flush=True)
            else:
                print(f"still survives: {name}", flush=True)
        meta.write_text(json.dumps(record, indent=4))
    print(f"{killed} of {total} survivors killed by {', '.join(tests)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
