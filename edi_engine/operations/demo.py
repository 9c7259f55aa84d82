"""`edi-engine demo`: a home with partners, structures and sample flows, run once.

Shows every outcome a user meets on the first day: integrated, partial, rejected
(XSD, inactive structure, duplicate flow) and an inbox folder of no known partner.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import config

from ..controls import depositors, structures
from ..errors import UsageError
from ..ledger import db, home
from ..partners import registry as partners
from ..processing import runner
from ..processing.runner import RunReport
from ..settings import Settings

MARKER = ".edi-engine-demo"
PARTNERS = {
    "FOUR01": "Papeteries Delorme SAS",
    "FOUR02": "Ateliers Numériques Garnier SARL",
    "DEST01": "Plateforme des collectivités de Valbrune (recipient system)",
}
DROPS = {
    "FOUR01": ["ubl-invoice.xml", "ubl-creditnote.xml", "ubl-inactive.xml", "xsd-invalid.xml"],
    "FOUR02": ["cii-invoice.xml", "pivot-multi.xml"],
}


def _fresh(directory: Path) -> Path:
    """A demo home is recreated on each run; any other non-empty folder is left alone."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise UsageError(
                f"{directory} is not empty and is not a previous demo home; choose another folder."
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("created by `edi-engine demo`; deleted by the next demo run\n")
    return directory


def prepare(directory: Path) -> Settings:
    settings, _ = home.init(_fresh(directory))
    with db.session_scope(settings.database_url) as session:
        for code, name in PARTNERS.items():
            partners.add(settings, session, code, name)
        for code in DROPS:  # each supplier's connection deposits for that supplier only
            suppliers = depositors.read_csv(config.path(f"demo/suppliers-{code}.csv"))
            depositors.add(session, code, suppliers)
        session.commit()
        structures.import_csv(session, config.path("demo/structures.csv"))
        structures.import_services(session, config.path("demo/services.csv"))
        structures.import_engagements(session, config.path("demo/engagements.csv"))
        session.commit()
    drop_samples(settings)
    return settings


def drop_samples(settings: Settings) -> None:
    for partner, names in DROPS.items():
        for name in names:
            shutil.copyfile(config.path(f"demo/{name}"), settings.inbox / partner / name)
    # the same content again under another name: recognised as a duplicate flow
    shutil.copyfile(config.path("demo/ubl-invoice.xml"), settings.inbox / "FOUR01" / "resent.xml")
    with zipfile.ZipFile(
        settings.inbox / "FOUR01" / "batch.zip", "w", zipfile.ZIP_DEFLATED
    ) as batch:
        for member in sorted(config.path("demo/batch").iterdir()):
            batch.write(member, member.name)
    stray = settings.inbox / "UNKNOWN"
    stray.mkdir(exist_ok=True)
    shutil.copyfile(config.path("demo/ubl-invoice.xml"), stray / "lost.xml")


def run(directory: Path) -> tuple[Settings, RunReport]:
    settings = prepare(directory)
    return settings, runner.run_once(settings)
