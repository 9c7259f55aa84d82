"""`edi-engine validate`: the pipeline's own unpacking, identification and XSD check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import documents, validation
from .problems import FlowRejected, Problem
from .settings import LimitSettings


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "code": p.code,
        "message": p.message,
        "line": p.line,
        "path": p.path,
        "element": p.element,
        "document": p.document,
    }


def validate_file(path: Path, limits: LimitSettings, explain: bool = False) -> dict[str, Any]:
    """Syntax, validity and every error (line and path) of one file; never raises for bad input."""
    result: dict[str, Any] = {"file": str(path), "syntax": None, "valid": False, "errors": []}
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise FlowRejected(
                Problem(
                    "FILE_TOO_LARGE",
                    f"The file is {size} bytes, over the limit of {limits.max_file_bytes}.",
                )
            )
        unpacked = documents.unpacked(path.read_bytes(), path.name, limits)
    except OSError as exc:
        result["errors"] = [
            _problem(Problem("UNREADABLE", f"Cannot read the file: {exc.strerror or exc}."))
        ]
        return result
    except FlowRejected as rejected:
        result["errors"] = [_problem(p) for p in rejected.problems]
        return result
    result["syntax"] = unpacked.syntax
    result["container"] = unpacked.container.value
    problems = documents.all_problems(unpacked.documents)
    result["valid"] = not problems
    result["errors"] = [_problem(p) for p in problems]
    if explain:
        result["explanations"] = [
            reason
            for d in unpacked.documents
            if d.tree is not None and d.problems
            for reason in validation.explanations(d.tree)
        ]
    return result
