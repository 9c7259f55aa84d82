"""Everything the engine writes validates against the official Chorus Pro schemas."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample


def _facturx_pdf() -> bytes:
    import facturx
    from pypdf import PdfWriter

    blank = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(blank)
    return facturx.generate_from_binary(blank.getvalue(), sample("cii-invoice.xml"), check_xsd=True)


def test_every_output_of_a_busy_run_validates(
    home: Home,
    pivot_schemas: list[tuple[str, etree.XMLSchema]],
    statut_schemas: list[tuple[str, etree.XMLSchema]],
) -> None:
    """Against our schemas, and the official ones when ../shared is beside the clone."""
    for name in ("ubl-invoice.xml", "ubl-creditnote.xml", "ubl-inactive.xml", "xsd-invalid.xml"):
        home.drop(SUPPLIER_1, name, sample=name)
    for name in ("cii-invoice.xml", "pivot-multi.xml"):
        home.drop(SUPPLIER_2, name, sample=name)
    home.drop(SUPPLIER_1, "empty.xml", b"")
    home.run()

    written = sorted((home.path / "outbox").rglob("*.xml"))
    assert len(written) == 7 + 5  # a CR per flow, a pivot per accepted invoice
    for path in written:
        document = etree.parse(str(path))
        for schema_name, schema in (
            pivot_schemas if path.name.startswith("PIVOT_") else statut_schemas
        ):
            assert schema.validate(document), (path.name, schema_name, schema.error_log)
    assert not [p for p in (home.path / "outbox").rglob("*") if p.name.startswith(".")]


def test_facturx_pdf_is_read_and_travels_as_pj_01(home: Home) -> None:
    pdf = _facturx_pdf()
    home.drop(SUPPLIER_2, "facture.pdf", pdf)

    (flow,) = home.run()

    assert (flow["syntax"], flow["status"]) == ("IN_DP_E2_CII_FACTURX", "IN_INTEGRE")
    (name,) = home.outbox(RECIPIENT)
    unit = etree.parse(str(home.path / "outbox" / RECIPIENT / name)).find(
        ".//CPPFacturePivotUnitaire"
    )
    assert unit.findtext("DonneesFacture/Id") == "F02-2026-000501"
    (original,) = [pj for pj in unit.findall("PJ") if pj.findtext("TypePJ") == "01"]
    assert original.findtext("MimeTypePJ") == "application/pdf"
    assert base64.b64decode(original.findtext("Contenu")) == pdf


def test_pdf_without_embedded_invoice_is_rejected(home: Home) -> None:
    from pypdf import PdfWriter

    blank = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(blank)
    home.drop(SUPPLIER_2, "scan.pdf", blank.getvalue())

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    assert [e["code"] for e in home.show(flow["number"])["errors"]] == ["FACTURX_NO_XML"]


def _wait_until_watching(pid: int, seconds: float = 60) -> None:
    """Until the daemon has an inotify watch in place (Linux lists each in the fd's
    fdinfo): a fixed pause lost the race on a loaded machine, and the file then waited for
    the next full scan."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for info in Path(f"/proc/{pid}/fdinfo").glob("*"):
            try:
                if "inotify wd:" in info.read_text():
                    return
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"the daemon watched no inbox within {seconds} s of its start")


def test_daemon_takes_a_new_file_at_once_and_stops_on_sigterm(home: Home) -> None:
    env = {k: v for k, v in os.environ.items()}
    # a full scan only every 10 minutes, files settled after 30 s: only inotify can be this quick
    env["EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS"] = "600"
    env["EDI_ENGINE_PICKUP_STABLE_SECONDS"] = "30"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "cli", "--home", str(home.path), "run", "--daemon"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        _wait_until_watching(daemon.pid)
        home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
        # well under the 600 s scan: only inotify can take it in time, even on a loaded machine
        # where the first flow's schema loading alone can take seconds
        deadline = time.monotonic() + 120
        while not home.outbox(SUPPLIER_1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert home.outbox(SUPPLIER_1), "the daemon wrote no CR within 120 s of the file's arrival"
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert b"IN_INTEGRE" in out
