"""init, partners and structures through the CLI."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from alembic.script import ScriptDirectory
from click.testing import Result

from edi_engine.ledger import db

from .conftest import Home


def test_init_creates_a_home_with_migrated_ledger(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    home = tmp_path / "hub"
    run_cli("init", home)

    assert (home / "edi-engine.toml").is_file()
    for folder in ("inbox", "outbox", "archive"):
        assert (home / folder).is_dir()
    with sqlite3.connect(home / "ledger.db") as ledger:
        tables = {r[0] for r in ledger.execute("select name from sqlite_master where type='table'")}
        (version,) = ledger.execute("select version_num from alembic_version").fetchone()
    assert {"flows", "invoices", "partners", "structures", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()
    assert version == head


def test_init_again_keeps_the_configuration(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    home = tmp_path / "hub"
    run_cli("init", home)
    config = home / "edi-engine.toml"
    config.write_text(config.read_text().replace('id = "EDIHUB"', 'id = "HUB42"'))

    result = run_cli("init", home)

    assert 'id = "HUB42"' in config.read_text()
    assert "already" in result.stderr


def test_commands_outside_a_home_say_how_to_make_one(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    result = run_cli("--home", tmp_path / "nowhere", "flows", "list", code=2)
    assert "edi-engine init" in result.stderr


def test_partner_add_creates_its_folders_and_lists(bare_home: Home) -> None:
    bare_home.invoke("partners", "add", "ABC001", "--name", "Fournisseur ABC")

    assert (bare_home.path / "inbox" / "ABC001").is_dir()
    assert (bare_home.path / "outbox" / "ABC001").is_dir()
    (partner,) = json.loads(bare_home.invoke("partners", "list", "--json").stdout)
    assert (partner["code"], partner["name"], partner["channel"]) == (
        "ABC001",
        "Fournisseur ABC",
        "local",
    )


def test_partner_registered_twice_is_refused(bare_home: Home) -> None:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    result = bare_home.invoke("partners", "add", "ABC001", "--name", "B", code=1)
    assert "ABC001" in result.stderr and "already registered" in result.stderr


def test_partner_code_that_cannot_name_files_is_a_usage_error(bare_home: Home) -> None:
    for bad in ("AB", "ABC_001", "abc001", "TOOLONG123"):
        result = bare_home.invoke("partners", "add", bad, "--name", "x", code=2)
        assert bad in result.stderr


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "structures.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_structures_are_listed_by_designation_then_siret(home: Home) -> None:
    rows = json.loads(home.invoke("structures", "list", "--json").stdout)
    assert [r["designation"] for r in rows] == sorted(r["designation"] for r in rows)
    assert {r["siret"]: r["active"] for r in rows} == {
        "21990101400015": True,
        "26990202900017": True,
        "25990303700010": False,
    }
    assert all(r["partner"] == "DEST01" for r in rows)


def test_structures_import_updates_existing_rows(home: Home, tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "siret,designation,active,partner\n25990303700010,Syndicat des eaux,oui,DEST01\n"
    )
    result = home.invoke("structures", "import", path)
    assert "1 updated" in result.stderr
    rows = {r["siret"]: r for r in json.loads(home.invoke("structures", "list", "--json").stdout)}
    assert rows["25990303700010"]["active"] is True
    assert rows["25990303700010"]["designation"] == "Syndicat des eaux"


def test_structures_with_same_designation_sort_by_siret(home: Home, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "partner;designation;siret;active\nDEST01;Mairie;73282932000074;1\nDEST01;Mairie;21990404200013;0\n",
    )
    home.invoke("structures", "import", path)
    rows = json.loads(home.invoke("structures", "list", "--json").stdout)
    mairies = [r["siret"] for r in rows if r["designation"] == "Mairie"]
    assert mairies == ["21990404200013", "73282932000074"]


def test_a_bad_row_refuses_the_whole_file_naming_its_line(home: Home, tmp_path: Path) -> None:
    before = home.invoke("structures", "list", "--json").stdout
    path = _csv(
        tmp_path,
        "siret,designation,active,partner\n"
        "73282932000074,Good one,true,DEST01\n"
        "12345678901234,Bad key,true,DEST01\n"
        "21990404200013,Unknown partner,true,NOPE01\n"
        "21990101400015,Bad flag,maybe,DEST01\n",
    )

    result = home.invoke("structures", "import", path, code=1)

    assert "line 3" in result.stderr and "12345678901234" in result.stderr
    assert "line 4" in result.stderr and "NOPE01" in result.stderr
    assert "line 5" in result.stderr and "maybe" in result.stderr
    assert "nothing was imported" in result.stderr
    assert home.invoke("structures", "list", "--json").stdout == before


def test_a_csv_without_the_required_columns_is_refused(home: Home, tmp_path: Path) -> None:
    path = _csv(tmp_path, "siret,name\n73282932000074,x\n")
    result = home.invoke("structures", "import", path, code=1)
    assert (
        "designation" in result.stderr and "active" in result.stderr and "partner" in result.stderr
    )


def test_requirement_columns_are_loaded_and_kept_when_absent(home: Home, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "siret,designation,active,partner,engagement_required,service_code_required,engagement_or_service_code\n"
        "21990101400015,Commune de Valbrune,true,DEST01,oui,0,false\n",
    )
    home.invoke("structures", "import", path)
    # a later file without those columns changes nothing of them
    home.invoke(
        "structures",
        "import",
        _csv(tmp_path, "siret,designation,active,partner\n21990101400015,Valbrune,1,DEST01\n"),
    )

    shown = json.loads(home.invoke("structures", "show", "21990101400015", "--json").stdout)
    assert (shown["designation"], shown["engagement_required"], shown["service_code_required"]) == (
        "Valbrune",
        True,
        False,
    )


def test_a_bad_requirement_value_names_its_column_and_line(home: Home, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "siret,designation,active,partner,service_code_required\n21990101400015,V,1,DEST01,peut-être\n",
    )
    result = home.invoke("structures", "import", path, code=1)
    assert (
        "line 2" in result.stderr
        and "service_code_required" in result.stderr
        and "peut-être" in result.stderr
    )


def test_services_and_engagements_are_shown_with_their_structure(
    home: Home, tmp_path: Path
) -> None:
    services = tmp_path / "services.csv"
    services.write_text(
        "siret,code,name,active\n21990101400015,SERV-SCOL,Écoles,oui\n21990101400015,OLD,Ancien,non\n"
    )
    engagements = tmp_path / "engagements.csv"
    engagements.write_text(
        "siret,engagement,supplier,service_code\n"
        "21990101400015,EJ-VAL-2026-0412,81234567600025,SERV-SCOL\n"
        "21990101400015,EJ-VAL-2026-0500,,\n"
    )
    assert "2 created" in home.invoke("structures", "import-services", services).stderr
    assert "2 created" in home.invoke("structures", "import-engagements", engagements).stderr
    assert "2 unchanged" in home.invoke("structures", "import-engagements", engagements).stderr

    shown = json.loads(home.invoke("structures", "show", "21990101400015", "--json").stdout)
    assert shown["services"] == [
        {"code": "OLD", "name": "Ancien", "active": False},
        {"code": "SERV-SCOL", "name": "Écoles", "active": True},
    ]
    assert shown["engagements"] == [
        {
            "engagement": "EJ-VAL-2026-0412",
            "supplier": "81234567600025",
            "service_code": "SERV-SCOL",
            "active": True,
        },
        {
            "engagement": "EJ-VAL-2026-0500",
            "supplier": None,
            "service_code": None,
            "active": True,
        },
    ]
    assert "SERV-SCOL" in home.invoke("structures", "show", "21990101400015").stdout


def test_services_of_an_unknown_structure_refuse_the_file(home: Home, tmp_path: Path) -> None:
    services = tmp_path / "services.csv"
    services.write_text(
        "siret,code,name,active\n21990101400015,A,A,1\n73282932000074,B,B,1\n21990101400015,A,A,1\n"
    )
    result = home.invoke("structures", "import-services", services, code=1)
    assert "line 3" in result.stderr and "73282932000074" in result.stderr
    assert "line 4" in result.stderr and "already appears on line 2" in result.stderr
    assert (
        json.loads(home.invoke("structures", "show", "21990101400015", "--json").stdout)["services"]
        == []
    )


def test_show_of_an_unknown_structure_is_refused(home: Home) -> None:
    assert "73282932000074" in home.invoke("structures", "show", "73282932000074", code=1).stderr
