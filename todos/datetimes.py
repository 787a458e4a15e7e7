"""The API's date-time form: ISO 8601 in UTC, without a timezone suffix."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime


def parse_api_datetime(text: str) -> datetime:
    """Read a date-time a client sent; return it timezone-aware, in UTC.

    Accepts `2023-02-27T00:00:00`, the browser form `2023-04-05 14:00:00.000`,
    fractional seconds, and an explicit `Z` or offset. Text without an offset is
    taken to be UTC. Raises ValueError with a sentence a person can act on.
    """
    try:
        parsed = parse_datetime(text.strip())
    except ValueError:  # matches the pattern but names an impossible date
        parsed = None
    if parsed is None:
        raise ValueError(
            f"{text!r} is not a date-time; use ISO 8601, e.g. 2023-02-27T00:00:00"
        )
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range once converted to UTC") from None


def format_api_datetime(value: datetime, *, timespec: str = "seconds") -> str:
    """Write a date-time as the API shows it: UTC, no suffix: 2023-02-27T00:00:00."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec=timespec)
