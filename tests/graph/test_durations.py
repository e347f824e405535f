"""One duration parser for every setting and option: seconds, 30m/24h/7d/2w, ISO 8601."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from graph.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("86400", timedelta(days=1)),
        ("0.5", timedelta(seconds=0.5)),
        (" 90 ", timedelta(seconds=90)),
        ("500ms", timedelta(milliseconds=500)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("1.5h", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("24H", timedelta(hours=24)),
        ("PT24H", timedelta(hours=24)),
        ("pt30m", timedelta(minutes=30)),
        ("P7D", timedelta(days=7)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("PT1H30M15S", timedelta(hours=1, minutes=30, seconds=15)),
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_every_spelling_means_the_same_length(text: str | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "is not a duration; give seconds (86400), 30m, 24h, 7d, 2w, or ISO 8601"),
        ("", "is not a duration"),
        ("P", "is not a duration"),
        ("PT", "is not a duration"),
        ("P1DT", "is not a duration"),
        ("P1D2H", "is not a duration"),  # hours belong after the T
        ("24 hours", "is not a duration"),
        ("nan", "is not a duration"),
        ("inf", "is not a duration"),
        ("-5", "is negative"),
        ("-5s", "is not a duration"),
        ("P1M", "months and years have no fixed length"),
        ("P2Y", "months and years have no fixed length"),
        ("1e30", "longer than any duration"),
        (True, "is not a duration"),
    ],
)
def test_what_is_not_a_duration_says_what_is(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(text)
