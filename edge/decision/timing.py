"""Comparing durations on frame clocks.

Frame times are sums of floats (a clip's ``n / fps``): 9.2 - 6.2 must count as 3.0, so every
"has this lasted X seconds" in the core compares with this slack.
"""

TIME_EPS = 1e-6


def lasted(since: float, now: float, duration_s: float) -> bool:
    """Whether ``now - since`` is at least ``duration_s``, with the slack above."""
    return now - since >= duration_s - TIME_EPS
