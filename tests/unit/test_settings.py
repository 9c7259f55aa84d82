"""Configuration precedence: environment, then the home's file, then the defaults."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

import config
from edi_engine import settings
from edi_engine.errors import ConfigurationError, HomeNotFound


@pytest.fixture(autouse=True)
def no_user_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)


def _home(tmp_path: Path, text: str) -> Path:
    (tmp_path / settings.CONFIG_FILE).write_text(text)
    return tmp_path


def test_shipped_configuration_states_exactly_the_defaults() -> None:
    with config.path(config.DEFAULT_CONFIG).open("rb") as handle:
        shipped = tomllib.load(handle)
    defaults = {name: dataclasses.asdict(cls()) for name, cls in settings.SECTIONS.items()}
    # TOML has no decimal type: decimal settings are written as strings
    for key in ("amount_tolerance", "vat_amount_tolerance"):
        shipped["controls"][key] = Decimal(shipped["controls"][key])
    assert shipped == defaults


@pytest.mark.parametrize("written", ['"0.05"', "0.05"])
def test_amount_tolerance_is_read_exactly_from_a_string_or_a_toml_float(
    tmp_path: Path, written: str
) -> None:
    loaded = settings.load(_home(tmp_path, f"[controls]\namount_tolerance = {written}\n"))
    assert loaded.controls.amount_tolerance == Decimal("0.05")


@pytest.mark.parametrize("written", ['"-0.01"', '"a cent"', '"NaN"'])
def test_a_negative_or_unreadable_tolerance_is_refused_naming_the_setting(
    tmp_path: Path, written: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"controls\.amount_tolerance"):
        settings.load(_home(tmp_path, f"[controls]\namount_tolerance = {written}\n"))


def test_file_overrides_defaults_and_environment_overrides_file(
    tmp_path: Path, monkeypatch
) -> None:
    home = _home(tmp_path, '[hub]\nid = "FILE01"\n[pickup]\nstable_seconds = 4\n')
    loaded = settings.load(home)
    assert (loaded.hub.id, loaded.pickup.stable_seconds, loaded.pickup.batch_size) == (
        "FILE01",
        4.0,
        200,
    )

    monkeypatch.setenv("EDI_ENGINE_HUB_ID", "ENV01")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")
    loaded = settings.load(home)
    assert (loaded.hub.id, loaded.processing.fsync) == ("ENV01", False)


def test_relative_sqlite_url_lives_in_the_home(tmp_path: Path) -> None:
    loaded = settings.load(_home(tmp_path, ""))
    assert loaded.database_url == f"sqlite:///{tmp_path}/ledger.db"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="stable_secs"):
        settings.load(_home(tmp_path, "[pickup]\nstable_secs = 1\n"))


def test_wrong_type_names_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_FILE_BYTES", "lots")
    with pytest.raises(ConfigurationError, match=r"limits\.max_file_bytes.*'lots'"):
        settings.load(_home(tmp_path, ""))


def test_invalid_toml_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        settings.load(_home(tmp_path, "[hub\n"))


def test_missing_home_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(HomeNotFound, match="edi-engine init"):
        settings.load(tmp_path)


@pytest.mark.parametrize("hub_id", ["AB", "TOOLONGID", "HUB_1"])
def test_hub_id_that_cannot_sign_a_pivot_is_refused_at_start(tmp_path: Path, hub_id: str) -> None:
    with pytest.raises(ConfigurationError, match=r"hub\.id"):
        settings.load(_home(tmp_path, f'[hub]\nid = "{hub_id}"\n'))


def test_batch_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"pickup\.batch_size"):
        settings.load(_home(tmp_path, "[pickup]\nbatch_size = 0\n"))


def test_an_unknown_time_zone_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"hub\.timezone 'Europe/Pariss'"):
        settings.load(_home(tmp_path, '[hub]\ntimezone = "Europe/Pariss"\n'))
