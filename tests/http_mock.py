"""KUNA Pay played by ``responses``, strictly: a request no test registered fails the test.

``responses`` answers an unregistered request with ``ConnectionError``, which the client
turns into ``ProviderUnavailable``, which code that tolerates a provider outage (the
return view, refreshes, catalogue caches) then swallows: the test would pass on a
request it never meant to allow. So the unmatched calls are collected and the test
fails at the end, whatever the code under test did with the error.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
import responses

# How responses words the ConnectionError of a request that matched nothing (a
# registered ConnectionError body, which tests use to play an outage, does not say it).
UNMATCHED = "doesn't match any registered mock"


def unregistered_calls(mock: responses.RequestsMock) -> list[str]:
    """``"METHOD URL"`` of each request ``mock`` saw that matched nothing registered."""
    return [
        f"{call.request.method} {call.request.url}"
        for call in mock.calls
        if isinstance(call.response, requests.ConnectionError) and UNMATCHED in str(call.response)
    ]


@contextmanager
def strict_mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        stray = unregistered_calls(mock)  # read before leaving: the exit forgets the calls
    if stray:
        pytest.fail("Requests that no test registered: " + ", ".join(stray), pytrace=False)
