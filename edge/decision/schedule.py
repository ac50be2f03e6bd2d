"""Operating hours: pure functions of a local wall-clock time the caller supplies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Protocol

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowLike(Protocol):
    start: time
    end: time
    days: Sequence[str]


def in_service(windows: Sequence[WindowLike], local: datetime) -> bool:
    """True when ``local`` falls in one of the windows; no windows means always."""
    if not windows:
        return True
    now = local.time()
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local - timedelta(days=1)).weekday()]
    for w in windows:
        if w.start == w.end:  # a whole day
            if today in w.days:
                return True
        elif w.start < w.end:
            if today in w.days and w.start <= now < w.end:
                return True
        else:  # runs past midnight: the evening part today, the morning part from yesterday
            if today in w.days and now >= w.start:
                return True
            if yesterday in w.days and now < w.end:
                return True
    return False
