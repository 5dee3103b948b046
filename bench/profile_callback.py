"""Where an in-request callback spends its time: cProfile over many PAID callbacks.

``python bench/profile_callback.py`` (SQLite in memory, or ``DATABASE_URL``) posts
``-n`` signed PAID callbacks for fresh invoices through Django's test client, each
confirmed by a read of the local stub provider (``bench/stub_provider.py``, real HTTP
on 127.0.0.1), and prints the functions that took the most time, with the SQL of one
request. For finding work done twice; the figures are in ``bench/server.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="callbacks profiled")
    parser.add_argument("--top", type=int, default=40, help="functions listed")
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    parser.add_argument("--cpu", action="store_true", help="CPU time, not wall-clock time")
    parser.add_argument("--dump", default="", help="also write the raw profile to this file")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="the worker mode's acknowledgement (TASKS set, no message sent)",
    )
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.server_settings"
    from bench import common

    common.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from bench.server import make_invoices, paid_callback, stub_provider

    with common.test_database(), stub_provider(0.0) as api:
        options = {**settings.DJANGO_INVOICES, "API_URL": api}
        if args.worker:
            from unittest import mock

            # The drain mark is set by the first callback; no broker is needed to see it.
            options["TASKS"] = "celery"
            mock.patch("django_invoices.background.enqueue").start()
        with override_settings(DJANGO_INVOICES=options):
            client = Client()
            url = "/invoices/callback/default/"
            callbacks = [paid_callback(i) for i in make_invoices(args.n + 2)]

            def post(request: tuple[bytes, dict[str, str]]) -> None:
                body, headers = request
                response = client.generic(
                    "POST",
                    url,
                    data=body,
                    content_type="application/json",
                    headers={"kun-signature": headers["kun-signature"]},
                )
                assert response.status_code == 200, response.content

            post(callbacks[0])
            # Not CaptureQueriesContext: each request empties connection.queries.
            queries: list[str] = []

            def note(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
                queries.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(note):
                post(callbacks[1])
            profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
            profile.enable()
            for request in callbacks[2:]:
                post(request)
            profile.disable()
    for number, sql in enumerate(queries, 1):
        print(f"{number:>3}. {sql[:150]}")
    print()
    if args.dump:
        profile.dump_stats(args.dump)
    pstats.Stats(profile).strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
