"""A database password never reaches edi-engine.toml, a message or a log line.

libpq takes it in the user part of the URL or as a `password` query parameter; both are
secrets (`init` records the URL, every message shows it).
"""

from __future__ import annotations

import pytest

from edi_engine import db, home

URLS = [
    "postgresql+psycopg://edi:UserPartSecret@db.example/ledger",
    "postgresql+psycopg://edi@db.example/ledger?password=QuerySecret&sslmode=require",
]


@pytest.mark.parametrize("url", URLS)
def test_the_recorded_url_has_no_password(url: str) -> None:
    recorded = home.without_password(url)
    assert "Secret" not in recorded
    assert recorded.startswith("postgresql+psycopg://edi@db.example/ledger")
    assert home.has_password(url)


def test_other_query_parameters_are_kept() -> None:
    assert home.without_password(URLS[1]).endswith("/ledger?sslmode=require")


@pytest.mark.parametrize("url", URLS)
def test_a_shown_url_hides_the_password(url: str) -> None:
    shown = db.shown(url)
    assert "Secret" not in shown
    assert "db.example/ledger" in shown


def test_a_url_without_password_is_recorded_as_given() -> None:
    url = "postgresql+psycopg://edi@db.example/ledger"
    assert home.without_password(url) == url
    assert not home.has_password(url)
