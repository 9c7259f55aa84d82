"""Partners: the EDI connections (fiches de raccordement), their folders and channels."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import clock, cron
from ..errors import InvalidPartnerCode, PartnerExists, RefusedError, UsageError
from ..ledger.models import Partner
from ..settings import RULE_SETS, Settings

# Recepteur/Emetteur Id of the pivot: 3 to 8 characters; no '_' (file names split on it)
CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,7}$")


class UnknownPartner(RefusedError):
    """No partner is registered with this code."""


@dataclass(frozen=True)
class SftpChannel:
    """Where a partner's flows are fetched from and its outputs pushed to.

    The private key stays in its file: the ledger keeps its path, never its content."""

    host: str | None = None
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    remote_in: str | None = None
    remote_out: str | None = None
    remote_done: str | None = None
    markers: bool | None = None

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


COLUMNS = {
    "host": "sftp_host",
    "port": "sftp_port",
    "user": "sftp_user",
    "key_file": "sftp_key_file",
    "known_hosts": "known_hosts_file",
    "remote_in": "remote_in",
    "remote_out": "remote_out",
    "remote_done": "remote_done",
    "markers": "markers",
}
REQUIRED = ("host", "user", "key_file", "known_hosts", "remote_in", "remote_out")
FLAGS = {"host": "--sftp-host", "user": "--sftp-user", "key_file": "--sftp-key",
         "known_hosts": "--known-hosts", "remote_in": "--remote-in", "remote_out": "--remote-out"}  # fmt: skip


def check_code(code: str) -> str:
    if not CODE.match(code):
        raise InvalidPartnerCode(
            f"Partner code {code!r} is invalid: use 3 to 8 capital letters, digits or '-' "
            "(it names folders and files, and is the pivot's Recepteur/Emetteur Id)."
        )
    return code


def get(session: Session, code: str) -> Partner:
    partner = session.get(Partner, code)
    if partner is None:
        raise UnknownPartner(f"No partner is registered with the code {code!r}.")
    return partner


def add(
    settings: Settings,
    session: Session,
    code: str,
    name: str,
    channel: SftpChannel | None = None,
    folders: bool = True,
    operator: bool = False,
) -> dict[str, Any]:
    """Register a partner and create its inbox and outbox; the caller commits."""
    check_code(code)
    if session.get(Partner, code) is not None:
        raise PartnerExists(f"Partner {code} is already registered.")
    partner = Partner(code=code, name=name.strip() or code, channel="local", created_at=clock.now())
    partner.markers = False
    partner.operator = operator
    if channel is not None and channel.given():
        _set_channel(partner, channel)
    session.add(partner)
    if folders:
        make_folders(settings, code)
    return describe(settings, partner)


def rule_sets(session: Session, code: str) -> tuple[str, ...] | None:
    """The partner's own business rule sets (`--rules`), None when it has the hub's."""
    partner = session.get(Partner, code)
    if partner is None or partner.rules is None:
        return None
    return _sets(partner.rules)


def _sets(stored: str) -> tuple[str, ...]:
    return tuple(name for name in stored.split(",") if name)


def parse_rules(given: str) -> str | None:
    """`--rules en16931,br_fr` as stored: "none" for no rule, "default" for the hub's."""
    names = [name.strip().lower() for name in given.split(",") if name.strip()]
    if names == ["default"]:
        return None
    if names == ["none"]:
        return ""
    unknown = [name for name in names if name not in RULE_SETS]
    if unknown or not names:
        raise UsageError(
            f"--rules {given!r}: give rule sets among {', '.join(RULE_SETS)} separated by "
            "commas, or none, or default (the hub's [rules])."
        )
    return ",".join(name for name in RULE_SETS if name in names)


# a quota fits the ledger's Integer column on every database
MOST = 1_000_000_000
COUNT = r"0*([0-9]{1,10})"  # ASCII digits, never so many that int() refuses them
RATE = re.compile(COUNT + r"\s*/\s*(?:second|s)")
DAILY = re.compile(COUNT)


def parse_rate(given: str) -> int | None:
    """`--api-rate 20/second` (or 20/s) as stored: requests per second; "default": none,
    the [api] rate_per_second."""
    text = given.strip().lower()
    if text == "default":
        return None
    match = RATE.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) <= MOST:
        raise UsageError(
            f"--api-rate {given!r}: give the requests per second as N/second (or N/s), N a "
            f"whole number from 1 to {MOST:,}, or default (the hub's [api] rate_per_second)."
        )
    return int(match.group(1))


def parse_daily(given: str) -> int | None:
    """`--api-daily 100000` as stored: requests per day; "default": none, the [api] daily."""
    text = given.strip().lower()
    if text == "default":
        return None
    match = DAILY.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) <= MOST:
        raise UsageError(
            f"--api-daily {given!r}: give the requests per day as a whole number from 1 to "
            f"{MOST:,}, or default (the hub's [api] daily)."
        )
    return int(match.group(1))


def quotas(settings: Settings, partner: Partner) -> tuple[int, int]:
    """The requests per second and per day each API client of the partner may make."""
    rate = partner.api_rate if partner.api_rate is not None else settings.api.rate_per_second
    daily = partner.api_daily if partner.api_daily is not None else settings.api.daily
    return rate, daily


def make_folders(settings: Settings, code: str) -> None:
    """inbox/CODE/ and outbox/CODE/; a caller that may still refuse makes them after its commit."""
    for folder in (settings.inbox / code, settings.outbox / code):
        folder.mkdir(parents=True, exist_ok=True)


def update(
    settings: Settings,
    session: Session,
    code: str,
    name: str | None,
    channel: SftpChannel,
    status_cron: str | None = None,
    active: bool | None = None,
    operator: bool | None = None,
    rules: str | None = None,
    api_rate: str | None = None,
    api_daily: str | None = None,
) -> dict[str, Any]:
    """Change a partner's name, SFTP channel, status schedule, whether it is active or an
    operator, its business rule sets (`parse_rules`), its API clients' quotas (`parse_rate`,
    `parse_daily`); what is not given stays as it was
    (an empty status schedule goes back to `[jobs] statuses_cron`). An inactive partner's
    deposits are not taken: they stay in its inbox (or on its server) and each run
    reports them. An operator deposits for any supplier, any other partner for its own
    (edi_engine/controls/depositors.py)."""
    partner = get(session, code)
    if rules is not None:
        partner.rules = parse_rules(rules)
    if api_rate is not None:
        partner.api_rate = parse_rate(api_rate)
    if api_daily is not None:
        partner.api_daily = parse_daily(api_daily)
    if active is not None:
        partner.active = active
    if operator is not None:
        partner.operator = operator
    if name is not None:
        partner.name = name.strip() or partner.name
    if status_cron is not None:
        reason = cron.problem(status_cron) if status_cron.strip() else None
        if reason:
            raise UsageError(f"Partner {code}: --status-cron {reason}.")
        partner.status_cron = " ".join(status_cron.split()) or None
    if channel.given():
        _set_channel(partner, channel)
    return describe(settings, partner)


def _set_channel(partner: Partner, channel: SftpChannel) -> None:
    for key, value in channel.given().items():
        if key in ("key_file", "known_hosts"):
            value = _readable_file(value, FLAGS[key])
        setattr(partner, COLUMNS[key], value)
    if partner.sftp_port is None:
        partner.sftp_port = 22
    missing = [FLAGS[k] for k in REQUIRED if getattr(partner, COLUMNS[k]) in (None, "")]
    if missing:
        raise UsageError(
            f"Partner {partner.code}: an SFTP channel needs {', '.join(missing)} as well."
        )
    if not 0 < partner.sftp_port < 65536:
        raise UsageError(f"Partner {partner.code}: --sftp-port {partner.sftp_port} is not a port.")
    inbound = posixpath.normpath(partner.remote_in)
    for flag, folder in (
        ("--remote-out", partner.remote_out),
        ("--remote-done", partner.remote_done),
    ):
        if folder and posixpath.normpath(folder) == inbound:
            # the hub would fetch back what it delivers, or what it has already taken
            raise UsageError(
                f"Partner {partner.code}: {flag} must differ from --remote-in ({folder})."
            )
    partner.channel = "sftp"


def _readable_file(value: str, flag: str) -> str:
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"{flag} {value}: no such file.")
    return str(path)


def describe(settings: Settings, partner: Partner) -> dict[str, Any]:
    """What an operator may see of a partner: paths and settings, never a secret."""
    rate, daily = quotas(settings, partner)
    described = {
        "code": partner.code,
        "name": partner.name,
        "channel": partner.channel,
        "active": partner.active is not False,  # a partner not yet flushed is active
        "inbox": str(settings.inbox / partner.code),
        "outbox": str(settings.outbox / partner.code),
        "created_at": clock.aware(partner.created_at).isoformat(),
        "status_cron": partner.status_cron or settings.jobs.statuses_cron,
        "operator": bool(partner.operator),  # deposits for any supplier
        # the business rule sets its invoices are checked against, and whether the hub's
        "rules": list(_sets(partner.rules) if partner.rules is not None else settings.rules.sets),
        "rules_own": partner.rules is not None,
        # its API clients' quotas, and whether they are its own or the hub's [api]
        "api_rate": rate,
        "api_rate_own": partner.api_rate is not None,
        "api_daily": daily,
        "api_daily_own": partner.api_daily is not None,
    }
    if partner.channel == "sftp":
        described["sftp"] = {key: getattr(partner, column) for key, column in COLUMNS.items()}
    described["certificates"] = [
        {
            "kind": c.kind,
            "fingerprint": c.fingerprint,
            "label": c.label,
            "not_after": clock.aware(c.not_after).isoformat() if c.not_after else None,
        }
        for c in partner.certificates
    ]
    described["suppliers"] = suppliers(partner)
    return described


def suppliers(partner: Partner) -> list[dict[str, str]]:
    """The suppliers a partner may deposit for (an operator: any, whatever is listed)."""
    return [
        {
            "identifier": s.identifier,
            "scheme": s.scheme,
            "added_at": clock.aware(s.added_at).isoformat(),
        }
        for s in partner.suppliers
    ]


def show(settings: Settings, session: Session, code: str) -> dict[str, Any]:
    return describe(settings, get(session, code))


def list_partners(settings: Settings, session: Session) -> list[dict[str, Any]]:
    query = select(Partner).options(selectinload(Partner.suppliers)).order_by(Partner.code)
    return [describe(settings, p) for p in session.scalars(query)]


def untouched(settings: Settings, session: Session, paths: list[Path]) -> list[str]:
    """What an operator is told of the inbox entries a run did not take: the folder of an
    inactive partner, when files wait in it, or an entry that belongs to no partner."""
    inactive = set(session.scalars(select(Partner.code).where(Partner.active.is_(False))))
    said = []
    for path in paths:
        if path.parent == settings.inbox and path.name in inactive:
            waiting = sum(1 for f in path.iterdir() if f.is_file()) if path.is_dir() else 0
            if waiting:
                said.append(
                    f"Left untouched: {waiting} file(s) in {path}: partner {path.name} is "
                    f"inactive (`edi-engine partners update {path.name} --active` takes them)."
                )
        elif path.parent.parent == settings.inbox:  # in a partner's own folder
            said.append(
                f"Left untouched: {path} is not a plain file (a link, a folder, a FIFO): "
                "only plain files are taken, and a link is never followed."
            )
        else:
            said.append(f"Left untouched: {path} belongs to no registered partner.")
    return said
