"""One log line per event (issue 7): what happened to which flow, for which partner, with
what outcome. JSON lines when stderr is not a terminal (cron, systemd, a log shipper),
plain sentences on a terminal.

A message often quotes a partner's value (a file name, a member, an error naming one): a
sentence shows its hidden characters as escapes (display.escaped), so that no partner
writes a line of its own into the log or moves the terminal's cursor; a JSON line keeps
the value exact, written with JSON's escapes (display.json_safe)."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from . import clock, display

FIELDS = ("flow", "partner", "outcome", "job", "pid")  # `extra=` keys an event may carry
HANDLER_NAME = "edi-engine"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "at": clock.now().isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: getattr(record, key) for key in FIELDS if hasattr(record, key)})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return display.json_safe(json.dumps(line, ensure_ascii=False, default=str))


class Sentences(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"edi-engine: {display.escaped(record.getMessage())}"
        if record.exc_info:  # a traceback's lines are its own; what they quote is escaped
            text += "\n" + display.escaped_lines(self.formatException(record.exc_info))
        return text


def configure(level: int, stream: TextIO | None = None) -> None:
    """(Re)install the engine's one handler on the root logger, writing to `stream`."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(Sentences() if _is_terminal(stream) else JsonLines())
    root.addHandler(handler)
    root.setLevel(level)
    # paramiko's transport thread prints tracebacks for what connectors.sftp reports in a line
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
