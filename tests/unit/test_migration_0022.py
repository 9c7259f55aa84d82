"""Migration 0022 (API clients, partners' API quotas): a ledger's partners and certificates
keep their rows both ways; its partners have the [api] defaults until given their own."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from edi_engine.ledger import db

PARTNER = (
    "insert into partners (code, name, channel, created_at, markers, active, operator) "
    "values ('FOUR01', 'Supplier', 'local', '2026-12-01 10:00:00', 0, 1, 0)"
)
CERTIFICATE = (
    "insert into certificates (partner_code, kind, algorithm, fingerprint, public_text, "
    "added_at) values ('FOUR01', 'openssh', 'ssh-ed25519', 'SHA256:abc', 'ssh-ed25519 AAAA', "
    "'2026-12-01 10:00:00')"
)
CLIENT = (
    "insert into api_clients (client_id, partner_code, secret_hash, certificate_id, "
    "created_at) values ('edi_000000000000000000000001', 'FOUR01', '$argon2id$x', 1, "
    "'2026-12-02 10:00:00')"
)
TABLES = {"api_clients", "api_signing_keys", "api_usage"}


def _tables(url: str) -> set[str]:
    return set(inspect(db.engine_for(url)).get_table_names())


def _partner_columns(url: str) -> list[str]:
    return [c["name"] for c in inspect(db.engine_for(url)).get_columns("partners")]


def test_upgrade_adds_the_api_tables_and_downgrade_keeps_partners_and_certificates(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    command.upgrade(db.alembic_config(url), "0021")
    with db.engine_for(url).begin() as connection:
        connection.execute(text(PARTNER))
        connection.execute(text(CERTIFICATE))

    db.migrate(url)

    assert _tables(url) >= TABLES
    with db.engine_for(url).begin() as connection:
        row = connection.execute(text("select code, api_rate, api_daily from partners")).one()
        assert tuple(row) == ("FOUR01", None, None)  # the [api] defaults
        connection.execute(text(CLIENT))
        client = connection.execute(text("select generation, rotated_at from api_clients")).one()
        assert tuple(client) == (1, None)
        connection.execute(text("update partners set api_rate = 5, api_daily = 900"))
        connection.execute(
            text("insert into api_usage (client_id, \"window\", count) values ('c', 'w', 1)")
        )

    command.downgrade(db.alembic_config(url), "0021")

    assert not TABLES & _tables(url)
    assert not {"api_rate", "api_daily"} & set(_partner_columns(url))
    with db.engine_for(url).connect() as connection:
        assert tuple(connection.execute(text("select code, name from partners")).one()) == (
            "FOUR01",
            "Supplier",
        )
        assert connection.execute(text("select fingerprint from certificates")).scalar() == (
            "SHA256:abc"
        )
    db.migrate(url)
    assert _tables(url) >= TABLES
    assert {"api_rate", "api_daily"} <= set(_partner_columns(url))
