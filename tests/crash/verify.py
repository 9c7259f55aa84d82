"""What must hold once the harness's work is done, however often the engine was killed
(docs/architecture.md#data-safety), judged from what the partners deposited and what
their systems received, the ledger only where a partner would read its CRs:

- every file deposited is one flow, in the state its content calls for, never
  IN_INCIDENTE; no flow that nobody deposited;
- every accepted invoice is in exactly one pivot, received by the recipient of its
  structure, and no other invoice in any; every pivot the ledger published received;
- every flow's CR received by its depositor; every status flow the ledger wrote
  received by its supplier, and each change of each invoice (01, 02, 03, and the
  recipient's 07) in exactly one of them; an invoice refused at reception in none;
- every 07 a recipient sent applied once; nothing left in inboxes, on servers, staged;
- every partner receives each file exactly once, through a local folder or over SFTP (an
  upload killed after its remote rename and before the ledger recorded it is recorded by
  the next run, never made again);
- `edi-engine check --json` finds the home sound.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .flows import SERVICE_FAIT, read_pivot, read_statuses
from .harness import FINAL, REPO, Harness

TOLD_ON_DELIVERY = ("01", "02", "03")  # what every delivered invoice's supplier is told
MADE_AVAILABLE = ("MISE_A_DISPOSITION", "SERVICE_FAIT")
SHOWN = 12  # problems shown of each kind, the others counted


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    figures: Counter = field(default_factory=Counter)
    check: str = "not run"

    @property
    def sound(self) -> bool:
        return not self.problems


def verify(h: Harness) -> Verdict:
    verdict = Verdict(problems=list(h.tally.problems))
    left = h.pending()
    if left:
        verdict.problems.append(f"work left undone: {', '.join(left)}")
    _flows(h, verdict)
    accepted = _invoices(h, verdict)
    _pivots(h, verdict, accepted)
    _reports(h, verdict)
    applied = _recipients_statuses(h, verdict)
    _status_flows(h, verdict, applied)
    _check(h, verdict)
    return verdict


def _flows(h: Harness, verdict: Verdict) -> None:
    rows = h.ledger("select partner_code, file_name, number, status, id from flows")
    by_file: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for partner, name, number, status, flow_id in rows:
        by_file[(partner, name)].append((number, status, flow_id))
    problems: list[str] = []
    for key, dropped in h.dropped.items():
        found = by_file.pop(key, [])
        where = f"{key[0]}/{key[1]} ({dropped.kind})"
        if len(found) != 1:
            problems.append(f"{where} is {len(found)} flows: {[n for n, _, _ in found]}")
            continue
        number, status, flow_id = found[0]
        expected = dropped.outcome
        if status == "IN_INCIDENTE" or (expected and status != expected) or status not in FINAL:
            codes = h.ledger("select code from flow_errors where flow_id = :i", i=flow_id)
            shown = ", ".join(sorted({code for (code,) in codes})) or "no finding"
            problems.append(f"{where}: flow {number} {status}, not {expected or 'final'} ({shown})")
    for (partner, name), found in by_file.items():
        problems.append(f"flow(s) {[n for n, _, _ in found]} of {partner}/{name}: no one sent it")
    verdict.figures["flows"] = len(rows)
    _add(verdict, "flows", problems)


def _invoices(h: Harness, verdict: Verdict) -> dict[str, str]:
    """By accepted invoice number, its depositor; checks the ledger delivered them all."""
    accepted = {n: d.partner for d in h.dropped.values() for n in d.accepted}
    refused = {n for d in h.dropped.values() for n in d.refused}
    rows = h.ledger("select number, status, pivot_file from invoices")
    delivered = Counter(number for number, _, pivot in rows if pivot is not None)
    problems = [
        f"invoice {number} recorded delivered {times} times" for number, times in delivered.items()
        if times > 1
    ]  # fmt: skip
    problems += [f"invoice {n} never delivered" for n in sorted(set(accepted) - set(delivered))]
    problems += [f"invoice {n} delivered, not sent to be" for n in set(delivered) - set(accepted)]
    for number, status, pivot in rows:
        if pivot is not None and status not in MADE_AVAILABLE:
            problems.append(f"invoice {number} delivered, left {status}")
        if number in refused and status != "REFUSEE_RECEPTION":
            problems.append(f"invoice {number}, to an inactive structure, is {status}")
    verdict.figures["invoices accepted"] = len(accepted)
    verdict.figures["invoices refused at reception"] = len(refused)
    _add(verdict, "invoices", problems)
    return accepted


def _pivots(h: Harness, verdict: Verdict, accepted: dict[str, str]) -> None:
    problems: list[str] = []
    places: dict[str, list[str]] = defaultdict(list)
    published = defaultdict(set)
    for partner, name in h.ledger(
        "select partner_code, file_name from outputs where kind = 'PIVOT'"
    ):
        published[partner].add(name)
    for recipient in h.recipients:
        files = _received(h, recipient, "PIVOT_", problems)
        for name, path in files.items():
            for invoice in read_pivot(path.read_bytes()):
                places[invoice.number].append(f"{recipient}/{name}")
                if h.recipient_of(invoice.debiteur) != recipient:
                    problems.append(f"{recipient} received {invoice.number}, to {invoice.debiteur}")
        missing = sorted(published[recipient] - set(files))
        if missing:
            problems.append(f"{recipient}: pivots published, never received: {missing[:5]}")
        unknown = sorted(set(files) - published[recipient])
        if unknown:
            problems.append(f"{recipient}: pivots received, never published: {unknown[:5]}")
    for number in accepted:
        if len(places.get(number, [])) != 1:
            problems.append(f"invoice {number} received in {places.get(number, [])}, not one pivot")
    problems += [f"invoice {n} received, never to be: {p}" for n, p in places.items()
                 if n not in accepted]  # fmt: skip
    verdict.figures["pivots received"] = sum(len(p) for p in published.values())
    _add(verdict, "pivots", problems)


def _reports(h: Harness, verdict: Verdict) -> None:
    """Each flow's CR, received by its depositor."""
    problems: list[str] = []
    expected = defaultdict(set)
    for partner, number in h.ledger("select partner_code, number from flows"):
        expected[partner].add(f"CR_{partner}_{number}.xml")
    for partner in sorted({*h.recipients, *h.suppliers_codes}):
        got = set(_received(h, partner, "CR_", problems))
        if got != expected[partner]:
            problems.append(
                f"{partner}: CRs never received {sorted(expected[partner] - got)[:5]}, "
                f"received for no flow {sorted(got - expected[partner])[:5]}"
            )
        verdict.figures["CRs received"] += len(got)
    _add(verdict, "CRs", problems)


def _recipients_statuses(h: Harness, verdict: Verdict) -> set[str]:
    """The invoices whose 07 was applied, each once, and every 07 the recipients meant."""
    rows = h.ledger(
        "select i.number, count(*) from invoice_events e join invoices i on i.id = e.invoice_id "
        "where e.status_code = :code group by i.number",
        code=SERVICE_FAIT,
    )
    applied = {number for number, _ in rows}
    problems = [f"07 applied {times} times to {number}" for number, times in rows if times != 1]
    for number in sorted(set(h.planned) - applied):
        refused = dict(h.tally.refusals)
        problems.append(f"{number}: its recipient's 07, sent {h.sends[number]} times, never "
                        f"applied (refusals seen: {refused})")  # fmt: skip
    problems += [f"07 applied to {n}, never sent" for n in sorted(applied - set(h.planned))]
    verdict.figures["statuses 07 applied"] = len(applied)
    verdict.figures["statuses 07 sent again"] = sum(h.sends.values()) - len(h.sends)
    _add(verdict, "recipients' statuses", problems)
    return applied


def _status_flows(h: Harness, verdict: Verdict, applied: set[str]) -> None:
    problems: list[str] = []
    written = defaultdict(set)
    for partner, name, at in h.ledger(
        "select partner_code, file_name, written_at from status_flows"
    ):
        if at is None:
            problems.append(f"status flow {name} numbered, never written")
        written[partner].add(name)
    for supplier in h.suppliers_codes:
        files = _received(h, supplier, "STATUT_", problems)
        if set(files) != written[supplier]:
            problems.append(
                f"{supplier}: status flows written, never received "
                f"{sorted(written[supplier] - set(files))[:5]}; received, never written "
                f"{sorted(set(files) - written[supplier])[:5]}"
            )
        told = Counter(pair for path in files.values() for pair in read_statuses(path.read_bytes()))
        expected = Counter()
        for dropped in h.dropped.values():
            if dropped.partner != supplier:
                continue
            for number in dropped.accepted:
                expected.update((number, code) for code in TOLD_ON_DELIVERY)
                if number in applied:
                    expected[(number, SERVICE_FAIT)] += 1
        untold, twice = expected - told, told - expected
        problems += [f"{supplier} never told {n} {code}" for n, code in sorted(untold)]
        problems += [f"{supplier} told {n} {code} once too often" for n, code in sorted(twice)]
        verdict.figures["status flows received"] += len(files)
        verdict.figures["changes told to suppliers"] += sum(told.values())
    _add(verdict, "status flows", problems)


def _received(h: Harness, partner: str, prefix: str, problems: list[str]) -> dict[str, Path]:
    """The files named `prefix…` that `partner` received, by name, one copy each: each
    received once, whatever its channel."""
    folder = h.received / partner
    copies: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = path.name.rsplit(".", 1)[0]
        if name.startswith(prefix):
            copies[name].append(path)
    for name, paths in copies.items():
        if len(paths) == 1:
            continue
        same = len({hashlib.sha256(p.read_bytes()).digest() for p in paths}) == 1
        kind = "the same bytes" if same else "different bytes"
        problems.append(f"{partner} received {name} {len(paths)} times ({kind})")
    return {name: paths[0] for name, paths in copies.items()}


def _check(h: Harness, verdict: Verdict) -> None:
    """`edi-engine check --json` on the home: sound, exit 0."""
    from cli import main

    if "check" not in main.commands:  # type: ignore[attr-defined]
        verdict.check = "not available: this engine has no `edi-engine check` yet"
        return
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(h.home), "check", "--json"],
        cwd=REPO, env=h.env, capture_output=True, text=True,
    )  # fmt: skip
    try:
        sound = json.loads(done.stdout).get("sound")
    except (json.JSONDecodeError, AttributeError):
        sound = None
    if done.returncode == 0 and sound is True:
        verdict.check = "sound (exit 0)"
        return
    verdict.check = f"NOT sound (exit {done.returncode})"
    said = (done.stdout.strip() or done.stderr.strip())[:3000]
    verdict.problems.append(f"edi-engine check --json exited {done.returncode}: {said}")


def _add(verdict: Verdict, what: str, problems: list[str]) -> None:
    verdict.problems += problems[:SHOWN]
    if len(problems) > SHOWN:
        verdict.problems.append(f"… and {len(problems) - SHOWN} more problems of {what}")


def summary(h: Harness, verdict: Verdict, seconds: float) -> list[str]:
    """What was done and found, for a person: the test's failure message, the soak's end."""
    tally = h.tally
    kills = ", ".join(f"{point} {n}" for point, n in sorted(tally.kills.items())) or "none"
    missed = ", ".join(f"{point} {n}" for point, n in sorted(tally.missed.items())) or "none"
    exits = ", ".join(f"{mode} {code}: {n}" for (mode, code), n in sorted(tally.exits.items()))
    lines = [
        f"seed {h.plan.seed}, {seconds / 60:.1f} min, ledger "
        f"{'PostgreSQL' if h.plan.database_url else 'SQLite'}, --workers {h.plan.workers}, "
        f"SFTP {'on' if h.server else 'off'}, home {h.home}",
        "files deposited: " + ", ".join(f"{kind} {n}" for kind, n in sorted(tally.dropped.items())),
        *(f"{what}: {n}" for what, n in verdict.figures.items()),
        f"engine processes: {sum(tally.rounds.values())} "
        f"({', '.join(f'{m} {n}' for m, n in sorted(tally.rounds.items()))}; "
        f"{tally.pairs} rounds beside a daemon)",
        f"kills: {sum(tally.kills.values())} ({kills}); the process ended first: {missed}",
        f"exits (mode code: times): {exits}",
        f"recipients' statuses refused then sent again: {dict(tally.refusals) or 'none'}",
        f"edi-engine check: {verdict.check}",
        f"verdict: {'SOUND' if verdict.sound else f'{len(verdict.problems)} PROBLEM(S)'}",
        *(f"  - {problem}" for problem in verdict.problems),
    ]
    return lines
