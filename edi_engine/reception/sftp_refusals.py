"""What an SFTP partner's server offers and the engine does not take: said once per run,
remembered by a daemon (docs/errors.md#sftp-pickup).

A refused entry (a name that is not a plain file name, an entry that is not a regular
file, a file over `limits.max_file_bytes`) stays on the partner's server, untouched: it
never left the partner's inbox, so it has no flow and no CR, and nothing of it is
archived. Each run names it in a coded sentence: logged, and in the run's report
(`ChannelReport.refused`), for the operator to take up with the partner. It is the
partner's to fix, like an unknown folder in the inbox: no failure of the engine (exit 0).

A daemon fetches every few seconds: in one process, a file refused as too large is not
read again while the listing shows it unchanged (the same size and mtime announced),
and a sentence already logged as a warning at the partner's last fetch is logged again
at debug level only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from connectors import sftp

log = logging.getLogger(__name__)


@dataclass
class Memory:
    """One process's memory of each partner's last fetch (bounded by what it refused)."""

    said: dict[str, set[str]] = field(default_factory=dict)
    too_large: dict[str, dict[str, tuple[sftp.RemoteFile, sftp.Refusal]]] = field(
        default_factory=dict
    )


MEMORY = Memory()


class Fetch:
    """One partner's refusals in one run."""

    def __init__(self, partner: str) -> None:
        self.partner = partner
        self.refusals = sftp.Refusals()
        self.too_large: dict[str, tuple[sftp.RemoteFile, sftp.Refusal]] = {}

    def listed(self, refusals: sftp.Refusals) -> None:
        """What the listing refused."""
        for refusal in refusals.kept:
            self.refusals.add(refusal)
        self.refusals.more += refusals.more

    def refused_before(self, remote: sftp.RemoteFile) -> bool:
        """True (and refused again) when ``remote`` is the file refused as too large at the
        last fetch, unchanged: it is not read again."""
        before = MEMORY.too_large.get(self.partner, {}).get(remote.name)
        if before is None or before[0] != remote:
            return False
        self.refused_too_large(remote, before[1])
        return True

    def refused_too_large(self, remote: sftp.RemoteFile, refusal: sftp.Refusal) -> None:
        self.too_large[remote.name] = (remote, refusal)
        self.refusals.add(refusal)

    def told(self) -> list[str]:
        """The run's sentences, each logged (a warning unless said at the last fetch)."""
        p = self.partner
        told = [refusal.said(p) for refusal in self.refusals.kept]
        if self.refusals.more:
            told.append(
                f"partner {p}: {self.refusals.more} more entries of its SFTP server are not "
                f"taken ({sftp.NAME_REFUSED} or {sftp.NOT_A_FILE}); they are left there"
            )
        before = MEMORY.said.get(p, set())
        for sentence in told:
            level = logging.DEBUG if sentence in before else logging.WARNING
            log.log(level, "%s", sentence, extra={"partner": p, "outcome": "not taken"})
        MEMORY.said[p] = set(told)
        MEMORY.too_large[p] = self.too_large
        return told
