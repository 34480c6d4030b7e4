"""The OTA differential states in tests/device/data/ota are what
tests/host/ota_scenarios.py makes today, and python-tuf's ngclient decided
each step as the scenario says (accept, or refuse)."""

from __future__ import annotations

import json
from pathlib import Path

import ota_scenarios as sc
import pytest


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("ota")
    return out, sc.render(out)


def test_ngclient_agrees_with_every_expected_outcome(fresh: tuple[Path, dict[str, object]]) -> None:
    _, expect = fresh
    scenarios = expect["scenarios"]
    assert isinstance(scenarios, dict)
    refused = 0
    for name, steps in scenarios.items():
        for i, st in enumerate(steps):
            assert (st["ngclient"] is None) == st["ok"], f"{name} step {i}: ngclient said {st['ngclient']}"
            refused += not st["ok"]
    assert len(scenarios) == 24 and refused == 23


def test_attacks_leave_ngclient_trusted_metadata_unchanged_where_expected(
    fresh: tuple[Path, dict[str, object]],
) -> None:
    # A refused root, timestamp or targets never becomes trusted.  (What
    # the device must persist is checked step by step on both runtimes by
    # tests/device/test_ota_differential.py against these same hashes.)
    _, expect = fresh
    scenarios = expect["scenarios"]
    assert isinstance(scenarios, dict)
    for name in ("timestamp_rollback", "bad_signature", "unknown_key", "threshold_not_met", "root_version_skip"):
        steps = scenarios[name]
        before, after = steps[-2]["state"], steps[-1]["state"]
        assert before["root"] == after["root"], name
        assert before["targets"] == after["targets"], name


def test_committed_states_are_fresh(fresh: tuple[Path, dict[str, object]]) -> None:
    out, _ = fresh
    made = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    committed = {str(p.relative_to(sc.DATA_DIR)): p.read_bytes() for p in sc.DATA_DIR.rglob("*") if p.is_file()}
    assert sorted(made) == sorted(committed), "run python tests/host/make_ota_vectors.py"
    stale = [n for n in made if made[n] != committed[n]]
    assert not stale, f"stale: {stale[:5]}: run python tests/host/make_ota_vectors.py"
    assert json.loads(made["expect.json"])["now"] == sc.DEVICE_NOW
