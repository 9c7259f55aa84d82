"""Cron schedules as operators write them: 5 fields, or 6 with seconds first (tests and
busy hubs), read into APScheduler triggers in the hub's time zone."""

from __future__ import annotations

from datetime import UTC, tzinfo

from apscheduler.triggers.cron import CronTrigger

FIELDS_5 = ("minute", "hour", "day", "month", "day_of_week")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's order: 0 is Sunday


def trigger(text: str, zone: tzinfo) -> CronTrigger:
    fields = text.split()
    names = FIELDS_5 if len(fields) == 5 else ("second", *FIELDS_5) if len(fields) == 6 else ()
    if not names:
        raise ValueError(f"a cron has 5 fields (or 6 with seconds first); found {text!r}")
    values = dict(zip(names, fields, strict=True))
    values["day_of_week"] = weekdays(values["day_of_week"])
    return CronTrigger(timezone=zone, **values)


def weekdays(field: str) -> str:
    """Cron counts weekdays from Sunday (0 or 7), APScheduler 3 from Monday (0): numbers
    are spelt out as day names, the one notation both read alike."""
    if field == "*" or not any(char.isdigit() for char in field):
        return field
    days = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            first, last = (_day_number(x) for x in span.split("-", 1))
        else:
            first = last = _day_number(span)
        if last < first:
            raise ValueError(f"the weekday range {span!r} goes backwards")
        days.update(n % 7 for n in range(first, last + 1, int(step) if step else 1))
    return ",".join(DAY_NAMES[n] for n in sorted(days))


def _day_number(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower()[:3] in DAY_NAMES:
        return DAY_NAMES.index(text.lower()[:3])
    raise ValueError(f"{text!r} is not a weekday (0-7, Sunday being 0 or 7, or a name)")


def problem(text: str) -> str | None:
    """Why `text` is not a schedule, or None."""
    try:
        trigger(text, UTC)
    except ValueError as exc:
        return f"{text!r} is not a cron schedule: {exc}"
    return None
