"""Figures for the hot paths: SQL queries per request and requests per second.

Run with ``make bench`` (or ``python bench/run.py --sql`` to list every statement).
Prints numbers; asserts nothing. Every rate comes with its ratio to a baseline measured
in the same run (the same Django stack answering a trivial 405), which is what compares
across machines. In-process through Django's test client; KUNA Pay is stubbed with
``responses``. SQLite in memory, or the PostgreSQL server named by ``DATABASE_URL`` (a
``test_`` database is created and dropped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="timed requests per case")
    parser.add_argument("--sql", action="store_true", help="list each request's statements")
    args = parser.parse_args(argv)

    common.setup()
    from bench import callbacks, checkout, customer

    with common.test_database() as database:
        print(f"django-invoices bench: {database}, Django test client, {args.n} requests a case")
        print()
        baseline = common.baseline_rate(max(args.n, 300))
        sections = [callbacks.run(args.n), *customer.run(args.n), checkout.run(args.n)]
        common.print_table(sections, baseline, show_sql=args.sql)


if __name__ == "__main__":
    main()
