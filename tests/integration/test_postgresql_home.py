"""A home on PostgreSQL keeps using it (issue 11), against the server on 127.0.0.1:5432
(database `test`, user postgres, trust: a password given is accepted and not checked).
Each test gets a database of its own, dropped afterwards; without the server they skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import PG_ADMIN, REPO

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

SECRET = "pg-s3cr3t-Pa55"


@pytest.fixture
def database(pg_database: str) -> str:
    """The name of an empty database of this test."""
    return pg_database


def _url(database: str, password: str = "") -> str:
    user = f"postgres:{password}" if password else "postgres"
    return f"postgresql+psycopg://{user}@127.0.0.1:5432/{database}"


def _edi(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI as an operator runs it: its own process, no EDI_ENGINE_* but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EDI_ENGINE_", "PG"))}
    return subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home), *args],
        cwd=REPO,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tables(database: str) -> set[str]:
    with psycopg.connect(PG_ADMIN.replace("dbname=test", f"dbname={database}")) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def _configured_url(home: Path) -> str:
    with (home / "edi-engine.toml").open("rb") as handle:
        return tomllib.load(handle)["database"]["url"]


def test_init_records_the_url_and_later_commands_use_postgresql(
    tmp_path: Path, database: str
) -> None:
    home = tmp_path / "home"

    init = _edi(home, "init", str(home), EDI_ENGINE_DATABASE_URL=_url(database, SECRET))

    assert init.returncode == 0, init.stderr
    assert _configured_url(home) == _url(database)  # without the password
    assert SECRET not in (home / "edi-engine.toml").read_text() + init.stdout + init.stderr
    assert "password is not written in edi-engine.toml" in init.stderr
    added = _edi(home, "partners", "add", "FOUR01", "--name", "Supplier")  # no variable now
    assert added.returncode == 0, added.stderr
    assert not (home / "ledger.db").exists()
    with psycopg.connect(PG_ADMIN.replace("dbname=test", f"dbname={database}")) as connection:
        assert connection.execute("select code from partners").fetchall() == [("FOUR01",)]


def test_an_empty_database_is_refused_until_init_creates_the_schema(
    tmp_path: Path, database: str
) -> None:
    home = tmp_path / "home"
    assert _edi(home, "init", str(home)).returncode == 0  # an SQLite home at first
    (home / "ledger.db").unlink()
    url = _url(database)

    refused = _edi(home, "partners", "list", EDI_ENGINE_DATABASE_URL=url)

    assert refused.returncode == 3
    assert f"The database {url} holds no edi-engine ledger" in refused.stderr
    assert _tables(database) == set()  # nothing was created on the way
    assert _edi(home, "init", str(home), EDI_ENGINE_DATABASE_URL=url).returncode == 0
    assert {"alembic_version", "flows", "partners"} <= _tables(database)
    assert _configured_url(home) == url  # the existing home now names its ledger
    listed = _edi(home, "partners", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_database_that_does_not_exist_is_refused(tmp_path: Path, database: str) -> None:
    home = tmp_path / "home"
    assert _edi(home, "init", str(home), EDI_ENGINE_DATABASE_URL=_url(database)).returncode == 0

    gone = _edi(home, "flows", "list", EDI_ENGINE_DATABASE_URL=_url(database + "_gone"))

    assert gone.returncode == 3
    assert f"{database}_gone" in gone.stderr
    assert not (home / "ledger.db").exists()


def test_the_password_file_is_read_and_never_shown(tmp_path: Path, database: str) -> None:
    home = tmp_path / "home"
    assert _edi(home, "init", str(home), EDI_ENGINE_DATABASE_URL=_url(database)).returncode == 0
    (home / "db-password").write_text(SECRET + "\n")
    config = home / "edi-engine.toml"
    config.write_text(
        config.read_text().replace('password_file = ""', 'password_file = "db-password"')
    )

    listed = _edi(home, "--verbose", "partners", "list", "--json")
    again = _edi(home, "--verbose", "init", str(home))

    assert listed.returncode == 0, listed.stderr
    assert "postgres:***@127.0.0.1:5432" in again.stderr  # the URL did carry a password
    for done in (listed, again):
        assert SECRET not in done.stdout + done.stderr
    assert SECRET not in config.read_text()
