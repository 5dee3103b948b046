"""Print the score of the last ``mutmut run`` (``make mutation``) and its survivors.

Reads mutmut's own records under mutants/ (one .meta file per mutated module), counts
each mutant by mutmut's meaning of its exit code, and prints, per module and in total,
how many were killed. A timeout counts as killed (the mutant made the tests hang), as
mutmut's own badge counts it. Mutants left unchecked (the run was cut short) are
reported, never counted as killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
KILLED = {"killed", "timeout", "caught by type check"}
NOT_KILLED = {"survived", "no tests", "suspicious", "segfault"}


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
    print(f"Mutation score at commit {commit or '?'} (plus uncommitted changes, if any)")
    for meta in metas:
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not codes:
            continue
        counts = Counter(status_by_exit_code[code] for code in codes.values())
        total.update(counts)
        survivors += sorted(
            key for key, code in codes.items() if status_by_exit_code[code] in NOT_KILLED
        )
        print(f"  {meta.relative_to(ROOT / 'mutants').with_suffix('')}: {_line(counts)}")
    print(f"Total: {_line(total)}")
    print("Not killed:")
    for name in survivors:
        print(f"  {name}")
    return 0


def _line(counts: Counter[str]) -> str:
    killed = sum(counts[s] for s in KILLED)
    checked = sum(n for s, n in counts.items() if s not in ("not checked", "skipped"))
    score = 100.0 * killed / checked if checked else 0.0
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED and n)
    return f"{killed}/{checked} killed ({score:.1f} %)" + (f"; {others}" if others else "")


if __name__ == "__main__":
    sys.exit(main())
