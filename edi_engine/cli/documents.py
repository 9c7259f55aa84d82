"""Files checked or converted, inside a home or outside one: validate (the XSD and the
official business rules) and convert (to the CPPFacturePivot)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import settings
from ..errors import UsageError
from ..operations import checking, conversion, rules_report
from ..partners import registry as partners
from .shared import INPUT_FILE, echo_json, echo_line, json_option, say, settings_or_defaults


@click.command()
@click.argument("files", nargs=-1, required=True, type=INPUT_FILE)
@click.option("--explain", is_flag=True, help="Add the reason xmlschema gives: what was expected.")
@click.option(
    "--rules",
    "with_rules",
    is_flag=True,
    help="Also run the official business rules ([rules]), even on a document the XSD refuses.",
)
@json_option
@click.pass_context
def validate(
    ctx: click.Context, files: tuple[Path, ...], explain: bool, with_rules: bool, as_json: bool
) -> None:
    """Say for each FILE its syntax, whether it is valid, and each error (exit 1 if any is invalid).

    The official business rules' findings are errors like the others (on a document the
    XSD accepts). With --rules, the XSD's verdict and the rules' are given apart, the rules
    run even on a document the XSD refuses; a rule the hub rejects on makes the file
    invalid (docs/errors.md#business-rules)."""
    loaded = settings_or_defaults(ctx)
    if with_rules:
        results = _validated_with_rules(loaded, files, explain, as_json)
    else:
        results = [checking.validate_file(path, loaded, explain) for path in files]
        if as_json:
            echo_json(results)
        else:
            for result in results:
                _print_validation(result)
    if not all(r["valid"] for r in results):
        sys.exit(1)


def _validated_with_rules(
    loaded: settings.Settings, files: tuple[Path, ...], explain: bool, as_json: bool
) -> list[dict[str, Any]]:
    sets, defaulted = rules_report.sets_in_force(loaded)
    if defaulted:
        say("No rule set is on in [rules]: the files are checked against en16931.")
    results = [rules_report.validate_file(path, loaded, sets, explain) for path in files]
    if as_json:
        echo_json(results)
    else:
        for result in results:
            _print_validation_with_rules(result)
    return results


def _print_validation(result: dict[str, Any]) -> None:
    verdict = "valid" if result["valid"] else "INVALID"
    echo_line(f"{result['file']}: {result['syntax'] or 'unknown syntax'}: {verdict}")
    _print_errors(result)


def _print_errors(result: dict[str, Any]) -> None:
    for error in result["errors"]:
        where = ", ".join(
            f"{k} {error[k]}" for k in ("document", "line", "path") if error.get(k) is not None
        )
        warning = "warning: " if error.get("severity") == "warning" else ""
        echo_line(f"  [{error['code']}] {warning}{where + ': ' if where else ''}{error['message']}")
    for reason in result.get("explanations", []):
        echo_line(f"  explain: {reason}")


def _print_validation_with_rules(result: dict[str, Any]) -> None:
    """The file's verdict, then the XSD's with its errors, then the rules' with theirs."""
    verdict = "valid" if result["valid"] else "INVALID"
    echo_line(f"{result['file']}: {result['syntax'] or 'unknown syntax'}: {verdict}")
    echo_line(f"  schema: {'valid' if result['schema_valid'] else 'INVALID'}")
    _print_errors(result)
    fatal = sum(1 for f in result["rules"] if f["flag"] == "fatal")
    counts = f" ({fatal} fatal, {len(result['rules']) - fatal} warning)" if result["rules"] else ""
    sets = ", ".join(result["rule_sets"])
    echo_line(f"  rules ({sets}): {'valid' if result['rules_valid'] else 'INVALID'}{counts}")
    for note in result["rules_notes"]:
        echo_line(f"  note: {note}")
    for finding in result["rules"]:
        where = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("document", finding.get("document")),
                ("line", finding["line"]),
                ("path", finding["location"]),
            )
            if value is not None
        )
        usual = "reject" if finding["flag"] == "fatal" else "warn"
        hub = "" if finding["severity"] == usual else f" (this hub: {finding['severity']})"
        head = f"  [{finding['id']}] {finding['flag']}{hub}"
        echo_line(
            f"{head}, {where}: {finding['message']}" if where else f"{head}: {finding['message']}"
        )


@click.command()
@click.argument("file", type=INPUT_FILE)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@click.option(
    "--partner", default="DEST", show_default=True, help="Recepteur/Id of the pivot envelope."
)
@click.pass_context
def convert(ctx: click.Context, file: Path, output: Path | None, partner: str) -> None:
    """Write the CPPFacturePivot of a UBL, CII, Factur-X or pivot FILE, or say why it cannot be."""
    loaded = settings_or_defaults(ctx)
    content, count = conversion.convert_file(file, loaded, partners.check_code(partner))
    if output is None:
        sys.stdout.buffer.write(content)
        return
    try:
        output.write_bytes(content)
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    say(f"Wrote {output} ({count} invoice(s)).")
