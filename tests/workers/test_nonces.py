"""Several processes sign requests with one key at once: their nonces never repeat and
never go backwards, through the counter in the shared cache (Redis)."""

import json
import os
import subprocess
import sys
import time

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.workers

PROCESSES = 4
NONCES_EACH = 300

SIGNER = """
import json, os, sys, time
import django
django.setup()
from django_invoices import services
client = services.get_client()
assert client.auth_mode == "signed", client.auth_mode
open(sys.argv[3], "w").close()  # ready
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
seen = []
for _ in range(int(sys.argv[2])):
    before = time.monotonic_ns()
    wall = int(time.time() * 1000)
    nonce = int(client._headers("/v1/invoice", "")["nonce"])
    seen.append((before, time.monotonic_ns(), wall, nonce))
print(json.dumps(seen))
"""


def test_nonces_from_several_processes_never_repeat_or_go_backwards(redis_url, tmp_path):
    go = tmp_path / "go"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.workers.settings",
        "REDIS_URL": redis_url,
        "INVOICES_PUBLIC_KEY": "test-public-key",
    }
    signers = [
        subprocess.Popen(
            [sys.executable, "-c", SIGNER, str(go), str(NONCES_EACH), str(tmp_path / f"ready-{n}")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for n in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # all at once
    runs = [json.loads(signer.communicate(timeout=120)[0]) for signer in signers]
    assert all(signer.returncode == 0 for signer in signers)

    nonces = [nonce for run in runs for *_, nonce in run]
    assert len(nonces) == len(set(nonces)) == PROCESSES * NONCES_EACH
    for run in runs:
        mine = [nonce for *_, nonce in run]
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
        # Milliseconds of the clock, as the provider expects: never behind it.
        assert all(nonce >= wall for _b, _a, wall, nonce in run)
    # Across processes: a nonce taken after another one was taken is greater.
    taken = sorted((after, nonce) for run in runs for _before, after, _wall, nonce in run)
    for before, _after, _wall, nonce in (entry for run in runs for entry in run):
        earlier = [n for finished, n in taken if finished < before]
        assert not earlier or max(earlier) < nonce
    # The processes did overlap: otherwise the test proves little.
    spans = sorted((run[0][0], run[-1][1]) for run in runs)
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))
