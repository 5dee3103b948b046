"""The mutation run's committed records (.ci/mutation_records.py): what is kept, and
that a verdict about other code is never put back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "mutation_records.py"


@pytest.fixture
def records(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("mutation_records", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "MUTANTS", tmp_path / "mutants")
    monkeypatch.setattr(module, "RECORDS", tmp_path / "records.json")
    return module


def meta(tmp_path: Path, codes: dict, hashes: dict) -> Path:
    path = tmp_path / "mutants" / "django_invoices" / "services" / "sync.py.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "exit_code_by_key": codes,
                "hash_by_function_name": hashes,
                "type_check_error_by_key": {},
                "durations_by_key": {"django_invoices.services.sync.x_sweep__mutmut_1": 0.5},
                "estimated_durations_by_key": {},
            }
        )
    )
    return path


SWEEP_1 = "django_invoices.services.sync.x_sweep__mutmut_1"
SWEEP_2 = "django_invoices.services.sync.x_sweep__mutmut_2"
READ_1 = "django_invoices.services.sync.xǁReaderǁread__mutmut_1"


def test_a_fresh_checkout_gets_back_every_verdict_and_what_is_unchecked(records, tmp_path):
    hashes = {"x_sweep": "aaa", "xǁReaderǁread": "bbb"}
    path = meta(tmp_path, {SWEEP_1: 1, SWEEP_2: None, READ_1: 0}, hashes)
    assert records.save() == 0
    stored = json.loads((tmp_path / "records.json").read_text())
    assert stored == {
        "django_invoices/services/sync.py": {
            "exit_code_by_key": {SWEEP_1: 1, SWEEP_2: None, READ_1: 0},
            "hash_by_function_name": hashes,
        }
    }
    path.unlink()
    assert records.restore() == 0
    back = json.loads(path.read_text())
    assert back["exit_code_by_key"] == {SWEEP_1: 1, SWEEP_2: None, READ_1: 0}
    assert back["hash_by_function_name"] == hashes
    # The keys mutmut's own loader requires, and nothing else.
    assert set(back) == {
        "exit_code_by_key",
        "hash_by_function_name",
        "type_check_error_by_key",
        "durations_by_key",
        "estimated_durations_by_key",
    }


def test_a_record_of_its_own_is_filled_only_where_the_function_is_the_same(records, tmp_path):
    meta(tmp_path, {SWEEP_1: 1, SWEEP_2: 0, READ_1: 1}, {"x_sweep": "aaa", "xǁReaderǁread": "bbb"})
    records.save()
    # The sweep changed since (another hash); the reader did not.
    path = meta(
        tmp_path,
        {SWEEP_1: None, SWEEP_2: None, READ_1: None},
        {"x_sweep": "ccc", "xǁReaderǁread": "bbb"},
    )
    records.restore()
    assert json.loads(path.read_text())["exit_code_by_key"] == {
        SWEEP_1: None,
        SWEEP_2: None,
        READ_1: 1,
    }


def test_a_verdict_of_its_own_is_never_overwritten(records, tmp_path):
    meta(tmp_path, {SWEEP_1: 0}, {"x_sweep": "aaa"})
    records.save()
    path = meta(tmp_path, {SWEEP_1: 1}, {"x_sweep": "aaa"})
    records.restore()
    assert json.loads(path.read_text())["exit_code_by_key"] == {SWEEP_1: 1}


def test_nothing_checked_is_not_saved(records, tmp_path):
    meta(tmp_path, {}, {"x_sweep": "aaa"})
    assert records.save() == 1
    assert not (tmp_path / "records.json").exists()
