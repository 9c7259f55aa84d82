"""`edi-engine partners`: register partners, their SFTP channel, the suppliers they deposit
for and their certificates; check the certificates; print authorized_keys lines."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import settings
from ..controls import depositors
from ..ledger import db
from ..partners import api_clients, keyring
from ..partners import registry as partners
from .shared import (
    INPUT_FILE,
    EngineGroup,
    echo_json,
    echo_line,
    json_option,
    pass_settings,
    render,
    say,
)


@click.group("partners", cls=EngineGroup)
def group() -> None:
    """Register partners (EDI connections), their SFTP channel and certificates."""


def sftp_options(command: Callable) -> Callable:
    """The SFTP channel of a partner, shared by `partners add` and `partners update`."""
    options = [
        click.option("--sftp-host", help="SFTP server the partner's flows are fetched from."),
        click.option("--sftp-port", type=click.IntRange(1, 65535), help="Its port (default 22)."),
        click.option("--sftp-user", help="User name on that server."),
        click.option(
            "--sftp-key",
            type=click.Path(dir_okay=False),
            help="Private key file to log in with (its path is kept, never its content).",
        ),
        click.option(
            "--known-hosts",
            type=click.Path(dir_okay=False),
            help="known_hosts file holding the server's host key: no other key is accepted.",
        ),
        click.option("--remote-in", help="Remote folder the partner drops its flows in."),
        click.option("--remote-out", help="Remote folder the hub delivers CRs and pivots to."),
        click.option("--remote-done", help="Move taken files here instead of deleting them."),
        click.option(
            "--markers/--no-markers",
            default=None,
            help="Take a file only once its NAME.done marker exists.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _channel(values: dict[str, Any]) -> partners.SftpChannel:
    return partners.SftpChannel(
        host=values["sftp_host"],
        port=values["sftp_port"],
        user=values["sftp_user"],
        key_file=values["sftp_key"],
        known_hosts=values["known_hosts"],
        remote_in=values["remote_in"],
        remote_out=values["remote_out"],
        remote_done=values["remote_done"],
        markers=values["markers"],
    )


OPERATOR_HELP = "An operator deposits for any supplier, not only those tied to it."


@group.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The partner's name.")
@sftp_options
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of OpenSSH public keys or X.509 certificates (PEM or DER); repeatable.",
)
@click.option("--operator", is_flag=True, help=OPERATOR_HELP)
@pass_settings
def partners_add(
    loaded: settings.Settings,
    code: str,
    name: str,
    certs: tuple[Path, ...],
    operator: bool,
    **sftp: Any,
) -> None:
    """Register partner CODE and create inbox/CODE/ and outbox/CODE/ (SFTP options: its
    channel). It deposits for the suppliers `partners suppliers add` ties to it, unless it
    is an operator."""
    with db.session_scope(loaded.database_url) as session:
        added = partners.add(
            loaded, session, code, name, _channel(sftp), folders=False, operator=operator
        )
        for path in certs:
            keyring.add(session, code, path)
        session.commit()
    partners.make_folders(loaded, code)  # only for a partner that was registered
    if added["channel"] == "sftp":
        say(
            f"Partner {added['code']} registered; its flows are fetched from {added['sftp']['host']}."
        )
    else:
        say(f"Partner {added['code']} registered; it deposits in {added['inbox']}.")


@group.command("update")
@click.argument("code")
@click.option("--name", help="The partner's new name.")
@click.option(
    "--status-cron",
    help="When `run --daemon` sends this partner its status flows (cron, 5 fields, or 6 "
    "with seconds first); '' goes back to [jobs] statuses_cron.",
)
@click.option(
    "--active/--inactive",
    default=None,
    help="Take this partner's deposits again, or leave them in its inbox (reported).",
)
@click.option(
    "--operator/--no-operator",
    default=None,
    help=f"{OPERATOR_HELP} --no-operator: only its own again.",
)
@click.option(
    "--rules",
    metavar="SETS",
    help="The business rule sets its invoices are checked against: en16931, br_fr or both "
    "(comma-separated), none, or default (the hub's [rules]).",
)
@click.option(
    "--api-rate",
    metavar="N/second",
    help="Requests per second each of its API clients may make (N/second or N/s), or "
    "default (the hub's [api] rate_per_second).",
)
@click.option(
    "--api-daily",
    metavar="N",
    help="Requests per day each of its API clients may make, or default (the hub's [api] daily).",
)
@sftp_options
@pass_settings
def partners_update(
    loaded: settings.Settings,
    code: str,
    name: str | None,
    status_cron: str | None,
    active: bool | None,
    operator: bool | None,
    rules: str | None,
    api_rate: str | None,
    api_daily: str | None,
    **sftp: Any,
) -> None:
    """Change partner CODE's name, SFTP channel, status schedule, whether it is an operator,
    its business rule sets, its API quotas, or deactivate it (its deposits are then left
    where they are and reported); what is not given stays as it was."""
    with db.session_scope(loaded.database_url) as session:
        updated = partners.update(
            loaded, session, code, name, _channel(sftp), status_cron, active, operator, rules,
            api_rate, api_daily,
        )  # fmt: skip
        session.commit()
    state = "active" if updated["active"] else "inactive: its deposits are not taken"
    deposits = "any supplier" if updated["operator"] else "its own suppliers"
    checked = ", ".join(updated["rules"]) or "none"
    quotas = ""
    if api_rate is not None or api_daily is not None:
        quotas = f"; API {updated['api_rate']}/second, {updated['api_daily']} a day"
    say(
        f"Partner {updated['code']} updated (channel {updated['channel']}, {state}; "
        f"deposits for {deposits}; rules {checked}{quotas})."
    )


@group.command("show")
@click.argument("code")
@json_option
@pass_settings
def partners_show(loaded: settings.Settings, code: str, as_json: bool) -> None:
    """Show partner CODE: folders, channel and certificates (never a secret)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = partners.show(loaded, session, code)
    if as_json:
        echo_json(shown)
        return
    units = {"api_rate": "/second", "api_daily": " a day"}  # the API quotas
    rows = [
        {"field": k, "value": f"{v}{units[k]}" if k in units else v}
        for k, v in shown.items()
        if isinstance(v, str | int)  # a bool is an int
    ]
    rows += [{"field": f"sftp.{k}", "value": v} for k, v in shown.get("sftp", {}).items()]
    rows += [
        {"field": f"certificate {c['kind']}", "value": f"{c['fingerprint']} {c['label'] or ''}"}
        for c in shown["certificates"]
    ]
    rows += [
        {"field": f"supplier ({s['scheme']})", "value": s["identifier"]} for s in shown["suppliers"]
    ]
    if shown["operator"]:
        rows.append({"field": "deposits for", "value": "any supplier (operator)"})
    elif not shown["suppliers"]:
        rows.append({"field": "deposits for", "value": "no supplier (`partners suppliers add`)"})
    render(rows, ["field", "value"], False, title=f"Partner {code}")


@group.command("list")
@json_option
@pass_settings
def partners_list(loaded: settings.Settings, as_json: bool) -> None:
    """List partners."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = partners.list_partners(loaded, session)
    for row in rows if not as_json else ():
        row["suppliers"] = "any" if row["operator"] else len(row["suppliers"])
    columns = ["code", "name", "channel", "active", "operator", "suppliers", "inbox", "outbox"]
    render(rows, columns, as_json)


@group.group("suppliers", cls=EngineGroup)
def suppliers_group() -> None:
    """The suppliers a partner may deposit invoices and statuses for: by SIRET, or, for a
    supplier without one, its VAT number or another identifier (scheme other)."""


SCHEME_OPTION = click.option(
    "--scheme",
    type=click.Choice(depositors.SCHEMES),
    help="siret, vat or other; by default 14 digits are a SIRET, a country prefix and 2 to "
    "13 letters or digits a VAT number.",
)


@suppliers_group.command("add")
@click.argument("code")
@click.argument("identifiers", nargs=-1, required=True)
@SCHEME_OPTION
@pass_settings
def suppliers_add(
    loaded: settings.Settings, code: str, identifiers: tuple[str, ...], scheme: str | None
) -> None:
    """Let partner CODE deposit for the suppliers IDENTIFIERS (all or none is checked)."""
    checked = [depositors.checked(identifier, scheme) for identifier in identifiers]
    with db.session_scope(loaded.database_url) as session:
        done = depositors.add(session, code, checked)
        session.commit()
    _said_added(code, done)


def _said_added(code: str, done: dict[str, list[str]]) -> None:
    said = f"Partner {code} may deposit for {len(done['added'])} more supplier(s)"
    if done["added"]:
        said += f": {', '.join(done['added'])}"
    if done["already"]:
        said += f"; already tied: {', '.join(done['already'])}"
    say(said + ".")


@suppliers_group.command("import")
@click.argument("code")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def suppliers_import(loaded: settings.Settings, code: str, file: Path) -> None:
    """Let partner CODE deposit for the suppliers of a CSV with columns identifier and,
    optionally, scheme (siret, vat, other; empty: as `suppliers add` tells). A bad line
    refuses the file, naming it; nothing of it is imported."""
    with db.session_scope(loaded.database_url) as session:
        partners.get(session, code)
        done = depositors.add(session, code, depositors.read_csv(file))
        session.commit()
    _said_added(code, done)


@suppliers_group.command("remove")
@click.argument("code")
@click.argument("identifiers", nargs=-1, required=True)
@pass_settings
def suppliers_remove(loaded: settings.Settings, code: str, identifiers: tuple[str, ...]) -> None:
    """Stop partner CODE depositing for the suppliers IDENTIFIERS (one it is not tied to
    refuses the lot; its invoices already deposited stay as they are)."""
    with db.session_scope(loaded.database_url) as session:
        removed = depositors.remove(session, code, list(identifiers))
        session.commit()
    say(f"Partner {code} may no longer deposit for {', '.join(removed)}.")


@suppliers_group.command("list")
@click.argument("code")
@json_option
@pass_settings
def suppliers_list(loaded: settings.Settings, code: str, as_json: bool) -> None:
    """List the suppliers partner CODE may deposit for."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = partners.show(loaded, session, code)
    render(shown["suppliers"], ["identifier", "scheme", "added_at"], as_json)
    if shown["operator"] and not as_json:
        say(f"Partner {code} is an operator: it may deposit for any supplier.")


@group.group("cert", cls=EngineGroup)
def cert_group() -> None:
    """A partner's certificates: OpenSSH public keys and X.509 certificates."""


@cert_group.command("add")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_settings
def cert_add(loaded: settings.Settings, code: str, file: Path) -> None:
    """Register the keys or certificates of FILE for partner CODE (refused if another holds one)."""
    with db.session_scope(loaded.database_url) as session:
        added = keyring.add(session, code, file)
        session.commit()
    for row in added:
        say(
            f"Registered {row['kind']} {row['fingerprint']} ({row['label'] or row['algorithm']}) for {code}."
        )
    if not added:
        say(f"Every certificate of {file} was already registered for {code}.")


@cert_group.command("list")
@click.argument("code", required=False)
@json_option
@pass_settings
def cert_list(loaded: settings.Settings, code: str | None, as_json: bool) -> None:
    """List the certificates of every partner, or of partner CODE."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = keyring.list_certificates(session, code)
    render(rows, ["partner", "kind", "algorithm", "fingerprint", "label", "not_after"], as_json)


@group.command("check")
@click.option(
    "--days", type=click.IntRange(min=0), default=30, show_default=True, help="Expiry window."
)
@json_option
@pass_settings
def partners_check(loaded: settings.Settings, days: int, as_json: bool) -> None:
    """Report fingerprints held by several partners and certificates expiring soon (exit 1 if any)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        found = keyring.check(session, within_days=days)
    if as_json:
        echo_json(found)
    else:
        for duplicate in found["duplicates"]:  # one line each: a label cannot forge one
            echo_line(
                f"DUPLICATE {duplicate['fingerprint']} held by {', '.join(duplicate['partners'])}"
            )
        for cert in found["expiring"]:
            echo_line(
                f"EXPIRING {cert['partner']} {cert['fingerprint']} ({cert['label']}) on {cert['not_after']}"
            )
        if not found["duplicates"] and not found["expiring"]:
            say(f"No duplicate certificate, none expiring within {days} days.")
    if found["duplicates"] or found["expiring"]:
        sys.exit(1)


@group.command("authorized-keys")
@click.argument("code", required=False)
@click.option(
    "--root",
    default="/",
    show_default=True,
    help="The folder holding the partners' folders, as a partner sees it inside its chroot.",
)
@pass_settings
def partners_authorized_keys(loaded: settings.Settings, code: str | None, root: str) -> None:
    """Print restricted authorized_keys lines, one block per partner (docs/sftp-landing.md)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        click.echo(keyring.authorized_keys(session, code, root), nl=False)


@group.group("api-client", cls=EngineGroup)
def api_client_group() -> None:
    """A partner's API clients: the OAuth2 client credentials its software logs in to the
    API channel with (`edi-engine api serve`). A secret is shown once, and kept hashed."""


def _said_secret(client: api_clients.ApiClient, secret: str, as_json: bool) -> None:
    """A client's secret, printed once on stdout: the ledger keeps only its hash."""
    if as_json:
        shown = {"partner": client.partner_code, "client_id": client.client_id}
        shown["client_secret"] = secret
        if client.certificate_fingerprint:
            shown["certificate"] = client.certificate_fingerprint
        echo_json(shown)
    else:
        echo_line(f"client_id: {client.client_id}")
        echo_line(f"client_secret: {secret}")
    say(
        f"Keep the secret of {client.client_id} (partner {client.partner_code}) now: it will "
        "not be shown again, the hub keeps only its hash."
    )


@api_client_group.command("add")
@click.argument("code")
@click.option(
    "--certificate",
    metavar="FINGERPRINT",
    help="Tie the client to this registered certificate of the partner (its fingerprint, as "
    "`partners cert list` shows it): the client must then present it over TLS.",
)
@json_option
@pass_settings
def api_client_add(
    loaded: settings.Settings, code: str, certificate: str | None, as_json: bool
) -> None:
    """Create API client credentials for partner CODE and print its client_id and secret,
    once."""
    with db.session_scope(loaded.database_url) as session:
        client, secret = api_clients.add(session, code, certificate)
        session.commit()
    _said_secret(client, secret, as_json)


@api_client_group.command("list")
@click.argument("code", required=False)
@json_option
@pass_settings
def api_client_list(loaded: settings.Settings, code: str | None, as_json: bool) -> None:
    """List the API clients of every partner, or of partner CODE (never a secret)."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = api_clients.listed(session, code)
    columns = ["partner", "client_id", "created_at", "rotated_at", "revoked_at", "certificate"]
    render(rows, columns, as_json)


@api_client_group.command("rotate")
@click.argument("client_id")
@json_option
@pass_settings
def api_client_rotate(loaded: settings.Settings, client_id: str, as_json: bool) -> None:
    """Give API client CLIENT_ID a new secret, printed once; the old one and the tokens
    issued with it stop working."""
    with db.session_scope(loaded.database_url) as session:
        client, secret = api_clients.rotate(session, client_id)
        session.commit()
    _said_secret(client, secret, as_json)


@api_client_group.command("revoke")
@click.argument("client_id")
@pass_settings
def api_client_revoke(loaded: settings.Settings, client_id: str) -> None:
    """Revoke API client CLIENT_ID for good: its secret and its tokens stop working."""
    with db.session_scope(loaded.database_url) as session:
        client = api_clients.revoke(session, client_id)
        session.commit()
    say(
        f"API client {client.client_id} of partner {client.partner_code} is revoked: its "
        "secret and its tokens no longer work."
    )
