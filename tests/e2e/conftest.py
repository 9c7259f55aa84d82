"""End-to-end fixtures: a real home on disk driven through the CLI."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import config
from cli import main
from edi_engine import settings
from edi_engine.ledger import db

SUPPLIER_1 = "FOUR01"
SUPPLIER_2 = "FOUR02"
RECIPIENT = "DEST01"
VALBRUNE = "21990101400015"  # active
MONTCLAIR = "26990202900017"  # active
HAUT_VERNAY = "25990303700010"  # inactive
SUPPLIER_1_SIRET = "81234567600025"  # Papeteries Delorme SAS, the supplier FOUR01 deposits for
SUPPLIER_2_SIRET = "82345678500018"  # Ateliers Numériques Garnier SARL, FOUR02's


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a user's EDI_ENGINE_* settings; files are taken at once."""
    import os

    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")


@pytest.fixture
def rules_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """EN 16931's rules off: for the tests of the hub's own controls and conversions, whose
    invoices break the norm on purpose (a total off by a cent, an attachment type the norm
    does not list, a supplier without a VAT number); tests/e2e/test_rules.py runs both."""
    monkeypatch.setenv("EDI_ENGINE_RULES_EN16931", "false")


@dataclass
class Home:
    path: Path
    invoke: Callable[..., Result]

    def drop(
        self, partner: str, name: str, content: bytes | None = None, sample: str | None = None
    ) -> Path:
        target = self.path / "inbox" / partner / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if sample is not None:
            shutil.copyfile(config.path(f"demo/{sample}"), target)
        else:
            target.write_bytes(content or b"")
        return target

    def run(self) -> list[dict]:
        return json.loads(self.invoke("run", "--once", "--json").stdout)

    def show(self, number: str) -> dict:
        return json.loads(self.invoke("flows", "show", number, "--json").stdout)

    def outbox(self, partner: str) -> list[str]:
        folder = self.path / "outbox" / partner
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def sample(name: str) -> bytes:
    return config.path(f"demo/{name}").read_bytes()


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, code: int | None = 0) -> Result:
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    return invoke


# a new home as `init` makes it, by the EDI_ENGINE_* settings it was made under
_INITIALISED: dict[tuple[tuple[str, str], ...], Path] = {}
_OUTSIDE_THE_HOME = ("EDI_ENGINE_DATABASE_", "EDI_ENGINE_PATHS_", "EDI_ENGINE_HOME")


def _init(path: Path, run_cli: Callable[..., Result], factory: pytest.TempPathFactory) -> None:
    """`edi-engine init PATH`. What init makes is the same under the same settings (the
    default edi-engine.toml, empty folders, a migrated ledger with no row dated or drawn),
    so it is made once per settings and copied: its migrations cost 0.15 s, over 500
    tests. Run as such where it could write outside the home (a database URL, folders of
    its own elsewhere) or complete a folder already there."""
    given = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("EDI_ENGINE_")))
    if path.exists() or any(name.startswith(_OUTSIDE_THE_HOME) for name, _ in given):
        run_cli("init", path)
        return
    made = _INITIALISED.get(given)
    if made is None:
        made = factory.mktemp("initialised") / "home"
        run_cli("init", made)
        # its connections closed: the ledger whole in ledger.db, as after a process
        db.engine_for(settings.load(made).database_url).dispose()
        _INITIALISED[given] = made
    shutil.copytree(made, path, symlinks=True)


@pytest.fixture
def bare_home(
    tmp_path: Path, run_cli: Callable[..., Result], tmp_path_factory: pytest.TempPathFactory
) -> Home:
    path = tmp_path / "home"
    _init(path, run_cli, tmp_path_factory)

    def invoke(*args: str, code: int | None = 0) -> Result:
        return run_cli("--home", path, *args, code=code)

    return Home(path, invoke)


@pytest.fixture
def home(bare_home: Home) -> Home:
    """A home with the demo's partners, each supplier's connection tied to its own SIRET
    (as the demo does), and the demo's structures."""
    bare_home.invoke("partners", "add", SUPPLIER_1, "--name", "Papeteries Delorme SAS")
    bare_home.invoke("partners", "add", SUPPLIER_2, "--name", "Ateliers Numériques Garnier SARL")
    bare_home.invoke("partners", "add", RECIPIENT, "--name", "Recipient system")
    bare_home.invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
    bare_home.invoke("partners", "suppliers", "add", SUPPLIER_2, SUPPLIER_2_SIRET)
    bare_home.invoke("structures", "import", config.path("demo/structures.csv"))
    return bare_home


@pytest.fixture
def serve(home: Home, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """A real `edi-engine api serve` over `home` (tests/e2e/api_server.py)."""
    from .api_server import serving

    yield from serving(home, tmp_path)
