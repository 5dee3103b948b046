"""pytest fixtures for shops that use django-invoices (registered as a ``pytest11`` plugin).

Nothing Django-related is imported before a fixture runs, so the plugin costs nothing in
projects that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import KunaPaySandbox


@pytest.fixture
def kunapay(db: Any) -> Iterator[KunaPaySandbox]:
    """KUNA Pay played by the embedded sandbox, for the length of one test.

    Invoices the shop creates can be read back (``kunapay.get(invoice)``) and paid
    (``kunapay.pay(invoice)``, ``pay_part``, ``overpay``, ``expire``, ``decline``); the
    callbacks reach the shop's callback view through Django's test client.
    """
    from .testing import KunaPaySandbox

    with KunaPaySandbox() as sandbox:
        yield sandbox
