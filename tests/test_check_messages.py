"""What each system check says, word for word.

The ids are the contract for code (tests/test_checks.py); the message and the hint are
what a developer reads when ``manage.py`` stops, and docs/reference/checks.rst promises
that they name the setting and never its value. Each case below pins the whole
(id, message, hint) of one situation, written out here rather than read from the code.
"""

from unittest import mock

import pytest
from django.test import override_settings

from django_invoices import checks

GOOD = {
    "API_URL": "https://api.kunapay.io",
    "API_KEY": "k",
    "PRIVATE_KEY": "p",
    "BASE_URL": "https://shop.example",
}
SIGNED = {**GOOD, "PUBLIC_KEY": "pub"}
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
}
EXAMPLE_ACCOUNTS = 'e.g. "ACCOUNTS": {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}'


def said(check, invoices=GOOD, **django_settings):
    with override_settings(DJANGO_INVOICES=invoices, **django_settings):
        return [(m.id, m.msg, m.hint) for m in check()]


SETTINGS_CASES = {
    "no credentials": (
        {"API_KEY": ""},
        [
            (
                "django_invoices.E001",
                "DJANGO_INVOICES: account 'default' has no credentials.",
                "Set API_KEY, or PUBLIC_KEY and PRIVATE_KEY for signed requests (KUNA Pay "
                "cabinet: Settings, API key).",
            )
        ],
    ),
    "no private key": (
        {"PRIVATE_KEY": ""},
        [
            (
                "django_invoices.E002",
                "DJANGO_INVOICES: account 'default' has no PRIVATE_KEY, so its callbacks "
                "cannot be verified.",
                "Set PRIVATE_KEY to the private key issued with the API key; KUNA Pay signs "
                "callbacks with it.",
            )
        ],
    ),
    "relative base url": (
        {"BASE_URL": "/shop"},
        [
            (
                "django_invoices.E003",
                "DJANGO_INVOICES: BASE_URL is '/shop', not an absolute URL.",
                "KUNA Pay must reach the callback view and send customers back, so set the "
                'public address of the site, e.g. "https://shop.example".',
            )
        ],
    ),
    "relative api url": (
        {"API_URL": "api.kunapay.io"},
        [
            (
                "django_invoices.E004",
                "DJANGO_INVOICES: API_URL of account 'default' is 'api.kunapay.io', not an "
                "absolute URL.",
                'Use a URL with scheme and host, e.g. "https://api.kunapay.io".',
            )
        ],
    ),
    "unknown auth mode": (
        {"AUTH_MODE": "magic"},
        [
            (
                "django_invoices.E005",
                "DJANGO_INVOICES: AUTH_MODE of account 'default' is 'magic'.",
                'Use "signed", "api_key", or leave it unset to choose from the keys.',
            )
        ],
    ),
    "signed without a public key": (
        {"AUTH_MODE": "signed"},
        [
            (
                "django_invoices.E006",
                "DJANGO_INVOICES: account 'default' signs requests but lacks PUBLIC_KEY or "
                "PRIVATE_KEY.",
                "Set both keys issued with the API key in the KUNA Pay cabinet.",
            )
        ],
    ),
    "accounts not a dict": (
        {"ACCOUNTS": ["eu"]},
        [
            (
                "django_invoices.E007",
                "DJANGO_INVOICES: ACCOUNTS must be a dict of account name to settings.",
                'e.g. {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}',
            )
        ],
    ),
    "account name no slug": (
        {"ACCOUNTS": {"EU shop": {"API_KEY": "k", "PRIVATE_KEY": "p"}}},
        [
            (
                "django_invoices.E007",
                "DJANGO_INVOICES: account name 'EU shop' cannot appear in a URL.",
                "Use lowercase letters, digits and hyphens.",
            )
        ],
    ),
    "account not a dict": (
        {"ACCOUNTS": {"eu": "k"}},
        [
            (
                "django_invoices.E007",
                "DJANGO_INVOICES: ACCOUNTS['eu'] must be a dict of settings, not str.",
                EXAMPLE_ACCOUNTS,
            )
        ],
    ),
    "an account's own relative base url": (
        {"ACCOUNTS": {"eu": {"API_KEY": "k", "PRIVATE_KEY": "p", "BASE_URL": "eu.shop"}}},
        [
            (
                "django_invoices.E003",
                "DJANGO_INVOICES: BASE_URL of account 'eu' is 'eu.shop', not an absolute URL.",
                "KUNA Pay posts this account's callbacks there and sends its customers back "
                'to it: set the public address of its site, e.g. "https://shop.example".',
            )
        ],
    ),
    "numbers": (
        {
            "READ_TIMEOUT": "15s",
            "RETRIES": -1,
            "CACHE_TIMEOUT": None,
            "REFRESH_WORKERS": 1.5,
            "CALLBACK_REFUSED_PER_MINUTE": True,
            "CALLBACK_API_TIMEOUT": 0,
        },
        [
            (
                "django_invoices.E008",
                "DJANGO_INVOICES: account 'default': READ_TIMEOUT is '15s'; it must be a number "
                "of at least 0.001.",
                "See the default of READ_TIMEOUT in the settings reference.",
            ),
            (
                "django_invoices.E008",
                "DJANGO_INVOICES: account 'default': RETRIES is -1; it must be a whole number "
                "of at least 0.",
                "See the default of RETRIES in the settings reference.",
            ),
            (
                "django_invoices.E008",
                "DJANGO_INVOICES: CALLBACK_API_TIMEOUT is 0; it must be a number of at least "
                "0.001.",
                "See the default of CALLBACK_API_TIMEOUT in the settings reference.",
            ),
            (
                "django_invoices.E008",
                "DJANGO_INVOICES: CALLBACK_REFUSED_PER_MINUTE is True; it must be a whole "
                "number of at least 0.",
                "See the default of CALLBACK_REFUSED_PER_MINUTE in the settings reference.",
            ),
            (
                "django_invoices.E008",
                "DJANGO_INVOICES: REFRESH_WORKERS is 1.5; it must be a whole number of at least 1.",
                "See the default of REFRESH_WORKERS in the settings reference.",
            ),
        ],
    ),
    "recipes and late window": (
        {"CALLBACK_SIGNATURE_RECIPES": "sha1/hex/raw", "LATE_PAYMENT_WINDOW": "a week"},
        [
            (
                "django_invoices.E009",
                "DJANGO_INVOICES: CALLBACK_SIGNATURE_RECIPES: 'sha1/hex/raw' is not a "
                "signature recipe: write digest/encoding/message, with digest one of "
                "('sha384', 'sha256', 'sha512'), encoding one of ('hex', 'base64'), message "
                "one of ('raw', 'compact', 'data', 'ascii', 'python') (e.g. 'sha384/hex/raw').",
                "manage.py invoices_check_signatures names the recipe stored callbacks were "
                "signed with.",
            ),
            (
                "django_invoices.E010",
                "DJANGO_INVOICES: LATE_PAYMENT_WINDOW must be a timedelta or a number of days.",
                "e.g. 7 (the default) or datetime.timedelta(days=3).",
            ),
        ],
    ),
    "a retired setting": (
        {"CONFIRM_PAID_CALLBACKS": False},
        [
            (
                "django_invoices.W005",
                "DJANGO_INVOICES: CONFIRM_PAID_CALLBACKS is no longer read.",
                "Every callback is now confirmed by a read of the invoice from KUNA Pay, "
                "whatever this setting says; no callback body is trusted. Remove the setting.",
            )
        ],
    ),
    "a private key list with a blank": (
        {"PRIVATE_KEY": ["p", ""]},
        [
            (
                "django_invoices.E015",
                "DJANGO_INVOICES: account 'default': PRIVATE_KEY must be a key (a string) or a "
                "list of keys, newest first; it is a list with an empty or non-string item.",
                'e.g. "PRIVATE_KEY": "new-key", or ["new-key", "old-key"] while the old key is '
                "rotated out (docs/howto/rotate-keys.rst).",
            )
        ],
    ),
    "a resolver that is not there": (
        {"ACCOUNT_RESOLVER": "tests.nowhere.Accounts"},
        [
            (
                "django_invoices.E016",
                "DJANGO_INVOICES['ACCOUNT_RESOLVER'] 'tests.nowhere.Accounts' cannot be "
                "imported: No module named 'tests.nowhere'",
                "Name a class or an object with names() and get(name) "
                "(docs/howto/accounts-from-the-database.rst); its accounts are checked with "
                "the database checks (manage.py check --database default).",
            )
        ],
    ),
}


@pytest.mark.parametrize(("change", "expected"), SETTINGS_CASES.values(), ids=SETTINGS_CASES)
def test_the_settings_checks_say_what_is_wrong_and_what_to_do(change, expected):
    assert said(checks.check_settings, {**GOOD, **change}) == expected


def test_plain_http_to_the_api_is_a_warning_with_debug_off_only():
    http = {**GOOD, "API_URL": "http://api.kunapay.io"}
    assert said(checks.check_settings, http, DEBUG=True) == []
    assert said(checks.check_settings, http, DEBUG=False) == [
        (
            "django_invoices.W001",
            "DJANGO_INVOICES: API_URL of account 'default' uses plain http with DEBUG off.",
            "Keys and payments travel in clear text; use https in production.",
        )
    ]


def test_an_unshared_default_cache_is_named_with_debug_off():
    assert said(checks.check_cache, DEBUG=False, CACHES=REDIS) == []
    assert said(checks.check_cache, DEBUG=True, CACHES=LOCMEM) == []
    assert said(checks.check_cache, DEBUG=False, CACHES=LOCMEM) == [
        (
            "django_invoices.W002",
            "DJANGO_INVOICES: the default cache (LocMemCache) is not shared between processes.",
            "The REST API's throttles and the return page's limit on re-reading an invoice "
            "from KUNA Pay then apply per process (or not at all); use Redis or Memcached as "
            "the default cache in production.",
        )
    ]


def test_naive_times_are_refused_whatever_debug_says():
    error = (
        "django_invoices.E017",
        "DJANGO_INVOICES needs USE_TZ = True.",
        "Payments are recorded with times that carry their time zone (KUNA Pay gives UTC); "
        "with USE_TZ off Django cannot store or compare them. Set USE_TZ = True, Django's "
        "default.",
    )
    assert said(checks.check_time_zones, USE_TZ=False, DEBUG=True) == [error]
    assert said(checks.check_time_zones, USE_TZ=False, DEBUG=False) == [error]
    assert said(checks.check_time_zones, USE_TZ=True) == []


def test_a_proxy_drf_is_not_told_about_is_named():
    proxy = ("HTTP_X_FORWARDED_PROTO", "https")
    told = {"NUM_PROXIES": 1}
    assert said(checks.check_proxies, SECURE_PROXY_SSL_HEADER=proxy, REST_FRAMEWORK=told) == []
    assert said(checks.check_proxies, SECURE_PROXY_SSL_HEADER=None) == []
    warning = (
        "django_invoices.W006",
        "DJANGO_INVOICES: Django is set up behind a proxy (SECURE_PROXY_SSL_HEADER or "
        "USE_X_FORWARDED_HOST) but REST_FRAMEWORK['NUM_PROXIES'] is not set.",
        "The REST API's throttles and failed-login limits then count every client as the "
        "proxy's address. Set NUM_PROXIES to the number of proxies in front of Django.",
    )
    assert said(checks.check_proxies, SECURE_PROXY_SSL_HEADER=proxy) == [warning]
    assert said(checks.check_proxies, USE_X_FORWARDED_HOST=True) == [warning]


def test_a_plain_http_base_url_is_named_by_the_deploy_check():
    http = {**GOOD, "BASE_URL": "http://shop.example"}
    assert said(checks.check_base_url_https, http, DEBUG=True) == []
    assert said(checks.check_base_url_https, GOOD, DEBUG=False) == []
    assert said(checks.check_base_url_https, http, DEBUG=False) == [
        (
            "django_invoices.W007",
            "DJANGO_INVOICES: BASE_URL uses plain http with DEBUG off.",
            "KUNA Pay posts callbacks to BASE_URL and sends customers back to it: over http "
            "both travel in clear text, for anyone on the way to read or change. Set BASE_URL "
            'to the public https:// address of the site, e.g. "https://shop.example".',
        )
    ]


def test_the_demos_published_values_are_named_by_setting_never_by_value():
    demo = {
        **GOOD,
        "API_KEY": "sandbox-api-key",
        "PRIVATE_KEY": ["x", "sandbox-private-key"],
        "ACCOUNTS": {"eu": {"PUBLIC_KEY": "demo-only-not-secret"}},
    }
    published = "demo-only-not-secret"
    assert said(checks.check_published_demo_values, demo, DEBUG=True) == []
    assert said(checks.check_published_demo_values, GOOD, DEBUG=False, SECRET_KEY="own") == []
    assert said(checks.check_published_demo_values, demo, DEBUG=False, SECRET_KEY=published) == [
        (
            "django_invoices.E020",
            "DEBUG is off, and values published for the demo shop are in use: SECRET_KEY, "
            "API_KEY, PRIVATE_KEY, ACCOUNTS['eu'] PUBLIC_KEY.",
            "Anyone who has read the demo can use it (e.g. sign callbacks that mark orders "
            "paid). Set your own secret and your own KUNA Pay keys; the demo's values belong "
            "to `make demo` only.",
        )
    ]


def test_the_nonce_cache_checks_say_which_accounts_sign():
    assert said(checks.check_nonce_cache, {**SIGNED, "NONCE_CACHE": "nonces"}) == [
        (
            "django_invoices.E013",
            "DJANGO_INVOICES: NONCE_CACHE is 'nonces', not an alias of CACHES.",
            'Name a cache shared by all processes (e.g. "default"), or None.',
        )
    ]
    per_process = {**SIGNED, "NONCE_CACHE": None}
    assert said(checks.check_nonce_cache, per_process, DEBUG=True) == []
    assert said(checks.check_nonce_cache, {**GOOD, "NONCE_CACHE": None}, DEBUG=False) == []
    assert said(checks.check_nonce_cache, per_process, DEBUG=False) == [
        (
            "django_invoices.W003",
            "DJANGO_INVOICES: signed requests of 'default' count their nonces per process "
            "(NONCE_CACHE is None).",
            "Nonces may then repeat or go backwards between processes signing with one key at "
            "once (web and task workers). Set NONCE_CACHE to a Redis or Memcached cache, whose "
            "incr is atomic across processes.",
        )
    ]
    assert said(checks.check_nonce_cache, SIGNED, CACHES=REDIS) == []
    assert said(checks.check_nonce_cache, SIGNED, CACHES=LOCMEM) == [
        (
            "django_invoices.E014",
            "DJANGO_INVOICES: NONCE_CACHE 'default' (LocMemCache) cannot count the nonces of "
            "the signed requests of 'default' across processes.",
            "Each process would count for itself, or not at all, and two of them signing with "
            "one key could send the same nonce or a smaller one. Point NONCE_CACHE at a Redis "
            "or Memcached cache (atomic incr, shared by every process), or set it to None if "
            "only one process ever signs requests.",
        )
    ]


class _Backends:
    def __init__(self, backend):
        self.settings = {"default": {"BACKEND": backend}}


def test_the_task_checks_say_what_is_missing():
    assert said(checks.check_tasks, {**GOOD, "TASKS": "rq"}) == [
        (
            "django_invoices.E011",
            "DJANGO_INVOICES: TASKS is 'rq'.",
            'Use None (work runs in the request), "django.tasks" or "celery".',
        )
    ]
    with mock.patch.object(checks, "_importable", return_value=False):
        assert said(checks.check_tasks, {**GOOD, "TASKS": "celery"}) == [
            (
                "django_invoices.E011",
                'DJANGO_INVOICES: TASKS is "celery" but Celery is not installed.',
                "pip install django-invoices[celery]",
            )
        ]
    with mock.patch.object(checks, "_task_backends", return_value=None):
        assert said(checks.check_tasks, {**GOOD, "TASKS": "django.tasks"}) == [
            (
                "django_invoices.E011",
                'DJANGO_INVOICES: TASKS is "django.tasks" but Django\'s Tasks framework is not '
                "available.",
                "Use Django 6.0 or newer, or pip install django-invoices[tasks] (the "
                "django-tasks package) on Django 5.2.",
            )
        ]
    immediate = _Backends("django_tasks.backends.immediate.ImmediateBackend")
    with mock.patch.object(checks, "_task_backends", return_value=immediate):
        assert said(
            checks.check_tasks, {**GOOD, "TASKS": "django.tasks", "TASKS_BACKEND": "q"}
        ) == [
            (
                "django_invoices.E012",
                "DJANGO_INVOICES: TASKS_BACKEND is 'q', not a backend of the TASKS setting.",
                "Configured: default.",
            )
        ]
        assert said(checks.check_tasks, {**GOOD, "TASKS": "django.tasks"}) == [
            (
                "django_invoices.W004",
                "DJANGO_INVOICES: the tasks backend 'default' runs tasks at once, in the "
                "process that enqueues them.",
                "Callbacks are then applied inside the provider's request, as with TASKS = "
                "None. Configure a backend with workers (e.g. django-tasks-db's "
                "DatabaseBackend) to take the work out of the request.",
            )
        ]
    workers = _Backends("django_tasks_db.DatabaseBackend")
    with mock.patch.object(checks, "_task_backends", return_value=workers):
        assert said(checks.check_tasks, {**GOOD, "TASKS": "django.tasks"}) == []
