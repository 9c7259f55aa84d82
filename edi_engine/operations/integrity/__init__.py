"""`edi-engine check`: the integrity of a home, read-only (docs/reliability.md).

Each module checks one thing and reports through `findings.Findings`, which hands every
problem to the caller's sink at once (nothing is gathered: a home of a million flows is
checked in bounded memory, its ledger read a page at a time and its folders walked with
`os.scandir`):
- `flows`: every archived original is there with its SHA-256; every flow is final or
  leased to a live worker;
- `outputs` and `outbox`: every output the ledger knows is on disk where its road says,
  with its recorded size and hash, and every output-named file in an outbox is known;
- `deliveries`: every accepted invoice has exactly one first delivery;
- `status_flows`: each partner's status flows are numbered with no gap or duplicate;
- `counters`: the monthly counters equal a recount of what the retention kept;
- `temporaries`: no temporary is left in the outbox or the engine's own folders.
`repair` writes again, with `--repair-outputs`, the outputs the ledger needs on disk and
misses, then the whole check runs again. The ledger is only read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ...settings import Settings
from . import (
    counters,
    deliveries,
    flows,
    outbox,
    outputs,
    purges,
    repair,
    status_flows,
    temporaries,
)
from .findings import Findings, Problem, Sink
from .repair import Repair

__all__ = ["Findings", "Outcome", "Problem", "Repair", "check"]


@dataclass
class Outcome:
    findings: Findings
    repaired: list[Repair] | None = None  # with --repair-outputs: each output missing

    @property
    def sound(self) -> bool:
        return self.findings.sound


def check(
    settings: Settings,
    session: Session,
    sink: Sink,
    repair_outputs: bool = False,
    on_repair: Callable[[Repair], None] | None = None,
) -> Outcome:
    """Check the home; each problem goes to `sink` as it is found. With `repair_outputs`,
    the missing outputs are written again first (each told to `on_repair`), and the
    check that follows says what is left."""
    repaired = None
    if repair_outputs:
        repaired = []
        for done in repair.missing_outputs(settings, session):
            repaired.append(done)
            if on_repair is not None:
                on_repair(done)
    found = Findings(sink)
    recount = counters.Recount(settings.zone)
    purged = purges.read(settings, session)
    flows.check(settings, session, found, recount)
    outputs.check(settings, session, found, recount)
    outbox.check(settings, session, found)
    deliveries.check(session, found)
    status_flows.check(settings, session, found, purged)
    counters.check(
        session,
        found,
        recount,
        counters.purged_inbound(session, settings.zone),
        counters.purged_outbound(purged, settings.zone),
    )
    temporaries.check(settings, session, found)
    return Outcome(found, repaired)
