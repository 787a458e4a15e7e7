from datetime import UTC, datetime, timedelta, timezone

import pytest

from todos.datetimes import format_api_datetime, parse_api_datetime


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-02-27T00:00:00", datetime(2023, 2, 27, tzinfo=UTC)),
        ("2023-04-05 14:00:00.000", datetime(2023, 4, 5, 14, tzinfo=UTC)),
        ("2023-04-05T14:00:00.123456", datetime(2023, 4, 5, 14, 0, 0, 123456, UTC)),
        ("2023-04-05T14:00:00Z", datetime(2023, 4, 5, 14, tzinfo=UTC)),
        ("2023-04-05T14:00:00+10:00", datetime(2023, 4, 5, 4, tzinfo=UTC)),
        ("2023-04-05T14:00:00-05:30", datetime(2023, 4, 5, 19, 30, tzinfo=UTC)),
    ],
)
def test_parse_accepts_the_forms_clients_send_and_returns_utc(text, expected):
    parsed = parse_api_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["", "tomorrow", "2023-02-30T00:00:00", "2023-13-01T00:00:00", "27/02/2023"],
)
def test_parse_rejects_what_is_not_a_date_time_and_quotes_it(text):
    with pytest.raises(ValueError, match="is not a date-time"):
        parse_api_datetime(text)


def test_parse_rejects_a_time_that_leaves_the_calendar_once_in_utc():
    with pytest.raises(ValueError, match="out of range"):
        parse_api_datetime("9999-12-31T23:00:00-05:00")


def test_format_is_utc_without_suffix_in_whole_seconds():
    brisbane = timezone(timedelta(hours=10))
    value = datetime(2023, 2, 27, 10, 0, 0, 999_999, brisbane)
    assert format_api_datetime(value) == "2023-02-27T00:00:00"


def test_format_keeps_microseconds_when_asked_and_pads_early_years():
    value = datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_api_datetime(value, timespec="microseconds") == (
        "0005-01-02T03:04:05.000000"
    )
