"""The one way mlgraph reads a length of time, for every setting and every command-line option.

Three spellings are accepted, so that whatever an operator writes works everywhere:

- plain seconds: ``86400``, ``0.5``
- a number and a unit: ``500ms``, ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (also ``1.5h``)
- ISO 8601: ``PT24H``, ``P7D``, ``P1W``, ``P1DT12H``, ``PT0.5S``

Months and years are refused: they have no fixed length.

``Duration`` and ``Seconds`` are the pydantic field types built on ``parse_duration``.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["EXAMPLES", "Duration", "Seconds", "parse_duration"]

EXAMPLES = "seconds (86400), 30m, 24h, 7d, 2w, or ISO 8601 (PT24H, P7D)"

_NUMBER = r"\d+(?:\.\d+)?"
_WITH_UNIT = re.compile(rf"^({_NUMBER})\s*(ms|s|m|h|d|w)$", re.IGNORECASE)
_ISO = re.compile(
    rf"^P(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?$",
    re.IGNORECASE,
)
_UNITS = {
    "ms": "milliseconds",
    "s": "seconds",
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
}


def parse_duration(value: str | float | timedelta) -> timedelta:
    """``value`` as a ``timedelta``; a ``ValueError`` says which spellings are accepted.

    Numbers (and strings of digits) are seconds. Negative lengths are refused here; whether
    zero is allowed is the caller's (or the field's) business.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; give {EXAMPLES}")
    try:
        if isinstance(value, timedelta):
            delta = value
        elif isinstance(value, int | float):
            delta = _seconds(float(value), value)
        else:
            delta = _parse_text(str(value))
    except OverflowError:
        raise ValueError(f"{value!r} is longer than any duration mlgraph can use") from None
    if delta < timedelta(0):
        raise ValueError(f"{value!r} is negative; a duration is a length of time")
    return delta


def _parse_text(raw: str) -> timedelta:
    text = raw.strip()
    try:
        return _seconds(float(text), raw)
    except ValueError:
        pass
    if match := _WITH_UNIT.match(text):
        return timedelta(**{_UNITS[match[2].lower()]: float(match[1])})
    if (match := _ISO.match(text)) and text.upper() not in ("P", "PT") and not text.endswith("T"):
        return timedelta(**{unit: float(n) for unit, n in match.groupdict().items() if n})
    date_part = text.upper().partition("T")[0]
    if date_part.startswith("P") and ("Y" in date_part or "M" in date_part):
        raise ValueError(f"{raw!r}: months and years have no fixed length; give days (P30D)")
    raise ValueError(f"{raw!r} is not a duration; give {EXAMPLES}")


def _seconds(seconds: float, raw: object) -> timedelta:
    if not math.isfinite(seconds):
        raise ValueError(f"{raw!r} is not a duration; give {EXAMPLES}")
    return timedelta(seconds=seconds)


def _to_timedelta(value: Any) -> timedelta:
    return parse_duration(value)


def _to_seconds(value: Any) -> float:
    return parse_duration(value).total_seconds()


# Settings fields: ``Duration`` for windows (a timedelta), ``Seconds`` for timeouts and waits
# (a float of seconds, which is what asyncio and httpx take).
Duration = Annotated[timedelta, BeforeValidator(_to_timedelta)]
Seconds = Annotated[float, BeforeValidator(_to_seconds)]
