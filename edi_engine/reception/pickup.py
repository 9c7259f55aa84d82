"""Partners' SFTP servers, fetched: stable remote files are downloaded to
``landing/<PARTNER>/`` (complete, or not at all) and from there take the road of any inbox
file; the remote file is acknowledged only after its archive copy and ledger row are
committed (docs/architecture.md#data-safety). A landing file keeps the remote mtime, so a
file fetched again after a crash is recognised.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from connectors import sftp

from ..ledger.models import Partner
from ..partners.remote import ChannelReport, endpoint
from ..settings import Settings
from . import sftp_refusals

log = logging.getLogger(__name__)
LANDING = "landing"


def landing(settings: Settings, code: str) -> Path:
    return settings.home / LANDING / code


def fetch(settings: Settings, partners: Iterable[Partner], report: ChannelReport) -> None:
    """Download each partner's stable remote files; one partner's failure spares the others,
    one file's failure spares the other files (it is looked at again next time)."""
    for partner in partners:
        folder = landing(settings, partner.code)
        folder.mkdir(parents=True, exist_ok=True)
        sftp.sweep(folder)  # temporaries of a fetch that was killed (we hold the intake lock)
        refused = sftp_refusals.Fetch(partner.code)
        try:
            with sftp.SftpConnection(endpoint(settings, partner)) as connection:
                limit = settings.pickup.batch_size
                listed = connection.list_stable(settings.pickup.stable_seconds, limit)
                refused.listed(connection.refused)
                for remote in listed:
                    _fetch_one(connection, remote, folder, report, refused)
        except Exception as exc:  # reported, and the run goes on
            report.failed(partner.code, exc)
        report.refused += refused.told()


def _fetch_one(
    connection: sftp.SftpConnection,
    remote: sftp.RemoteFile,
    folder: Path,
    report: ChannelReport,
    refused: sftp_refusals.Fetch,
) -> None:
    """Only ever `folder / name` is written (a plain name: the connector checked it at
    listing and checks it again), and the file is left on the server when refused."""
    target = folder / remote.name
    if target.parent != folder or refused.refused_before(remote):
        return
    try:
        connection.download(remote, target)
    except sftp.RemoteFileTooLarge as exc:
        refused.refused_too_large(remote, exc.refusal)
        return
    except sftp.TransientSftpError:
        raise  # the connection is gone: stop with this partner
    except sftp.SftpError as exc:  # this file only (it changed after the listing, …)
        log.warning("%s", exc)
        return
    os.utime(target, (remote.mtime, remote.mtime), follow_symlinks=False)
    report.listed[target] = remote
    report.fetched += 1


def acknowledge(
    settings: Settings, partners: dict[str, Partner], landed: Iterable[Path], report: ChannelReport
) -> None:
    """Remove fetched files at their source, then their landing copy (after the commit).
    A failure leaves both: the file is fetched again and recognised as already recorded."""
    by_partner: dict[str, list[Path]] = {}
    for path in landed:
        by_partner.setdefault(path.parent.name, []).append(path)
    for code, paths in by_partner.items():
        try:
            with sftp.SftpConnection(endpoint(settings, partners[code])) as connection:
                for path in paths:
                    stat = path.stat()  # fetched by an earlier run: as it was written
                    here = sftp.RemoteFile(path.name, stat.st_size, int(stat.st_mtime))
                    connection.acknowledge(report.listed.get(path, here))
                    path.unlink()
        except Exception as exc:  # reported, and the run goes on
            report.failed(code, exc, reachable=True)


def is_landed(settings: Settings, path: Path) -> bool:
    return path.parent.parent == settings.home / LANDING
