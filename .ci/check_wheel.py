"""The wheel holds the app and nothing else: every file under django_invoices/,
no top-level package of ours besides it (bench/, tests/ and example_project/ stay out).

Usage: python .ci/check_wheel.py WHEEL
"""

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(wheel: str) -> int:
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/", 1)[0] for name in names}
    strays = sorted(top for top in tops if top != "django_invoices" and ".dist-info" not in top)
    ours = (
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "django_invoices").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    missing = sorted(path for path in ours if path not in names)
    for problem, paths in (("not ours", strays), ("missing", missing)):
        for path in paths:
            print(f"{wheel}: {problem}: {path}")
    if strays or missing:
        return 1
    print(f"{Path(wheel).name}: {len(names)} files, all of django_invoices/ and nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
