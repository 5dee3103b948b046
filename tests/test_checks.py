import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_invoices.checks import check_cache, check_settings

from .example_shop import clean_env

GOOD = {
    "API_URL": "https://api.kunapay.io",
    "API_KEY": "k",
    "PRIVATE_KEY": "p",
    "BASE_URL": "https://shop.example",
}


def ids(settings_dict):
    with override_settings(DJANGO_INVOICES=settings_dict):
        return [message.id for message in check_settings()]


def test_complete_settings_pass():
    assert ids(GOOD) == []
    assert ids({**GOOD, "API_KEY": "", "PUBLIC_KEY": "pub"}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"API_KEY": ""}, ["django_invoices.E001"]),
        ({"PRIVATE_KEY": ""}, ["django_invoices.E002"]),
        ({"API_KEY": "", "PRIVATE_KEY": ""}, ["django_invoices.E001", "django_invoices.E002"]),
        ({"BASE_URL": ""}, ["django_invoices.E003"]),
        ({"BASE_URL": "/shop"}, ["django_invoices.E003"]),
        ({"API_URL": "api.kunapay.io"}, ["django_invoices.E004"]),
        ({"AUTH_MODE": "magic"}, ["django_invoices.E005"]),
        ({"AUTH_MODE": "signed"}, ["django_invoices.E006"]),
        ({"API_URL": "http://api.kunapay.io"}, ["django_invoices.W001"]),
        ({"ACCOUNTS": ["eu"]}, ["django_invoices.E007"]),
        ({"ACCOUNTS": {"Not A Slug": {"API_KEY": "k"}}}, ["django_invoices.E007"]),
        ({"ACCOUNTS": {"eu": {"API_KEY": "k2"}}}, ["django_invoices.E002"]),
        ({"ACCOUNTS": {"eu": None}}, ["django_invoices.E007"]),
        ({"ACCOUNTS": {"eu": "oops"}}, ["django_invoices.E007"]),
        ({"READ_TIMEOUT": "15s"}, ["django_invoices.E008"]),
        ({"RETRIES": 1.5}, ["django_invoices.E008"]),
        ({"RETRIES": -1}, ["django_invoices.E008"]),
        ({"CONNECT_TIMEOUT": 0}, ["django_invoices.E008"]),
        ({"CALLBACK_MAX_BODY_SIZE": None}, ["django_invoices.E008"]),
        ({"PENDING_PAGE_REFRESH": True}, ["django_invoices.E008"]),
        ({"REFRESH_MIN_INTERVAL": 0, "RETRY_BACKOFF": 0, "CACHE_TIMEOUT": 0}, []),
        ({"CACHE_TIMEOUT": None, "PENDING_PAGE_REFRESH": 0}, []),
        ({"PENDING_PAGE_REFRESH": -5}, ["django_invoices.E008"]),
        ({"CONFIRM_PAID_CALLBACKS": False}, ["django_invoices.W005"]),
        ({"CONFIRM_PAID_CALLBACKS": True}, ["django_invoices.W005"]),
        ({"REFRESH_WORKERS": 0}, ["django_invoices.E008"]),
        ({"REFRESH_WORKERS": "8"}, ["django_invoices.E008"]),
        ({"REFRESH_WORKERS": 2.5}, ["django_invoices.E008"]),
        ({"REFRESH_WORKERS": 1}, []),
        (
            {"ACCOUNTS": {"eu": {"API_KEY": "k2", "PRIVATE_KEY": "p", "RETRIES": "2"}}},
            ["django_invoices.E008"],
        ),
    ],
)
def test_each_problem_has_its_own_id(change, expected):
    assert ids({**GOOD, **change}) == expected


def test_every_message_has_a_hint():
    secret = "pub-key-that-must-not-leak"
    with override_settings(DJANGO_INVOICES={"PUBLIC_KEY": secret, "AUTH_MODE": "signed"}):
        messages = check_settings()
    assert {m.id for m in messages} == {
        "django_invoices.E006",
        "django_invoices.E002",
        "django_invoices.E003",
    }
    assert all(m.hint for m in messages)
    assert not any(secret in m.msg or secret in m.hint for m in messages)


def test_named_accounts_do_not_inherit_the_default_keys():
    result = ids({**GOOD, "ACCOUNTS": {"eu": {}}})
    assert result == ["django_invoices.E001", "django_invoices.E002"]


def test_the_check_command_fails_when_keys_are_missing(db):
    with (
        override_settings(DJANGO_INVOICES={"BASE_URL": "https://shop.example"}),
        pytest.raises(SystemCheckError, match="E001"),
    ):
        call_command("check")


def test_example_project_check_reports_missing_keys():
    root = Path(__file__).resolve().parent.parent
    env = clean_env()  # no KUNAPAY_* variable: the example has no default keys
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=root / "example_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "django_invoices.E001" in result.stderr
    assert "django_invoices.E002" in result.stderr


@pytest.mark.parametrize(
    ("backend", "debug", "expected"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", False, ["django_invoices.W002"]),
        ("django.core.cache.backends.dummy.DummyCache", False, ["django_invoices.W002"]),
        ("django.core.cache.backends.locmem.LocMemCache", True, []),
        ("django.core.cache.backends.redis.RedisCache", False, []),
    ],
)
def test_a_cache_each_process_keeps_for_itself_is_reported(settings, backend, debug, expected):
    settings.CACHES = {"default": {"BACKEND": backend}}
    settings.DEBUG = debug
    assert [message.id for message in check_cache()] == expected


def test_the_demos_published_values_are_an_error_with_debug_off(settings):
    from django_invoices.checks import check_published_demo_values

    settings.DEBUG = False
    settings.SECRET_KEY = "demo-only-not-secret"
    settings.DJANGO_INVOICES = {
        **GOOD,
        "ACCOUNTS": {"eu": {"PUBLIC_KEY": "pub", "PRIVATE_KEY": "sandbox-private-key"}},
    }
    (error,) = check_published_demo_values()
    assert error.id == "django_invoices.E020"
    assert "SECRET_KEY" in error.msg and "ACCOUNTS['eu'] PRIVATE_KEY" in error.msg
    assert "sandbox-private-key" not in error.msg and "demo-only" not in error.msg
    settings.DEBUG = True
    assert check_published_demo_values() == []
    settings.DEBUG = False
    settings.SECRET_KEY = "tests-only-not-secret"
    settings.DJANGO_INVOICES = GOOD
    assert check_published_demo_values() == []


@pytest.mark.parametrize(
    ("base_url", "debug", "expected"),
    [
        ("http://shop.example", False, ["django_invoices.W007"]),
        ("HTTP://shop.example:8080/shop", False, ["django_invoices.W007"]),
        ("http://shop.example", True, []),
        ("https://shop.example", False, []),
        ("", False, []),  # not absolute: E003 says so
    ],
)
def test_a_plain_http_base_url_with_debug_off_is_reported(settings, base_url, debug, expected):
    from django_invoices.checks import check_base_url_https

    settings.DEBUG = debug
    settings.DJANGO_INVOICES = {**GOOD, "BASE_URL": base_url}
    messages = check_base_url_https()
    assert [message.id for message in messages] == expected
    assert all(message.hint and "https://" in message.hint for message in messages)


def test_check_deploy_reports_a_plain_http_base_url_and_check_alone_does_not(settings):
    """Issue 20: ``check --deploy`` said nothing about ``BASE_URL = "http://..."``,
    though the deploying page says it reports most of what a shop sets."""
    from django.core.checks import run_checks

    settings.DEBUG = False
    settings.DJANGO_INVOICES = {**GOOD, "BASE_URL": "http://shop.example"}
    deploy = [message.id for message in run_checks(include_deployment_checks=True)]
    plain = [message.id for message in run_checks()]
    assert "django_invoices.W007" in deploy
    assert "django_invoices.W007" not in plain
