"""A database password never reaches edi-engine.toml, a message or a log line.

libpq takes it in the user part of the URL or as a `password` query parameter; both are
secrets (`init` records the URL, every message shows it).
"""

from __future__ import annotations

import pytest

from edi_engine.errors import ConfigurationError, UsageError
from edi_engine.ledger import db, home

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


@pytest.mark.parametrize(
    "password",
    ["LeftPart@RightPart", "LeftPart@host:RightPart"],
    ids=["an @ runs into the host", "an @ and a : run into the port"],
)
def test_a_password_that_breaks_the_url_is_refused_without_a_word_of_it(password: str) -> None:
    """An '@' or ':' of the password not written %40 or %3A makes the rest of it the host
    or the port, which messages show: such a URL is refused, quoting nothing of it."""
    url = f"postgresql+psycopg://edi:{password}@db.example:5432/ledger"
    with pytest.raises(ConfigurationError) as refused:
        db.read(url)
    with pytest.raises(UsageError) as recorded:
        home.without_password(url)  # init records nothing of it either
    for said in (refused.value.message, recorded.value.message, db.shown(url)):
        assert "LeftPart" not in said and "RightPart" not in said, said
    assert "%40" in refused.value.message and not home.has_password(url)
    escaped = url.replace("@RightPart", "%40RightPart").replace("@host:", "%40host%3A")
    assert db.shown(escaped) == "postgresql+psycopg://edi:***@db.example:5432/ledger"
