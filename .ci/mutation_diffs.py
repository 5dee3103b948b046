"""Print each mutant mutmut's last run did not kill, with the line it changed.

    .venv/bin/python .ci/mutation_diffs.py [MODULE_PREFIX ...]

For each survivor under mutants/: its name, the original line(s) and the mutated
line(s), read from mutmut's generated module (the ``__mutmut_orig`` function against the
mutant's), so a whole list can be read without ``mutmut show`` one name at a time.
``--json`` prints the same as JSON.
"""

from __future__ import annotations

import ast
import difflib
import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent / "mutants"
NOT_KILLED = {"survived", "no tests", "suspicious", "segfault"}


def survivors(prefixes: list[str]) -> list[tuple[str, str, str, str]]:
    found = []
    for meta in sorted(ROOT.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names = [
            key
            for key, code in codes.items()
            if code is not None
            and status_by_exit_code[code] in NOT_KILLED
            and (not prefixes or key.startswith(tuple(prefixes)))
        ]
        if not names:
            continue
        source = meta.with_suffix("").read_text()
        lines = source.splitlines()
        functions = {
            node.name: lines[node.lineno - 1 : node.end_lineno]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        for name in sorted(names, key=_natural):
            function = name.rsplit(".", 1)[1]
            original = functions.get(function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
            mutated = functions.get(function)
            status = status_by_exit_code[codes[name]]
            if not original or not mutated:
                found.append((name, status, "?", "?"))
                continue
            diff = [
                line
                for line in difflib.unified_diff(original[1:], mutated[1:], lineterm="", n=0)
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            ]
            before = " | ".join(line[1:].strip() for line in diff if line.startswith("-"))
            after = " | ".join(line[1:].strip() for line in diff if line.startswith("+"))
            found.append((name, status, before, after))
    return found


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number) if number.isdigit() else 0)


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    prefixes = [arg for arg in argv if arg != "--json"]
    found = survivors(prefixes)
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=1))
        return 0
    for name, status, before, after in found:
        print(f"{name} ({status})\n  - {before}\n  + {after}")
    print(f"{len(found)} not killed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
