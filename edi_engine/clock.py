"""The engine's notion of now: timezone-aware UTC, in one place so tests can set it."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The date it was at the hub when `moment` happened (a deposit at 00:30 in Paris is
    that day's, not the previous day's as in UTC)."""
    return aware(moment).astimezone(zone).date()
