"""Print the score of the last ``mutmut run`` (``make mutation``) and its survivors.

Reads mutmut's own records under mutants/ (one .meta file per mutated module), counts
each mutant by mutmut's meaning of its exit code, and prints, per module and in total,
how many were killed. A timeout counts as killed (the mutant made the tests hang), as
mutmut's own badge counts it. Mutants left unchecked (the run was cut short) are
reported, never counted as killed.

Survivors are explained in .ci/mutation_survivors/*.txt, one per line:
``NAME  equivalent|accepted  why``. An equivalent mutant behaves as the code does, so it
leaves the score's denominator; an accepted one stays in it, not killed. The score is
killed / (checked - equivalent), and every survivor with no line there is listed as
unexplained.

When mutants are left unchecked and ``mutants/sample.txt`` holds a random sample drawn
from them before the run (``.ci/mutation_sample.py``), the sample's own score is printed
too, and an estimate for the whole app: the exact figure plus, module by module, the
unchecked mutants counted at the rate their module's sample was killed (with a 95 %
interval from the sample's size).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
KILLED = {"killed", "timeout", "caught by type check"}
NOT_KILLED = {"survived", "no tests", "suspicious", "segfault"}
VERDICTS = ("equivalent", "accepted")


def explanations() -> dict[str, tuple[str, str]]:
    """Survivor name -> (verdict, why), from .ci/mutation_survivors/*.txt."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted((ROOT / ".ci" / "mutation_survivors").glob("*.txt")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[1] not in VERDICTS:
                raise SystemExit(f"{path.name}:{number}: write NAME equivalent|accepted why")
            found[parts[0]] = (parts[1], parts[2])
    return found


def main() -> int:
    metas = sorted((ROOT / "mutants").rglob("*.py.meta"))
    if not metas:
        print("No mutmut results under mutants/: run `make mutation` first.")
        return 1
    commit = subprocess.run(  # noqa: S603 (a fixed command)
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    total: Counter[str] = Counter()
    survivors: list[str] = []
    explained = explanations()
    print(f"Mutation score at commit {commit or '?'} (plus uncommitted changes, if any)")
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not codes:
            continue
        counts = Counter(status_by_exit_code[code] for code in codes.values())
        left = sorted(key for key, code in codes.items() if status_by_exit_code[code] in NOT_KILLED)
        counts["equivalent"] = sum(explained.get(key, ("",))[0] == "equivalent" for key in left)
        total.update(counts)
        survivors += left
        print(f"  {meta.relative_to(ROOT / 'mutants').with_suffix('')}: {_line(counts)}")
    print(f"Total: {_line(total)}")
    if total["not checked"]:
        _estimate(metas, explained)
    unexplained = [name for name in survivors if name not in explained]
    print(f"Not killed: {len(survivors)}, of which {len(unexplained)} unexplained:")
    for name in unexplained:
        print(f"  {name}")
    return 0


def _estimate(metas: list[Path], explained: dict[str, tuple[str, str]]) -> None:
    """Print the sample's score and the whole app's estimated from it (see above)."""
    path = ROOT / "mutants" / "sample.txt"
    if not path.exists():
        return
    sample = set(path.read_text().split())
    exact_killed = exact_counted = 0.0
    guessed_killed = guessed_counted = variance = 0.0
    sample_killed = sample_counted = 0
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        killed = counted = 0
        unchecked = 0
        for name, code in codes.items():
            status = status_by_exit_code[code]
            if status in ("not checked", "skipped"):
                unchecked += 1
                continue
            if explained.get(name, ("",))[0] == "equivalent" and status in NOT_KILLED:
                continue
            exact_counted += 1
            exact_killed += status in KILLED
            if name in sample:
                counted += 1
                killed += status in KILLED
        sample_killed += killed
        sample_counted += counted
        # Every unchecked mutant counts as non-equivalent, so the estimate errs low.
        if unchecked and counted:
            rate = killed / counted
            guessed_killed += unchecked * rate
            guessed_counted += unchecked
            variance += unchecked**2 * rate * (1 - rate) / counted
        elif unchecked:
            # A module none of whose sampled mutants has a result: assume the worst.
            guessed_counted += unchecked
    if not sample_counted:
        print(f"Sample ({len(sample)} mutants, mutants/sample.txt): none checked yet")
        return
    score = 100.0 * sample_killed / sample_counted
    print(
        f"Sample ({len(sample)} mutants drawn from the unchecked): {sample_killed}/"
        f"{sample_counted} non-equivalent killed ({score:.1f} %)"
    )
    whole = exact_counted + guessed_counted
    point = 100.0 * (exact_killed + guessed_killed) / whole
    margin = 100.0 * 1.96 * math.sqrt(variance) / whole
    print(
        f"Whole app, estimated: {point:.1f} % killed of the non-equivalent "
        f"(95 % interval +/- {margin:.1f}), the unchecked counted at their module's sample rate"
    )


def _line(counts: Counter[str]) -> str:
    killed = sum(counts[s] for s in KILLED)
    skipped = ("not checked", "skipped", "equivalent")
    checked = sum(n for s, n in counts.items() if s not in skipped)
    counted = checked - counts["equivalent"]
    score = 100.0 * killed / counted if counted else 0.0
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED and n)
    return f"{killed}/{counted} non-equivalent killed ({score:.1f} %)" + (
        f"; {others}" if others else ""
    )


if __name__ == "__main__":
    sys.exit(main())
