"""`python -m bench` on a tiny corpus: its generated flows are schema-valid and the engine
accepts every invoice, with the EN 16931 rules on and off, and `--json` prints the keys its
contract names. The benchmark's
numbers are never asserted (speed is measured, not tested)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edi_engine.reception import validation, xmlsafe

REPO = Path(__file__).resolve().parents[2]
CONTRACT = {
    "invoices",
    "bytes",
    "floor_invoices_per_s",
    "engine_invoices_per_s",
    "ratio_to_floor",
    "peak_rss_mb",
    "workers",
    "database",
}
# 6 UBL, 6 CII and 12 pivot invoices in 6 pivot flows of 2; half carry an attachment
TINY = ["--invoices", "24", "--mix", "ubl=1,cii=1,pivot=2", "--pivot-batch", "2"]
TINY += ["--lines", "1-4", "--attachments", "0.5", "--database", "sqlite", "--workers", "1"]
TINY += ["--rules", "on,off"]


def bench(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("bench")
    done = bench(*TINY, "--no-fsync", "--json", "--work-dir", str(work))
    assert done.returncode == 0, done.stderr
    return work, json.loads(done.stdout)


def test_every_generated_flow_is_valid_against_its_schema(tiny: tuple[Path, dict]) -> None:
    work, _ = tiny
    files = sorted((work / "flows").iterdir())
    kinds = sorted(path.name.split("-")[0] for path in files)
    assert kinds == ["cii"] * 6 + ["pivot"] * 6 + ["ubl"] * 6
    for path in files:
        tree = xmlsafe.parse(path.read_bytes())
        assert validation.problems(tree) == [], path.name


@pytest.mark.parametrize("home_name", ["home-sqlite-1", "home-sqlite-1-rules-off"])
def test_the_engine_accepts_every_invoice_with_one_pivot_each(
    tiny: tuple[Path, dict], home_name: str
) -> None:
    work, _ = tiny
    home = work / home_name
    with sqlite3.connect(home / "ledger.db") as ledger:
        states = ledger.execute("SELECT status, count(*) FROM flows GROUP BY status").fetchall()
        invoices = ledger.execute("SELECT count(*) FROM invoices").fetchone()[0]
        findings = ledger.execute("SELECT code, message FROM flow_errors").fetchall()
    assert states == [("IN_INTEGRE", 18)]
    assert invoices == 24
    assert findings == []  # not even a warning
    assert len(list((home / "outbox" / "DEST01").iterdir())) == 24
    assert len(list((home / "outbox" / "FOUR01").iterdir())) == 18  # one CR per flow


def test_json_prints_the_contract_keys_of_each_run(tiny: tuple[Path, dict]) -> None:
    _, document = tiny
    on, off = document["runs"]
    assert (on["rules"], off["rules"]) == (True, False)
    for run in (on, off):
        assert run.keys() >= CONTRACT
        assert (run["invoices"], run["workers"], run["database"]) == (24, 1, "sqlite")
        assert run["bytes"] == sum(p.stat().st_size for p in (tiny[0] / "flows").iterdir())
        assert run["engine_invoices_per_s"] > 0 and run["peak_rss_mb"] > 0


def test_a_wrong_mix_is_refused_saying_what_is_expected() -> None:
    done = bench("--mix", "ubl=60,edifact=40")
    assert done.returncode == 2
    assert "'edifact=40': expected KIND=WEIGHT, KIND in ('ubl', 'cii', 'pivot')" in done.stderr


def test_the_ceilings_are_measured_on_every_kind_of_flow() -> None:
    """`python -m bench.ceiling` runs the engine's own work on UBL, CII and pivot flows
    (a pivot it cannot build or that our schema refuses would stop it) and the file
    operations of each flow."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.ceiling", "--invoices", "9", "--mix", "ubl=1,cii=1,pivot=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "9 invoices in 7 flows"  # 3 UBL, 3 CII, one pivot flow of 3
    assert [line.split()[0] for line in lines[1:]] == ["floor", "work", "files"]
    assert all(line.endswith(("invoices/s", "flows/s")) for line in lines[1:])
