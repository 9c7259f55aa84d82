"""A partner receives only its own outputs and changes only the statuses of invoices of
the structures it serves, through local folders, end to end (issue 16, item 4).

One hub is built once for the module and taken through four runs: invoices of two
suppliers to two structures, each with its recipient and its accountant; then statuses
from every partner about every invoice, in one run; an operator's statuses, the suppliers'
status flows and a recycling; then Valbrune handed to another recipient and accountant.
After each step every file that appeared in a partner's outbox is checked to be that
partner's (its name, its envelope's recipient, and each invoice, status or flow it
concerns), and each refused status is checked to have changed nothing. The tests read
what the steps recorded. tests/integration/test_partner_boundaries_sftp.py proves the
same over SFTP; tests/e2e/test_partner_isolation.py that a refusal reveals nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

import config
from cli import main

from .conftest import (
    MONTCLAIR,
    SUPPLIER_1,
    SUPPLIER_1_SIRET,
    SUPPLIER_2,
    SUPPLIER_2_SIRET,
    VALBRUNE,
    Home,
)
from .test_acknowledgements import acknowledgement
from .test_controls import ubl
from .test_statuses_in import status, statut_flow

DEST_VALBRUNE, DEST_MONTCLAIR = "DEST01", "DEST02"
HELIOS_VALBRUNE, HELIOS_MONTCLAIR = "HELIOS", "HELIOS2"
PARTNERS = (
    SUPPLIER_1,
    SUPPLIER_2,
    DEST_VALBRUNE,
    DEST_MONTCLAIR,
    HELIOS_VALBRUNE,
    HELIOS_MONTCLAIR,
)
TO_VALBRUNE = "F01-2026-000101"  # FOUR01's ubl-invoice.xml
TO_MONTCLAIR = "F01-2026-000201"  # FOUR01's, to Montclair
FROM_FOUR02 = "F02-2026-000501"  # FOUR02's cii-invoice.xml, to Valbrune
RECIPIENT_CODES = ("04", "05", "06", "07", "08", "09", "10", "11")
WITH_REASON = {"04", "05", "06"}
WITH_MANDATE = {"08", "09"}
UNKNOWN = "STATUS_INVOICE_UNKNOWN"
NOT_YOURS = "STATUS_NOT_YOURS_TO_SET"


def structures_csv(folder: Path, valbrune: tuple[str, str], montclair: tuple[str, str]) -> Path:
    """Each structure's (recipient, accountant)."""
    path = folder / f"structures-{valbrune[0]}.csv"
    path.write_text(
        "siret,designation,active,partner,accountant\n"
        f"{VALBRUNE},Commune de Valbrune,true,{valbrune[0]},{valbrune[1]}\n"
        f"{MONTCLAIR},Centre hospitalier de Montclair,true,{montclair[0]},{montclair[1]}\n"
    )
    return path


def recipient_status(code: str, number: str, supplier: str = SUPPLIER_1_SIRET):
    """A status of `code` as its sender would write it: with its reason or its mandate."""
    return status(
        code,
        number,
        supplier,
        invoice_date=None,
        comment="Motif" if code in WITH_REASON else None,
        mandate=f"M-{code}" if code in WITH_MANDATE else None,
    )


@dataclass
class Step:
    """What one step left: the files that appeared in each outbox, the CR lines of each
    flow by (partner, file name), and who served which structure meanwhile."""

    served: dict[str, set[str]]
    new_files: dict[str, set[str]] = field(default_factory=dict)
    cr: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class World:
    home: Home
    steps: dict[str, Step]
    histories: dict[str, dict[str, list[tuple[str, str]]]]  # step -> number -> history
    invoice_ids: dict[str, int]
    flows_of: dict[str, set[str]]  # partner -> the flow numbers it deposited
    deposited_by: dict[str, set[str]]  # partner -> the invoice numbers of its flows


class Hub:
    """Drives the module's home and records what each step leaves in the outboxes."""

    def __init__(self, path: Path) -> None:
        self.runner = CliRunner()
        self.path = path
        self.listing: dict[str, set[str]] = {p: set() for p in PARTNERS}

    def __call__(self, *args: object, code: int = 0) -> Result:
        argv = ["--home", str(self.path), *map(str, args)]
        result = self.runner.invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result

    def _listing(self) -> dict[str, set[str]]:
        outbox = self.path / "outbox"
        return {p: {f.name for f in (outbox / p).iterdir()} for p in PARTNERS}

    def drop(self, partner: str, name: str, content: bytes) -> None:
        (self.path / "inbox" / partner / name).write_bytes(content)

    def new_files(self) -> dict[str, set[str]]:
        now = self._listing()
        new = {p: now[p] - self.listing[p] for p in PARTNERS}
        self.listing = now
        return new

    def run(self, step: Step) -> list[dict]:
        flows = json.loads(self("run", "--once", "--json").stdout)
        for flow in flows:
            partner, number = flow["partner"], flow["number"]
            cr = etree.parse(str(self.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
            step.cr[partner, flow["file_name"]] = [
                (line.findtext("CodeErreur"), line.findtext("LibelleErreur"))
                for line in cr.iter("LigneErreurDetail")
            ]
        return flows

    def histories(self) -> dict[str, list[tuple[str, str]]]:
        found = json.loads(self("invoices", "search", "--json").stdout)
        shown = [json.loads(self("invoices", "show", i["id"], "--json").stdout) for i in found]
        return {i["number"]: [(h["status_code"], h["actor"]) for h in i["history"]] for i in shown}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("boundaries")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("EDI_ENGINE_")]:
            env.delenv(name)
        env.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
        env.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")
        env.setenv("EDI_ENGINE_RULES_EN16931", "false")  # about partners, not the norm
        yield _build(folder)


def _build(folder: Path) -> World:
    CliRunner().invoke(main, ["init", str(folder / "home")], catch_exceptions=False)
    hub = Hub(folder / "home")
    for code in PARTNERS:
        hub("partners", "add", code, "--name", f"Partner {code}")
    hub("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
    hub("partners", "suppliers", "add", SUPPLIER_2, SUPPLIER_2_SIRET)
    steps: dict[str, Step] = {}
    histories: dict[str, dict[str, list[tuple[str, str]]]] = {}
    served = {DEST_VALBRUNE: {VALBRUNE}, DEST_MONTCLAIR: {MONTCLAIR}}
    hub("structures", "import", structures_csv(folder, (DEST_VALBRUNE, HELIOS_VALBRUNE),
                                               (DEST_MONTCLAIR, HELIOS_MONTCLAIR)))  # fmt: skip

    # 1. invoices: FOUR01's to Valbrune and to Montclair, FOUR02's to Valbrune
    step = steps["invoices"] = Step(served)
    hub.drop(SUPPLIER_1, "valbrune.xml", config.path("demo/ubl-invoice.xml").read_bytes())
    hub.drop(SUPPLIER_1, "montclair.xml", ubl(TO_MONTCLAIR, buyer=MONTCLAIR))
    hub.drop(SUPPLIER_2, "cii.xml", config.path("demo/cii-invoice.xml").read_bytes())
    flows = hub.run(step)
    assert [f["status"] for f in flows] == ["IN_INTEGRE"] * 3
    step.new_files = hub.new_files()
    ids = {i["number"]: i["id"] for i in json.loads(hub("invoices", "search", "--json").stdout)}
    histories["invoices"] = hub.histories()

    # 2. every partner's statuses about every invoice, in one run
    step = steps["statuses"] = Step(served)
    sent = {
        # the other structure's recipient, about Valbrune's invoice
        DEST_MONTCLAIR: [recipient_status("05", TO_VALBRUNE), recipient_status("07", TO_VALBRUNE)],
        # the other structure's accountant
        HELIOS_MONTCLAIR: [recipient_status("09", TO_VALBRUNE), status("11", invoice_date=None)],
        HELIOS_VALBRUNE: [recipient_status("09", TO_MONTCLAIR), status("10", invoice_date=None)],
        # a supplier about its own invoice: none of the recipient's statuses
        SUPPLIER_1: [recipient_status(code, TO_VALBRUNE) for code in RECIPIENT_CODES],
        # a supplier about another's invoice
        SUPPLIER_2: [status("12", TO_VALBRUNE, invoice_date=None)],
        # the recipients about their own: applied
        DEST_VALBRUNE: [recipient_status("07", TO_VALBRUNE)],
    }
    for partner, statuses in sent.items():
        hub.drop(partner, "statuts.xml", statut_flow(partner, *statuses))
    pivot = f"PIVOT_{DEST_VALBRUNE}_{_flow(flows, 'valbrune.xml')}_1.xml"
    hub.drop(DEST_MONTCLAIR, "ar.xml", acknowledgement(DEST_MONTCLAIR, "94", pivot))
    hub.drop(DEST_MONTCLAIR, "a-recycler.xml",
             statut_flow(DEST_MONTCLAIR, recipient_status("04", TO_MONTCLAIR)))  # fmt: skip
    hub.run(step)
    step.new_files = hub.new_files()
    histories["statuses"] = hub.histories()

    # 3. an operator's status, the suppliers' status flows, a recycling to Valbrune
    step = steps["operator"] = Step(served)
    hub("invoices", "set-status", ids[FROM_FOUR02], "SERVICE_FAIT")
    emitted = json.loads(hub("statuses", "emit", "--partner", DEST_VALBRUNE, "--json").stdout)
    assert emitted == []  # a recipient deposited no invoice: it is told no status
    hub("statuses", "emit")
    hub("invoices", "recycle", ids[TO_MONTCLAIR], "--siret", VALBRUNE)
    step.new_files = hub.new_files()
    histories["operator"] = hub.histories()

    # 4. Valbrune handed to Montclair's recipient and accountant; the old ones try again
    served = {DEST_VALBRUNE: set(), DEST_MONTCLAIR: {VALBRUNE, MONTCLAIR}}
    step = steps["handed over"] = Step(served)
    hub("structures", "import", structures_csv(folder, (DEST_MONTCLAIR, HELIOS_MONTCLAIR),
                                               (DEST_MONTCLAIR, HELIOS_MONTCLAIR)))  # fmt: skip
    sent = {
        DEST_VALBRUNE: [recipient_status("08", TO_VALBRUNE), recipient_status("07", TO_MONTCLAIR)],
        HELIOS_VALBRUNE: [recipient_status("09", FROM_FOUR02, SUPPLIER_2_SIRET)],
        HELIOS_MONTCLAIR: [status("11", FROM_FOUR02, supplier=SUPPLIER_2_SIRET, invoice_date=None)],
        DEST_MONTCLAIR: [recipient_status("08", TO_VALBRUNE)],
    }
    for partner, statuses in sent.items():
        hub.drop(partner, "statuts-2.xml", statut_flow(partner, *statuses))
    hub.run(step)
    step.new_files = hub.new_files()
    histories["handed over"] = hub.histories()

    flows = json.loads(hub("flows", "list", "--limit", "1000", "--json").stdout)
    invoices = json.loads(hub("invoices", "search", "--json").stdout)
    number_of_flow = {f["number"]: f["partner"] for f in flows}
    deposited: dict[str, set[str]] = {p: set() for p in PARTNERS}
    for row in invoices:
        deposited[number_of_flow[row["flow"]]].add(row["number"])
    flows_of = {p: {f["number"] for f in flows if f["partner"] == p} for p in PARTNERS}
    home = Home(hub.path, lambda *args, code=0: hub(*args, code=code))
    return World(home, steps, histories, ids, flows_of, deposited)


def _flow(flows: list[dict], file_name: str) -> str:
    return next(f["number"] for f in flows if f["file_name"] == file_name)


def codes(step: Step, partner: str, file_name: str = "statuts.xml") -> list[str]:
    return [code for code, _ in step.cr[partner, file_name]]


# -- outputs --------------------------------------------------------------------------


@pytest.mark.parametrize("step_name", ["invoices", "statuses", "operator", "handed over"])
def test_every_file_in_an_outbox_is_its_partners_own(world: World, step_name: str) -> None:
    """Its name and its envelope's recipient are the partner; a pivot carries invoices of
    structures it served then; a CR answers one of its flows; a status flow carries
    statuses of invoices it deposited."""
    step = world.steps[step_name]
    for partner, names in step.new_files.items():
        for name in names:
            root = etree.parse(str(world.home.path / "outbox" / partner / name)).getroot()
            kind = name.split("_", 1)[0]
            assert name.startswith(f"{kind}_{partner}_") and kind in {"CR", "PIVOT", "STATUT"}
            assert root.findtext(".//Partenaires/Recepteur/Id") == partner, name
            if kind == "PIVOT":
                debtors = set(root.xpath("//CPPFacturePivotUnitaire/Debiteur/Identifiant/text()"))
                assert debtors and debtors <= step.served[partner], (name, debtors)
            elif kind == "CR":
                assert name.removesuffix(".xml").split("_")[2] in world.flows_of[partner]
            else:
                numbers = set(root.xpath("//DonneesStatut/IdFacture/text()"))
                assert numbers and numbers <= world.deposited_by[partner], (name, numbers)


def test_each_partner_receives_exactly_what_is_its_own(world: World) -> None:
    """Beyond each file being its partner's: nothing is missing, nothing is extra."""

    def kinds(step: str) -> dict[str, list[str]]:
        found = world.steps[step].new_files
        return {p: sorted(n.split("_", 1)[0] for n in found[p]) for p in PARTNERS}

    assert kinds("invoices") == {
        SUPPLIER_1: ["CR", "CR"], SUPPLIER_2: ["CR"],
        DEST_VALBRUNE: ["PIVOT", "PIVOT"], DEST_MONTCLAIR: ["PIVOT"],
        HELIOS_VALBRUNE: [], HELIOS_MONTCLAIR: [],  # an accountant is sent no invoice
    }  # fmt: skip
    assert kinds("statuses") == {p: ["CR"] for p in PARTNERS} | {DEST_MONTCLAIR: ["CR"] * 3}
    # status flows to the two depositors only; the recycled pivot to Valbrune's recipient
    assert kinds("operator") == {p: [] for p in PARTNERS} | {
        SUPPLIER_1: ["STATUT"], SUPPLIER_2: ["STATUT"], DEST_VALBRUNE: ["PIVOT"],
    }  # fmt: skip
    statut = world.home.path / "outbox" / SUPPLIER_2 / "STATUT_FOUR02_1.xml"
    told = etree.parse(str(statut)).xpath("//DonneesStatut/IdStatut/text()")
    assert told == ["01", "02", "03", "07"]  # the operator's 07 on its invoice, to it alone


# -- statuses -------------------------------------------------------------------------


def test_a_recipient_changes_no_invoice_of_another_structure(world: World) -> None:
    step = world.steps["statuses"]
    assert codes(step, DEST_MONTCLAIR) == [UNKNOWN, UNKNOWN]
    assert codes(step, DEST_VALBRUNE) == ["STATUS_APPLIED"]
    assert codes(step, DEST_MONTCLAIR, "a-recycler.xml") == ["STATUS_APPLIED"]
    # nor does it acknowledge the other recipient's pivot
    assert codes(step, DEST_MONTCLAIR, "ar.xml") == ["STATUS_ACK_PIVOT_UNKNOWN"]
    before, after = world.histories["invoices"], world.histories["statuses"]
    assert after[TO_VALBRUNE] == [*before[TO_VALBRUNE], ("07", f"partner:{DEST_VALBRUNE}")]


def test_an_accountant_changes_only_invoices_of_structures_that_name_it(world: World) -> None:
    step = world.steps["statuses"]
    assert codes(step, HELIOS_MONTCLAIR) == [UNKNOWN, UNKNOWN]  # Valbrune's, not its
    # Valbrune's accountant knows Valbrune's invoice, but 10 is its recipient's
    assert codes(step, HELIOS_VALBRUNE) == [UNKNOWN, NOT_YOURS]
    before, after = world.histories["invoices"], world.histories["statuses"]
    assert after[FROM_FOUR02] == before[FROM_FOUR02]


def test_a_supplier_sets_none_of_its_recipients_statuses(world: World) -> None:
    step = world.steps["statuses"]
    assert codes(step, SUPPLIER_1) == [NOT_YOURS] * len(RECIPIENT_CODES)
    for _, text in step.cr[SUPPLIER_1, "statuts.xml"]:
        assert "seul le destinataire" in text, text
    assert codes(step, SUPPLIER_2) == [UNKNOWN]  # another supplier's invoice: unknown to it
    actors = {actor for history in world.histories["statuses"].values() for _, actor in history}
    assert not actors & {f"partner:{p}" for p in (SUPPLIER_1, SUPPLIER_2, HELIOS_MONTCLAIR)}


def test_a_recycled_invoice_and_a_structure_handed_over_change_who_may_set_statuses(
    world: World,
) -> None:
    """Montclair's invoice recycled to Valbrune, then Valbrune given to Montclair's
    recipient and accountant: the partners that served it before know its invoices no
    more; the one that serves it now sets their statuses."""
    step = world.steps["handed over"]
    assert codes(step, DEST_VALBRUNE, "statuts-2.xml") == [UNKNOWN, UNKNOWN]
    assert codes(step, HELIOS_VALBRUNE, "statuts-2.xml") == [UNKNOWN]
    assert codes(step, HELIOS_MONTCLAIR, "statuts-2.xml") == ["STATUS_APPLIED"]
    assert codes(step, DEST_MONTCLAIR, "statuts-2.xml") == ["STATUS_APPLIED"]
    before, after = world.histories["operator"], world.histories["handed over"]
    assert after[TO_MONTCLAIR] == before[TO_MONTCLAIR]
    assert after[TO_VALBRUNE][-1] == ("08", f"partner:{DEST_MONTCLAIR}")
    assert after[FROM_FOUR02][-1] == ("11", f"partner:{HELIOS_MONTCLAIR}")


# -- what an operator asks for one partner ----------------------------------------------


def test_the_clis_filters_by_partner_and_structure_keep_to_them(world: World) -> None:
    """What an operator extracts for one partner or one structure (to send it on, say)
    holds nothing of another."""
    home = world.home
    listed = json.loads(home.invoke("flows", "list", "--partner", DEST_MONTCLAIR, "--json").stdout)
    assert {f["number"] for f in listed} == world.flows_of[DEST_MONTCLAIR]
    assert {f["partner"] for f in listed} == {DEST_MONTCLAIR}
    found = json.loads(home.invoke("invoices", "search", "--siret", MONTCLAIR, "--json").stdout)
    assert found == []  # Montclair's one invoice was recycled to Valbrune
    found = json.loads(home.invoke("invoices", "search", "--siret", VALBRUNE, "--json").stdout)
    assert sorted(i["number"] for i in found) == sorted([TO_VALBRUNE, TO_MONTCLAIR, FROM_FOUR02])
    exported = home.invoke("invoices", "export", "--structure", MONTCLAIR).stdout
    assert exported.splitlines()[1:] == []
    world.home.invoke("statuses", "emit", "--partner", SUPPLIER_2)
    assert {p.name for p in (home.path / "outbox" / SUPPLIER_1).glob("STATUT_*")} == {
        "STATUT_FOUR01_1.xml"
    }  # FOUR01's changes since wait for its own emission
