"""A partner reached over SFTP: its endpoint as the settings and its row describe it, the
partners so reached, and what a run's SFTP work reports. Fetching is reception's
(edi_engine/reception/pickup.py), uploading delivery's (edi_engine/delivery/uploads.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import sftp

from ..ledger.models import Partner
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ChannelReport:
    fetched: int = 0
    delivered: int = 0
    problems: list[str] = field(default_factory=list)  # one sentence per failure
    unreachable: set[str] = field(default_factory=set)  # partners not to be tried again now
    # remote entries not taken, one coded sentence each, left on the server (sftp_refusals)
    refused: list[str] = field(default_factory=list)
    # what each landing file was fetched as: its acknowledgement compares the server's
    # file with that, not with the bytes read (a server may announce any size)
    listed: dict[Path, sftp.RemoteFile] = field(default_factory=dict)

    def failed(self, code: str, exc: Exception, reachable: bool = False) -> None:
        if isinstance(exc, sftp.SftpError):
            self.problems.append(str(exc))
        else:  # a bug or an unusable setting: keep the traceback, spare the other partners
            log.exception("partner %s: SFTP channel failed unexpectedly", code)
            self.problems.append(
                f"partner {code}: SFTP channel failed: {type(exc).__name__}: {exc}"
            )
        if not reachable:
            self.unreachable.add(code)


def endpoint(settings: Settings, partner: Partner) -> sftp.SftpEndpoint:
    timing = settings.sftp
    return sftp.SftpEndpoint(
        connect_timeout=timing.connect_timeout,
        read_timeout=timing.read_timeout,
        retry_attempts=timing.retry_attempts,
        retry_backoff_seconds=timing.retry_backoff_seconds,
        max_file_bytes=settings.limits.max_file_bytes,
        partner=partner.code,
        host=partner.sftp_host,
        port=partner.sftp_port or 22,
        user=partner.sftp_user,
        key_file=Path(partner.sftp_key_file),
        known_hosts=Path(partner.known_hosts_file),
        remote_in=partner.remote_in,
        remote_out=partner.remote_out,
        remote_done=partner.remote_done,
        markers=bool(partner.markers),
    )


def sftp_partners(session: Session) -> list[Partner]:
    return list(
        session.scalars(select(Partner).where(Partner.channel == "sftp").order_by(Partner.code))
    )
