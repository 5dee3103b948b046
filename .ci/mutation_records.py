"""Keep mutmut's verdicts in the repository, so a mutation run can span several machines.

A whole run of ``make mutation`` takes longer than one sitting on a two-core machine,
and mutmut's own records (``mutants/*.meta``) live in an untracked directory that a
fresh checkout does not have. This script copies the part of those records that decides
a verdict into ``.ci/mutation_records.json``, which is committed, and puts it back:

``save``
    Every module's function hashes and each mutant's exit code, read from
    ``mutants/`` (``null`` for a mutant not checked yet).
``restore``
    Writes them back under ``mutants/`` before ``mutmut run``. mutmut compares each
    function's hash with the code it is about to mutate and keeps a verdict only where
    the function is unchanged (``create_mutants_for_file``), so a verdict about older
    code is never reused: those mutants are checked again. Where ``mutants/`` already
    has a record of its own, the stored verdict only fills a gap of a function with the
    same hash there.

A kept verdict was reached with the tests of its day. Tests are added, not weakened, in
this project; ``make mutation`` (which starts from nothing) remains the check of that.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / ".ci" / "mutation_records.json"
MUTANTS = ROOT / "mutants"


def _function_of(name: str) -> str:
    """The mangled function a mutant belongs to, as mutmut keys its hashes."""
    return name.partition("__mutmut_")[0].rpartition(".")[2]


def save() -> int:
    modules: dict[str, dict[str, dict[str, object]]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        codes = dict(sorted(data["exit_code_by_key"].items()))
        hashes = dict(sorted(data.get("hash_by_function_name", {}).items()))
        if codes:
            path = meta.relative_to(MUTANTS).with_suffix("").as_posix()
            modules[path] = {"hash_by_function_name": hashes, "exit_code_by_key": codes}
    if not modules:
        print("No verdicts under mutants/ to save: run `make mutation-resume` first.")
        return 1
    RECORDS.write_text(json.dumps(modules, indent=1, sort_keys=True) + "\n")
    count = sum(v is not None for m in modules.values() for v in m["exit_code_by_key"].values())
    print(f"Saved {count} verdicts of {len(modules)} modules to {RECORDS.relative_to(ROOT)}")
    return 0


def restore() -> int:
    if not RECORDS.exists():
        print(f"No {RECORDS.relative_to(ROOT)}: nothing to restore.")
        return 0
    stored = json.loads(RECORDS.read_text())
    restored = 0
    for path, record in stored.items():
        meta = MUTANTS / (path + ".meta")
        hashes: dict[str, str] = record["hash_by_function_name"]
        codes: dict[str, int | None] = record["exit_code_by_key"]
        if meta.exists():
            data = json.loads(meta.read_text())
            own = data.get("hash_by_function_name", {})
            for name, code in codes.items():
                function = _function_of(name)
                same = own.get(function) == hashes.get(function)
                gap = name in data["exit_code_by_key"] and data["exit_code_by_key"][name] is None
                if same and gap and code is not None:
                    data["exit_code_by_key"][name] = code
                    restored += 1
        else:
            # No mutants of this module yet: mutmut writes them on its next run and keeps
            # a verdict below only for a function whose hash still matches.
            data = {
                "exit_code_by_key": dict(codes),
                "hash_by_function_name": dict(hashes),
                "type_check_error_by_key": {},
                "durations_by_key": {},
                "estimated_durations_by_key": {},
            }
            restored += sum(code is not None for code in codes.values())
            meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(data, indent=4))
    print(f"Restored {restored} verdicts under mutants/ (kept for unchanged functions)")
    return 0


if __name__ == "__main__":
    commands = {"save": save, "restore": restore}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit("usage: mutation_records.py save|restore")
    sys.exit(commands[sys.argv[1]]())
