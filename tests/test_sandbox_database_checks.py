"""The sandbox on the shop's only SQLite file fails at the first invoice ("database is
locked" after SQLite's timeout); the system check says so, and what to add, first."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_invoices.sandbox import database_checks
from django_invoices.sandbox.database_checks import check_database

ROUTER = "django_invoices.sandbox.routers.SandboxRouter"


@pytest.fixture
def databases(monkeypatch):
    class Databases:
        def set(self, value):
            monkeypatch.setattr(database_checks, "configured_databases", lambda: value)

    return Databases()


def ids():
    return [message.id for message in check_database()]


def sqlite(name):
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


def test_a_new_projects_single_sqlite_file_is_an_error(databases, settings, tmp_path):
    databases.set({"default": sqlite(tmp_path / "db.sqlite3")})
    (message,) = check_database()
    assert message.id == "django_invoices.E101"
    assert "database is locked" in message.msg
    for needed in ('DATABASES["sandbox"]', ROUTER, '"DATABASE": "sandbox"', "--database sandbox"):
        assert needed in message.hint


def test_the_same_file_under_two_aliases_is_an_error_too(databases, settings, tmp_path):
    databases.set(
        {
            "default": sqlite(tmp_path / "db.sqlite3"),
            "sandbox": sqlite(str(tmp_path / "sub" / ".." / "db.sqlite3")),
        }
    )
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert ids() == ["django_invoices.E101"]


def test_a_file_of_its_own_passes(databases, settings, tmp_path):
    databases.set(
        {
            "default": sqlite(tmp_path / "db.sqlite3"),
            "sandbox": sqlite(tmp_path / "sandbox.sqlite3"),
        }
    )
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert ids() == []


def test_in_memory_and_other_engines_pass(databases, settings):
    databases.set({"default": sqlite(":memory:")})
    assert ids() == []
    databases.set({"default": sqlite("file:shop?mode=memory&cache=shared")})
    assert ids() == []
    databases.set({"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}})
    assert ids() == []


def test_an_unknown_alias_or_a_missing_router_is_an_error(databases, settings, tmp_path):
    databases.set({"default": sqlite(tmp_path / "db.sqlite3")})
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert ids() == ["django_invoices.E102"]
    databases.set(
        {
            "default": sqlite(tmp_path / "db.sqlite3"),
            "sandbox": sqlite(tmp_path / "sandbox.sqlite3"),
        }
    )
    settings.DATABASE_ROUTERS = []
    (message,) = check_database()
    assert (message.id, ROUTER in message.hint) == ("django_invoices.E102", True)


def test_the_check_framework_runs_it(databases, settings, tmp_path, capsys):
    databases.set({"default": sqlite(tmp_path / "db.sqlite3")})
    try:
        call_command("check")
    except SystemCheckError as exc:
        assert "django_invoices.E101" in str(exc)
    else:
        raise AssertionError("check passed")


# -- what each check says, word for word (docs/reference/checks.rst) ---------------------

SEPARATE_DATABASE = (
    'Give the sandbox a SQLite file of its own: DATABASES["sandbox"] = {"ENGINE": '
    '"django.db.backends.sqlite3", "NAME": BASE_DIR / "sandbox.sqlite3"}, '
    'DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"], '
    'DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}, '
    "then run: python manage.py migrate --database sandbox"
)


def said():
    return [(m.id, m.msg, m.hint) for m in check_database()]


def test_the_shared_file_error_word_for_word(databases, tmp_path):
    databases.set({"default": sqlite(tmp_path / "db.sqlite3")})
    assert said() == [
        (
            "django_invoices.E101",
            "The KUNA Pay sandbox shares the shop's SQLite database file: the first invoice "
            'would fail with "database is locked" while the shop\'s transaction waits for '
            "the sandbox's answer.",
            SEPARATE_DATABASE,
        )
    ]


def test_the_unknown_alias_error_word_for_word(databases, settings, tmp_path):
    databases.set({"default": sqlite(tmp_path / "db.sqlite3")})
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert said() == [
        (
            "django_invoices.E102",
            'DJANGO_INVOICES_SANDBOX["DATABASE"] names the database "sandbox", which is not '
            "in DATABASES.",
            SEPARATE_DATABASE,
        )
    ]


def test_the_missing_router_error_word_for_word(databases, settings, tmp_path):
    databases.set(
        {
            "default": sqlite(tmp_path / "db.sqlite3"),
            "sandbox": sqlite(tmp_path / "sandbox.sqlite3"),
        }
    )
    settings.DATABASE_ROUTERS = []
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert said() == [
        (
            "django_invoices.E102",
            'DJANGO_INVOICES_SANDBOX["DATABASE"] is "sandbox" but the sandbox\'s router is '
            "not installed, so its tables would stay in the shop's database.",
            'Add "django_invoices.sandbox.routers.SandboxRouter" to DATABASE_ROUTERS.',
        )
    ]


def test_a_sqlite_database_without_a_name_is_left_to_djangos_own_error(databases):
    databases.set({"default": {"ENGINE": "django.db.backends.sqlite3"}})
    assert ids() == []
    databases.set({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ""}})
    assert ids() == []
