"""Hand-written mutants: what mutmut cannot mutate, run by ``make mutation`` after it.

mutmut mutates code inside functions only, and leaves decorated functions alone. The
rules this app promises also live in module-level tables and constants (which statuses
are open, which deposits are credited, the defaults of the settings) and in decorators
(the callback view's ``non_atomic_requests``). Each mutant below changes one of them
the way a careless edit would; the tests named with it must fail. Each is applied to a
copy of the repository (never to the working tree), and the named tests run there.

    python .ci/hand_mutants.py            # every mutant
    python .ci/hand_mutants.py NAME ...   # some, by name
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    find: str
    replace: str
    tests: tuple[str, ...]


STATUSES = "django_invoices/statuses.py"
CALLBACKS = "django_invoices/callbacks.py"
CONF = "django_invoices/conf.py"

MUTANTS = [
    # -- which statuses mean what ----------------------------------------------------------
    Mutant(
        "paid-maps-to-partly-paid",
        STATUSES,
        '"PAID": InvoiceStatus.PAID,',
        '"PAID": InvoiceStatus.PARTIALLY_PAID,',
        ("tests/test_callback_ordering.py", "tests/test_services.py"),
    ),
    Mutant(
        "timeout-maps-to-cancelled",
        STATUSES,
        '"TIMEOUT": InvoiceStatus.EXPIRED,',
        '"TIMEOUT": InvoiceStatus.CANCELLED,',
        ("tests/test_callback_ordering.py", "tests/test_services.py"),
    ),
    Mutant(
        "unknown-status-is-final",
        STATUSES,
        "        InvoiceStatus.CONFIRMING,\n        InvoiceStatus.UNKNOWN,\n    }",
        "        InvoiceStatus.CONFIRMING,\n    }",
        ("tests/test_callback_ordering.py", "tests/test_services.py"),
    ),
    Mutant(
        "declined-not-read-late",
        STATUSES,
        "        InvoiceStatus.PARTIALLY_PAID,\n        InvoiceStatus.DECLINED,\n",
        "        InvoiceStatus.PARTIALLY_PAID,\n",
        ("tests/test_sync.py",),
    ),
    Mutant(
        "deactivated-read-late",
        STATUSES,
        "        InvoiceStatus.EXPIRED,\n        InvoiceStatus.PARTIALLY_PAID,\n",
        "        InvoiceStatus.EXPIRED,\n        InvoiceStatus.CANCELLED,\n"
        "        InvoiceStatus.PARTIALLY_PAID,\n",
        ("tests/test_sync.py",),
    ),
    Mutant(
        "decline-ranks-as-expiry",
        STATUSES,
        "    InvoiceStatus.DECLINED: 1,\n",
        "    InvoiceStatus.DECLINED: 0,\n",
        ("tests/test_callback_ordering.py",),
    ),
    Mutant(
        "partly-paid-ranks-as-paid",
        STATUSES,
        "    InvoiceStatus.PARTIALLY_PAID: 2,\n    InvoiceStatus.PAID: 3,",
        "    InvoiceStatus.PARTIALLY_PAID: 3,\n    InvoiceStatus.PAID: 3,",
        ("tests/test_callback_ordering.py",),
    ),
    Mutant(
        "confirming-ranks-as-awaiting",
        STATUSES,
        "    InvoiceStatus.CONFIRMING: 2,\n}",
        "    InvoiceStatus.CONFIRMING: 1,\n}",
        ("tests/test_callback_ordering.py",),
    ),
    Mutant(
        "declined-order-expires",
        STATUSES,
        "    InvoiceStatus.DECLINED: OrderStatus.FAILED,",
        "    InvoiceStatus.DECLINED: OrderStatus.EXPIRED,",
        ("tests/test_signal_arguments.py", "tests/test_callback_ordering.py"),
    ),
    Mutant(
        "partly-processed-not-credited",
        STATUSES,
        'CREDITED_DEPOSIT_STATUSES = ("Processed", "PartiallyProcessed")',
        'CREDITED_DEPOSIT_STATUSES = ("Processed",)',
        ("tests/test_deposit_writes.py",),
    ),
    Mutant(
        "processing-credited",
        STATUSES,
        'CREDITED_DEPOSIT_STATUSES = ("Processed", "PartiallyProcessed")',
        'CREDITED_DEPOSIT_STATUSES = ("Processed", "PartiallyProcessed", "Processing")',
        ("tests/test_deposit_writes.py",),
    ),
    Mutant(
        "processed-may-go-back",
        STATUSES,
        '    "Processing": 1,\n    "Processed": 2,',
        '    "Processing": 2,\n    "Processed": 2,',
        ("tests/test_callback_ordering.py", "tests/test_deposit_writes.py"),
    ),
    Mutant(
        "refunds-count-as-money-in",
        STATUSES,
        'MONEY_IN_TYPES = ("", "Deposit", "InvoiceDeposit")',
        'MONEY_IN_TYPES = ("", "Deposit", "InvoiceDeposit", "Refund")',
        ("tests/test_source_of_truth.py",),
    ),
    Mutant(
        "untyped-transactions-not-money-in",
        STATUSES,
        'MONEY_IN_TYPES = ("", "Deposit", "InvoiceDeposit")',
        'MONEY_IN_TYPES = ("Deposit", "InvoiceDeposit")',
        ("tests/test_source_of_truth.py", "tests/test_deposit_writes.py"),
    ),
    # -- callbacks -----------------------------------------------------------------------
    Mutant(
        "invoice-event-name-forgotten",
        CALLBACKS,
        'INVOICE_EVENTS = frozenset({EVENT_INVOICE, "InvoiceStatus", "InvoiceStatusChanged"})',
        'INVOICE_EVENTS = frozenset({"InvoiceStatus", "InvoiceStatusChanged"})',
        ("tests/test_callback_locate.py", "tests/test_callback_reading.py"),
    ),
    Mutant(
        "deposit-event-name-forgotten",
        CALLBACKS,
        "DEPOSIT_EVENTS = frozenset({EVENT_DEPOSIT})",
        "DEPOSIT_EVENTS = frozenset()",
        ("tests/test_callback_locate.py", "tests/test_callback_reading.py"),
    ),
    Mutant(
        "order-ids-cut-at-64",
        CALLBACKS,
        "EXTERNAL_ORDER_ID_LENGTH = 128",
        "EXTERNAL_ORDER_ID_LENGTH = 64",
        ("tests/test_callback_locate.py",),
    ),
    Mutant(
        "signature-header-kept-whole",
        CALLBACKS,
        'KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", '
        '"X-Real-Ip")',
        'KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", '
        '"X-Real-Ip", "Kun-Signature")',
        ("tests/test_callback_reading.py",),
    ),
    Mutant(
        "callback-view-inside-the-request-transaction",
        "django_invoices/views.py",
        "csrf_exempt(require_POST(transaction.non_atomic_requests(receive_callback)))",
        "csrf_exempt(require_POST(receive_callback))",
        ("tests/test_callback_view.py",),
    ),
    Mutant(
        "callback-view-takes-get",
        "django_invoices/views.py",
        "csrf_exempt(require_POST(transaction.non_atomic_requests(receive_callback)))",
        "csrf_exempt(transaction.non_atomic_requests(receive_callback))",
        ("tests/test_callback_view.py",),
    ),
    Mutant(
        "return-page-cached",
        "django_invoices/views.py",
        "payment_return = never_cache(require_safe(show_return))",
        "payment_return = require_safe(show_return)",
        ("tests/test_return.py",),
    ),
    Mutant(
        "bad-signature-answered-200",
        "django_invoices/views.py",
        "    receipt.REJECT_BAD_SIGNATURE: 401,",
        "    receipt.REJECT_BAD_SIGNATURE: 200,",
        ("tests/test_callback_view.py",),
    ),
    Mutant(
        "misconfigured-answered-400",
        "django_invoices/views.py",
        "    receipt.REJECT_MISCONFIGURED: 503,",
        "    receipt.REJECT_MISCONFIGURED: 400,",
        ("tests/test_callback_view.py",),
    ),
    # -- the queue's numbers ---------------------------------------------------------------
    Mutant(
        "eleven-attempts",
        "django_invoices/services/settle.py",
        "CONFIRM_ATTEMPTS = 12",
        "CONFIRM_ATTEMPTS = 11",
        ("tests/test_callback_settle.py", "tests/test_callback_ordering.py"),
    ),
    Mutant(
        "no-backoff",
        "django_invoices/services/queue.py",
        "READ_BACKOFF = 2",
        "READ_BACKOFF = 0",
        ("tests/test_callback_queue.py",),
    ),
    Mutant(
        "backoff-capped-early",
        "django_invoices/services/queue.py",
        "READ_BACKOFF_MAX = 600",
        "READ_BACKOFF_MAX = 60",
        ("tests/test_callback_queue.py",),
    ),
    Mutant(
        "check-after-a-minute",
        "django_invoices/services/queue.py",
        "WAKE_CHECK = 10",
        "WAKE_CHECK = 60",
        ("tests/test_callback_queue.py",),
    ),
    Mutant(
        "lease-without-margin",
        "django_invoices/services/queue.py",
        "LEASE_MARGIN = 5",
        "LEASE_MARGIN = 0",
        ("tests/test_callback_queue.py",),
    ),
    Mutant(
        "no-wait-for-the-reader",
        "django_invoices/services/pipeline.py",
        "WAIT_FOR_READER = 1.0",
        "WAIT_FOR_READER = 0.0",
        ("tests/test_callback_queue.py",),
    ),
    # -- the settings' defaults ------------------------------------------------------------
    Mutant(
        "late-window-three-days",
        CONF,
        '    "LATE_PAYMENT_WINDOW": 7,',
        '    "LATE_PAYMENT_WINDOW": 3,',
        ("tests/test_sync.py",),
    ),
    Mutant(
        "no-transactional-callbacks",
        CONF,
        '    "TRANSACTIONAL_CALLBACKS": True,',
        '    "TRANSACTIONAL_CALLBACKS": False,',
        ("tests/test_services.py", "tests/test_client.py"),
    ),
    Mutant(
        "bodies-of-a-megabyte",
        CONF,
        '    "CALLBACK_MAX_BODY_SIZE": 64 * 1024,',
        '    "CALLBACK_MAX_BODY_SIZE": 1024 * 1024,',
        ("tests/test_documented_numbers.py", "tests/test_callback_view.py"),
    ),
    Mutant(
        "one-recipe-only",
        CONF,
        '    "CALLBACK_SIGNATURE_RECIPES": ["sha384/hex/raw", "sha384/hex/compact"],',
        '    "CALLBACK_SIGNATURE_RECIPES": ["sha384/hex/raw"],',
        ("tests/test_callback_view.py", "tests/test_signing.py"),
    ),
    Mutant(
        "slow-callback-reads",
        CONF,
        '    "CALLBACK_API_TIMEOUT": 1.2,',
        '    "CALLBACK_API_TIMEOUT": 15.0,',
        ("tests/test_documented_numbers.py", "tests/test_callback_queue.py"),
    ),
    Mutant(
        "no-re-read-interval",
        CONF,
        '    "REFRESH_MIN_INTERVAL": 10,',
        '    "REFRESH_MIN_INTERVAL": 0,',
        ("tests/test_return.py", "tests/test_documented_numbers.py"),
    ),
    Mutant(
        "refused-bodies-kept-whole",
        CONF,
        '    "REJECTED_BODY_KEEP": 4096,',
        '    "REJECTED_BODY_KEEP": 65536,',
        ("tests/test_documented_numbers.py", "tests/test_source_of_truth.py"),
    ),
    Mutant(
        "basic-auth-by-default",
        CONF,
        '    "API_AUTH_CLASSES": ["rest_framework.authentication.SessionAuthentication"],',
        '    "API_AUTH_CLASSES": None,',
        ("tests/test_api_auth.py", "tests/test_api.py"),
    ),
    Mutant(
        "anyone-may-pay",
        CONF,
        '        "django_invoices.api.permissions.IsOrderOwnerOrStaff",\n',
        "",
        ("tests/test_api.py", "tests/test_api_auth.py"),
    ),
    Mutant(
        "secrets-inherited",
        CONF,
        'SECRET_KEYS = ("API_KEY", "PUBLIC_KEY", "PRIVATE_KEY")',
        'SECRET_KEYS = ("API_KEY", "PUBLIC_KEY")',
        ("tests/test_services.py", "tests/test_checks.py"),
    ),
    # -- the wire ------------------------------------------------------------------------------
    Mutant(
        "get-signs-no-empty-body",
        "django_invoices/signing.py",
        'EMPTY_BODY = "{}"',
        'EMPTY_BODY = ""',
        ("tests/test_signing.py", "tests/test_client.py"),
    ),
    Mutant(
        "default-recipe-sha256",
        "django_invoices/signing.py",
        'DEFAULT_RECIPES = ("sha384/hex/raw", "sha384/hex/compact")',
        'DEFAULT_RECIPES = ("sha256/hex/raw", "sha384/hex/compact")',
        ("tests/test_signing.py",),
    ),
    Mutant(
        "post-retried-on-502",
        "django_invoices/client.py",
        "RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})",
        "RETRY_STATUSES = frozenset({429, 500, 503, 504})",
        ("tests/test_client.py",),
    ),
    Mutant(
        "first-page-only",
        "django_invoices/client.py",
        "MAX_PAGES = 100",
        "MAX_PAGES = 1",
        ("tests/test_client.py",),
    ),
    # -- the system checks and the sandbox ----------------------------------------------------
    Mutant(
        "locmem-counts-nonces",
        "django_invoices/checks.py",
        '    "django.core.cache.backends.locmem.LocMemCache",\n',
        "",
        ("tests/test_nonces.py", "tests/test_checks.py"),
    ),
    Mutant(
        "demo-secret-accepted",
        "django_invoices/checks.py",
        '    {"demo-only-not-secret", "sandbox-api-key", "sandbox-private-key"}',
        '    {"sandbox-api-key", "sandbox-private-key"}',
        ("tests/test_checks.py", "tests/test_sandbox_safety.py"),
    ),
    Mutant(
        "nonce-check-unregistered",
        "django_invoices/checks.py",
        "register(check_nonce_cache, Tags.caches)\n",
        "",
        ("tests/test_nonces.py",),
    ),
    Mutant(
        "sandbox-debug-check-unregistered",
        "django_invoices/sandbox/checks.py",
        "register(check_debug, Tags.security)\n",
        "",
        ("tests/test_sandbox_checks.py", "tests/test_sandbox_safety.py"),
    ),
]


def copy_of_repository(into: Path) -> Path:
    """The repository's files (not its virtualenv, mutants, caches or .git) in ``into``."""
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "mutants", ".nox", "__pycache__", "docs/_build", "*.sqlite3", "dist"
    )
    target = into / "repo"
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def run_tests(repo: Path, tests: tuple[str, ...]) -> int:
    """pytest on ``tests`` with ``repo``'s code first on the path; its exit status."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "--no-migrations", "-p", "no:warnings"]
    return subprocess.run(  # noqa: S603 (our own interpreter and test files)
        [*command, *tests], cwd=repo, env=env, capture_output=True, check=False
    ).returncode


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"No such hand-written mutants: {', '.join(sorted(unknown))}")
        return 2
    with tempfile.TemporaryDirectory(prefix="django-invoices-hand-mutants-") as scratch:
        repo = copy_of_repository(Path(scratch))
        baseline = sorted({test for mutant in chosen for test in mutant.tests})
        if run_tests(repo, tuple(baseline)) != 0:
            print("The named tests fail without any mutant: fix them first.")
            return 2
        survived = []
        started = time.monotonic()
        for mutant in chosen:
            path = repo / mutant.path
            original = path.read_text()
            if original.count(mutant.find) != 1:
                print(f"  {mutant.name}: its text is not found once in {mutant.path}; update it")
                survived.append(mutant.name)
                continue
            path.write_text(original.replace(mutant.find, mutant.replace))
            try:
                status = run_tests(repo, mutant.tests)
            finally:
                path.write_text(original)
            outcome = "killed" if status == 1 else "survived" if status == 0 else f"error {status}"
            if outcome != "killed":
                survived.append(mutant.name)
            print(f"  {mutant.name}: {outcome}")
        killed = len(chosen) - len(survived)
        seconds = time.monotonic() - started
        print(f"Hand-written mutants: {killed}/{len(chosen)} killed in {seconds:.0f} s")
        for name in survived:
            print(f"  not killed: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
