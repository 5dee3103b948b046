"""The strict HTTP mock (``tests/http_mock.py``) behind the suite's ``api`` fixture: a
request no test registered fails the test, even when the code under test swallowed the
error it got."""

STRICT_FIXTURE_TESTS = """
import pytest
import requests


def test_an_unregistered_request_swallowed_by_tolerant_code(api):
    api.get("https://api.kunapay.test/v1/invoice/assets", json={"data": []})
    requests.get("https://api.kunapay.test/v1/invoice/assets", timeout=1)
    try:
        requests.get("https://api.kunapay.test/v1/invoice/other", timeout=1)
    except requests.ConnectionError:
        pass  # what code tolerating a provider outage does


def test_a_registered_outage_is_no_stray_request(api):
    api.get("https://api.kunapay.test/v1/x", body=requests.ConnectionError("down"))
    with pytest.raises(requests.ConnectionError):
        requests.get("https://api.kunapay.test/v1/x", timeout=1)
"""


def test_the_api_fixture_fails_a_test_whose_unregistered_request_was_swallowed(pytester):
    """The suite's own ``api`` fixture, run on two small tests of its own."""
    pytester.makeconftest("from tests.conftest import api  # noqa: F401")
    pytester.makepyfile(test_strict=STRICT_FIXTURE_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    # The swallowing test errors at teardown, so the run fails; the outage test passes.
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*Requests that no test registered: GET https://api.kunapay.test/v1/invoice/other*"]
    )
