"""What `edi-engine check` finds: one problem per line, each saying what is wrong, where,
and how to mend it; and how many things of each category it looked at.

Problems are handed to a sink as they are found, never gathered: a home of a million
flows whose archive was wiped has a million problems, and the check still runs in
bounded memory (the command prints each at once, or writes it into its JSON)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# the kinds of problem, as `--json` names them (docs/reliability.md lists each)
ORIGINAL_MISSING = "original_missing"
ORIGINAL_ALTERED = "original_altered"
FLOW_STUCK = "flow_not_final"
OUTPUT_MISSING = "output_missing"
OUTPUT_ALTERED = "output_altered"
OUTPUT_UNKNOWN = "output_unknown"
FIRST_DELIVERY_MISSING = "first_delivery_missing"
FIRST_DELIVERY_TWICE = "first_delivery_twice"
STATUS_SEQUENCE_GAP = "status_sequence_gap"
STATUS_SEQUENCE_DUPLICATE = "status_sequence_duplicate"
STATUS_FLOW_UNWRITTEN = "status_flow_unwritten"
COUNTER_MISMATCH = "counter_mismatch"
TEMPORARY_LEFT = "temporary_left"


# what `checked` counts: every category, 0 when the home has none
CATEGORIES = (
    "flows",  # flows, each final or leased
    "originals",  # archived originals hashed (or, kept as their first bytes, measured)
    "outputs",  # outputs the ledger knows, each looked for where its road says
    "outputs_without_hash",  # of which recorded before the ledger kept hashes
    "outbox_files",  # output-named files found in partners' outboxes
    "invoices",  # accepted invoices, each with its first delivery
    "status_flows",  # status flows numbered
    "counter_months",  # months whose counters were compared with a recount
    "staging_folders",  # processes' staging folders
    "temporaries",  # temporaries found (a live writer's young ones are not problems)
)


@dataclass(frozen=True)
class Problem:
    """One problem: `kind` (above), `where` (a flow number, a path relative to the home, a
    partner, a counter's row), what is wrong and how to mend it. `flow`, `partner` and
    `path` repeat what `where` names, for scripts."""

    kind: str
    where: str
    message: str
    mend: str
    flow: str | None = None
    partner: str | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"kind": self.kind, "where": self.where, "message": self.message}
        found["mend"] = self.mend
        for key in ("flow", "partner", "path"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found

    def line(self) -> str:
        """The problem on one line (the caller escapes what a partner chose in it)."""
        return f"{self.kind}: {self.where}: {self.message} Mend: {self.mend}"


Sink = Callable[[Problem], None]


class Findings:
    """Where the checks report: each problem goes to the sink at once and is counted; the
    things looked at are counted per category (`checked` in the JSON)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.checked: Counter[str] = Counter(dict.fromkeys(CATEGORIES, 0))
        self.problems: Counter[str] = Counter()

    def add(self, problem: Problem) -> None:
        self.problems[problem.kind] += 1
        self._sink(problem)

    def count(self, category: str, how_many: int = 1) -> None:
        self.checked[category] += how_many

    @property
    def sound(self) -> bool:
        return not self.problems
