"""One exception tree; the command maps it to exit codes (edi_engine/cli/shared.py,
EngineGroup; README.md#commands).

The class docstring is the default message. Errors from lxml, SQLAlchemy or the
file system are wrapped ``from exc`` where they arise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def code_of(exc: BaseException) -> str:
    """The short code of a refusal, in JSON answers: its exception's name in snake case
    (FlowNotFound: flow_not_found, click's UsageError: usage_error)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


class EngineError(Exception):
    """The engine failed."""

    exit_code = 3

    def __init__(self, message: str | None = None, lines: Sequence[str] = ()) -> None:
        """`lines`: details listed below the message, one a line (a CSV's bad rows); the
        message is one line, so that a value it quotes never writes a line of its own."""
        self.headline = message or (self.__doc__ or "").strip()
        self.lines = tuple(lines)
        self.message = "\n  ".join((self.headline, *self.lines))
        super().__init__(self.message)


class RefusedError(EngineError):
    """The request was refused by a rule."""

    exit_code = 1


class UsageError(EngineError):
    """The command was used in a way it cannot work."""

    exit_code = 2


class ConfigurationError(UsageError):
    """The configuration is invalid."""


class HomeNotFound(UsageError):
    """No edi-engine home here: run `edi-engine init DIR` or pass --home."""


class PartnerExists(RefusedError):
    """A partner with this code is already registered."""


class InvalidPartnerCode(UsageError):
    """A partner code has 3 to 8 characters: capital letters, digits or '-'."""


class ImportRefused(RefusedError):
    """The import file was refused; nothing was imported."""


class FlowNotFound(RefusedError):
    """No flow has this number."""


class DocumentInvalid(RefusedError):
    """The document is not valid."""


class StorageError(EngineError):
    """The archive or an output folder could not be written."""
