"""Draw a random sample of the mutants mutmut has not checked yet, module by module.

    .venv/bin/python .ci/mutation_sample.py SIZE [SEED] > mutants/sample.txt
    .venv/bin/mutmut run $(cat mutants/sample.txt)

A whole ``make mutation`` takes longer than a working session on two cores. When a run
is cut short, the mutants it did not reach are the slowest (mutmut runs the quick ones
first), which are those of the callback path, the core of the app. A sample drawn from
every module in proportion to what is left of it, and run first, gives a figure for
the unchecked rest that is not biased toward the quick mutants; ``.ci/mutation_score.py``
reads the sample back and prints it next to the exact figure. Mutants it checks count
in the exact figure too, so nothing is run twice.

The draw is stratified: each module gets ``SIZE * its unchecked / all unchecked``
mutants, rounded up, at least one, drawn without replacement with a fixed seed so the
same records give the same sample.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

MUTANTS = Path(__file__).resolve().parent.parent / "mutants"


def unchecked() -> dict[str, list[str]]:
    """Module record -> the names of its mutants with no result yet."""
    found: dict[str, list[str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names = sorted(name for name, code in codes.items() if code is None)
        if names:
            found[str(meta.relative_to(MUTANTS))] = names
    return found


def draw(size: int, seed: int) -> list[str]:
    left = unchecked()
    total = sum(len(names) for names in left.values())
    chooser = random.Random(seed)  # noqa: S311 (a reproducible draw, not a secret)
    sample: list[str] = []
    for names in left.values():
        share = max(1, math.ceil(size * len(names) / total))
        sample += chooser.sample(names, min(share, len(names)))
    return sample


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit():
        print(__doc__)
        return 2
    seed = int(argv[1]) if len(argv) > 1 else 18
    print("\n".join(draw(int(argv[0]), seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
