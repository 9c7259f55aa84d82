"""A home keeps the ledger `init` was given, and no command but `init` makes one (issue 11:
a home created on PostgreSQL answered later from an empty SQLite file made on the spot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .conftest import Home

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pa55"
UNREACHABLE = "postgresql+psycopg://edi@127.0.0.1:1/ledger"  # nothing listens on port 1


def _database(home: Path) -> dict[str, str]:
    with (home / "edi-engine.toml").open("rb") as handle:
        return tomllib.load(handle)["database"]


def _command(home: Path, *args: str) -> subprocess.CompletedProcess:
    """A command as its own process: nothing of the ledger kept in memory from before."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    return subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _delete_ledger(home: Path) -> None:
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
        (home / name).unlink(missing_ok=True)


def test_a_deleted_ledger_is_refused_and_not_made_again(bare_home: Home) -> None:
    ledger = bare_home.path / "ledger.db"
    _delete_ledger(bare_home.path)

    result = _command(bare_home.path, "partners", "list")

    assert result.returncode == 3
    assert f"No ledger at {ledger}: run `edi-engine init DIR`" in result.stderr
    assert sorted(p.name for p in bare_home.path.glob("ledger.db*")) == []  # none made


def test_the_daemon_refuses_a_missing_ledger_too(bare_home: Home) -> None:
    _delete_ledger(bare_home.path)

    result = bare_home.invoke("run", "--daemon", code=3)

    assert "No ledger at" in result.stderr
    assert not (bare_home.path / "ledger.db").exists()


def test_init_makes_the_missing_ledger_again(bare_home: Home, run_cli: Callable) -> None:
    _delete_ledger(bare_home.path)

    run_cli("init", bare_home.path)

    assert bare_home.invoke("partners", "list", "--json").stdout.strip() == "[]"


def test_an_empty_ledger_file_is_refused(bare_home: Home) -> None:
    _delete_ledger(bare_home.path)
    (bare_home.path / "ledger.db").touch()  # a file, but no edi-engine tables in it

    result = _command(bare_home.path, "flows", "list")

    assert result.returncode == 3
    assert "holds no edi-engine ledger" in result.stderr
    assert "edi-engine init DIR" in result.stderr


def test_init_records_the_database_url_it_was_given(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "shared" / "hub.db"
    elsewhere.parent.mkdir()
    home = tmp_path / "home"
    monkeypatch.setenv("EDI_ENGINE_DATABASE_URL", f"sqlite:///{elsewhere}")
    run_cli("init", home)
    monkeypatch.delenv("EDI_ENGINE_DATABASE_URL")

    run_cli("--home", home, "partners", "add", "FOUR01", "--name", "Supplier")

    assert _database(home)["url"] == f"sqlite:///{elsewhere}"
    assert not (home / "ledger.db").exists()  # the home's ledger is the one it was given
    listed = json.loads(run_cli("--home", home, "partners", "list", "--json").stdout)
    assert [p["code"] for p in listed] == ["FOUR01"]


def test_init_leaves_the_password_out_of_the_configuration(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("EDI_ENGINE_DATABASE_URL", UNREACHABLE.replace("edi@", f"edi:{SECRET}@"))

    result = run_cli("init", home, code=3)  # the server is not there: the ledger is not made

    assert _database(home)["url"] == UNREACHABLE
    assert SECRET not in (home / "edi-engine.toml").read_text()
    assert SECRET not in result.stdout + result.stderr
    assert "edi:***@127.0.0.1:1/ledger" in result.stderr


def test_init_refuses_a_url_that_is_not_one(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_DATABASE_URL", "not a url")

    result = run_cli("init", tmp_path / "home", code=2)

    assert "EDI_ENGINE_DATABASE_URL is not a database URL" in result.stderr


def test_the_password_file_is_used_and_never_shown(
    bare_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    (bare_home.path / "db-password").write_text(SECRET + "\n")
    monkeypatch.setenv("EDI_ENGINE_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("EDI_ENGINE_DATABASE_PASSWORD_FILE", "db-password")

    result = bare_home.invoke("--verbose", "partners", "list", code=3)

    assert "edi:***@127.0.0.1:1/ledger" in result.stderr  # the password was put in the URL
    assert SECRET not in result.stdout + result.stderr


def test_a_password_file_that_cannot_be_read_is_named(
    bare_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("EDI_ENGINE_DATABASE_PASSWORD_FILE", "missing-password")

    result = bare_home.invoke("partners", "list", code=2)

    assert f"database.password_file {bare_home.path / 'missing-password'}" in result.stderr
    assert "cannot be read" in result.stderr
