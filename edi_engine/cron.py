"""Cron schedules as operators write them: 5 fields, or 6 with seconds first (tests and
busy hubs), read into APScheduler triggers in the hub's time zone."""

from __future__ import annotations

from datetime import UTC, tzinfo

from apscheduler.triggers.cron import CronTrigger

FIELDS_5 = ("minute", "hour", "day", "month", "day_of_week")


def trigger(text: str, zone: tzinfo) -> CronTrigger:
    fields = text.split()
    names = FIELDS_5 if len(fields) == 5 else ("second", *FIELDS_5) if len(fields) == 6 else ()
    if not names:
        raise ValueError(f"a cron has 5 fields (or 6 with seconds first); found {text!r}")
    return CronTrigger(timezone=zone, **dict(zip(names, fields, strict=True)))


def problem(text: str) -> str | None:
    """Why `text` is not a schedule, or None."""
    try:
        trigger(text, UTC)
    except ValueError as exc:
        return f"{text!r} is not a cron schedule: {exc}"
    return None
