"""`edi-engine validate`: the pipeline's own unpacking, identification and XSD check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..controls.catalogue import graded
from ..ledger.states import Syntax
from ..problems import FlowRejected, Problem
from ..reception import documents, streaming, validation
from ..settings import Settings


def validate_file(path: Path, settings: Settings, explain: bool = False) -> dict[str, Any]:
    """Syntax, validity and every error (line and path) of one file; never raises for bad input."""
    result: dict[str, Any] = {"file": str(path), "syntax": None, "valid": False, "errors": []}
    try:
        size, limits = path.stat().st_size, settings.limits
        if size > limits.max_file_bytes:
            message = f"The file is {size} bytes, over the limit of {limits.max_file_bytes}."
            raise FlowRejected(Problem("FILE_TOO_LARGE", message))
        if streaming.applies(path, size, limits):
            problems = streaming.check(path, path.name, limits)  # in bounded memory
            result.update(syntax=Syntax.PIVOT, valid=not problems)
            result["errors"] = [p.as_dict() for p in problems]
            return result
        unpacked = documents.unpacked(path, path.name, settings)
        found = list(unpacked.documents)
    except OSError as exc:
        problem = Problem("UNREADABLE", f"Cannot read the file: {exc.strerror or exc}.")
        result["errors"] = [problem.as_dict()]
        return result
    except FlowRejected as rejected:
        result["errors"] = [p.as_dict() for p in rejected.problems]
        return result
    result["syntax"] = documents.combined_syntax(d.syntax for d in found)
    result["container"] = unpacked.container.value
    problems = documents.all_problems(found)
    # the official business rules' findings, as the hub set their severity (as `run`)
    ruled = graded([f for d in found for f in d.findings], settings.controls.severity)
    result["valid"] = not problems and not any(p.rejects for p in ruled)
    result["errors"] = [p.as_dict() for p in [*problems, *ruled]]
    if explain:
        result["explanations"] = [
            reason
            for d in found
            if d.tree is not None and d.problems
            for reason in validation.explanations(d.tree, settings.cii_schema)
        ]
    return result
