"""The history report: each stop's days as a table, JSON, open-data CSV, and a chart.

The CSV has fixed columns (one pair per known fault), figures only: no pictures, no people,
nothing finer than a day, so a transport office can publish it as it is.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from edge.wire import MAX_UTC_OFFSET_S, Fault, day_span, stop_day, stop_local
from fleet.history.daily import (
    DayFigures,
    FaultDay,
    figures,
    last_days,
    overlap,
    timeline,
)
from fleet.history.store import Store

H = 3600.0


MAX_DAYS = 3660


class WindowError(ValueError):
    """``--since``/``--until``/``--days`` that make no window; ``str()`` is the one line."""


def window(today: date, days: int | None = None, since: date | None = None,
           until: date | None = None, clip: bool = False) -> list[date]:
    """The days asked for, oldest first: ``since`` .. ``until``; without ``until`` up to
    today (or ``days`` days from ``since``), without ``since`` the ``days`` (default 7) days
    up to ``until`` or today. Nothing after today (``clip``: cut there, else refused), nothing
    upside down, at most MAX_DAYS. Empty only when clipped to nothing."""
    if not clip:
        for name, day in (("--since", since), ("--until", until)):
            if day is not None and day > today:
                raise WindowError(f"{name} {day} is after today ({today}): no data there yet")
    if since is not None and until is None:
        end = today if days is None else min(today, since + timedelta(days=days - 1))
    else:
        end = min(until or today, today)
    start = since or end - timedelta(days=(days or 7) - 1)
    if start > end:
        if clip:
            return []
        raise WindowError(f"--since {start} is after --until {end}")
    n = (end - start).days + 1
    if n > MAX_DAYS:
        raise WindowError(f"{start} .. {end} is {n} days; at most {MAX_DAYS}")
    return last_days(end, n)


def latest_today(now: float | None = None) -> date:
    """The latest "today" of any stop (UTC+14): a window is refused only past it."""
    return stop_day(stop_local(time.time() if now is None else now, MAX_UTC_OFFSET_S))


def build(store: Store, days: int | None = None, stop: str | None = None,
          now: float | None = None, since: date | None = None, until: date | None = None
          ) -> list[DayFigures]:
    """Figures for each stop's local days (``edge.wire.stop_day``): the last ``days`` (today
    included), or ``since`` .. ``until`` (cut at the stop's today), of ``stop`` or of every
    stop heard of in that window, ordered by stop then day. A stop has rows only from the day
    of its first record on (``daily.known_days``)."""
    now = time.time() if now is None else now
    widest = window(latest_today(now), days, since, until, clip=True)
    if not widest:
        return []
    # wide enough for any stop's days: its first day begins at most MAX_UTC_OFFSET_S earlier
    start = day_span(widest[0], MAX_UTC_OFFSET_S)[0]
    stops = [stop] if stop else store.stops(start)
    out: list[DayFigures] = []
    for rows in store.rows_for(stops, start, now):
        today = stop_day(stop_local(now, rows.utc_offset_s))
        span = window(today, days, since, until, clip=True)
        if span:
            out += figures(rows, span, now, start)
    return out


def chart_days(days: int | None, since: date | None, until: date | None,
               rows: Sequence[DayFigures], now: float | None = None) -> list[date]:
    """A chart's day axis: the window as a UTC stop sees it, widened to every day a row has
    (a stop's local day may be a day off UTC's), consecutive."""
    utc_today = stop_day(stop_local(time.time() if now is None else now, 0.0))
    have = set(window(utc_today, days, since, until, clip=True)) | {r.day for r in rows}
    if not have:
        return []
    return last_days(max(have), (max(have) - min(have)).days + 1)


def recent_faults(store: Store, stops: Sequence[str], hours: float = 24.0,
                  now: float | None = None) -> dict[str, dict[str, FaultDay]]:
    """Each stop's faults over the last ``hours``: raises and time active, by fault name."""
    now = time.time() if now is None else now
    since = now - hours * H
    out: dict[str, dict[str, FaultDay]] = {}
    for rows in store.rows_for(stops, since, now):
        tl = timeline(rows, since, now)
        out[rows.stop] = {name: FaultDay(len(tl.raises.get(name, ())),
                                         overlap(tl.faults.get(name, ()), since, now))
                          for name in sorted(set(tl.faults) | set(tl.raises))}
    return out


def as_json(rows: Sequence[DayFigures]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rows]


BUS_FIELDS = ("buses", "stopped", "passed", "passed_while_waiting", "unknown",
              "median_wait_until_stopped_s")  # of edge.bus_figures
CSV_FIELDS = ("stop", "day", "light_on_h", "switch_ons", "waiting_episodes", "waiting_total_s",
              "waiting_mean_s", "waiting_max_s", "blind_h", "offline_h",
              *(f"{f.value}_{x}" for f in Fault for x in ("raised", "h")),
              *(f"bus_{k}" for k in BUS_FIELDS))


def as_csv(rows: Sequence[DayFigures]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        faults = []
        for f in Fault:
            fd = r.faults.get(f.value)
            faults += [fd.raised if fd else 0, round(fd.active_s / H, 3) if fd else 0.0]
        w.writerow([r.stop, r.day.isoformat(), round(r.light_on_s / H, 3), r.switch_ons,
                    r.waiting_episodes, round(r.waiting_total_s, 1), round(r.waiting_mean_s, 1),
                    round(r.waiting_max_s, 1), round(r.blind_s / H, 3),
                    round(r.offline_s / H, 3), *faults,
                    *("" if r.buses[k] is None else r.buses[k] for k in BUS_FIELDS)])
    return buf.getvalue()


def _hm(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def table(rows: Sequence[DayFigures], span: Sequence[date] = ()) -> Any:
    """A rich table: one line per stop and day it has data for."""
    from rich.table import Table

    stops = len({r.stop for r in rows})
    when = f"{span[0]} .. {span[-1]}, " if span else ""
    t = Table(title=f"stopsafe history: {stops} stops, {len({r.day for r in rows})} days with "
              f"data ({when}each stop's local days; times h:mm:ss; no line: no data)")
    for col in ("stop", "day", "light on", "switch-ons", "waiting", "mean s", "max s", "blind",
                "offline", "buses", "passed waiting", "faults (raised, time)"):
        t.add_column(col, justify="left" if col in ("stop", "day", "faults (raised, time)")
                     else "right")
    for r in rows:
        faults = ", ".join(f"{k} {v.raised}x {_hm(v.active_s)}" for k, v in r.faults.items())
        t.add_row(r.stop, r.day.isoformat(), _hm(r.light_on_s), str(r.switch_ons),
                  str(r.waiting_episodes), f"{r.waiting_mean_s:.0f}", f"{r.waiting_max_s:.0f}",
                  _hm(r.blind_s), _hm(r.offline_s), str(r.buses["buses"]),
                  str(r.buses["passed_while_waiting"]), faults,
                  style="yellow" if r.faults or r.offline_s else None)
    return t


ROW_IN = 0.14  # heatmap: inches a stop's row, so every row keeps a readable label


def figure(rows: Sequence[DayFigures], span: Sequence[date], title: str) -> Any:
    """The chart as a matplotlib Figure (``chart`` saves it). One stop: its days as bars
    (hours lit, blind, offline; waiting episodes). The fleet: the daily totals, and a stops x
    days map of the hours each stop could not see (blind or offline), so the stops that need
    a visit stand out. A day without data is a gap (NaN: no bar, a break in the line, a grey
    cell), never a 0; every axis and every row of the map is labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    days: list[date] = list(span) or sorted({r.day for r in rows})
    stops = sorted({r.stop for r in rows})
    by = {(r.stop, r.day): r for r in rows}
    x = np.arange(len(days))
    labels = [d.strftime("%m-%d") for d in days]

    def total(attr: str) -> np.ndarray:
        """The day's sum over the stops with data that day; NaN when none has any."""
        out = []
        for d in days:
            have = [getattr(by[s, d], attr) for s in stops if (s, d) in by]
            out.append(sum(have) if have else np.nan)
        return np.array(out, float)

    lit, blind, off = total("light_on_s") / H, total("blind_s") / H, total("offline_s") / H
    episodes = total("waiting_episodes")
    fleet = len(stops) > 1
    map_h = max(3.0, ROW_IN * len(stops) + 1.5)
    fig, axes = plt.subplots(2 if fleet else 1, 1, squeeze=False,
                             figsize=(max(6.0, 0.6 * len(days) + 4), 4 + (map_h if fleet else 0)),
                             gridspec_kw={"height_ratios": [4, map_h]} if fleet else None)
    ax = axes[0][0]
    w = 0.27
    ax.bar(x - w, lit, w, label="light on (h)", color="#f2c14e")
    ax.bar(x, blind, w, label="blind (h)", color="#5b5b5b")
    ax.bar(x + w, off, w, label="offline (h)", color="#d1495b")
    ax.set_xticks(x, labels)
    ax.set_xlabel("day (UTC)")
    ax.set_ylabel("hours" + (" (all stops with data)" if fleet else ""))
    ax2 = ax.twinx()
    ax2.plot(x, episodes, "o-", color="#00798c", label="waiting episodes")
    ax2.set_ylabel("waiting episodes")
    ax2.set_ylim(bottom=0)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    for i in np.flatnonzero(np.isnan(lit)):
        ax.axvspan(i - 0.45, i + 0.45, color="#dddddd", zorder=0)
        ax.text(i, 0.5, "no data", transform=ax.get_xaxis_transform(), ha="center",
                va="center", rotation=90, fontsize=8, color="#777777")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    ax.set_title(title)
    if fleet:
        grid = np.array([[(by[s, d].blind_s + by[s, d].offline_s) / H if (s, d) in by
                          else np.nan for d in days] for s in stops])
        axm = axes[1][0]
        cmap = plt.get_cmap("Reds").with_extremes(bad="#dddddd")  # no data: grey
        finite = grid[np.isfinite(grid)]
        im = axm.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0,
                        vmax=max(1.0, float(finite.max()) if finite.size else 1.0),
                        interpolation="nearest")
        axm.set_xticks(x, labels)
        axm.set_xlabel("day (UTC)")
        axm.set_yticks(np.arange(len(stops)), stops, fontsize=6)
        axm.set_ylabel("stop")
        axm.set_title("hours unable to see (blind or offline), per stop and day; "
                      "grey: no data")
        fig.colorbar(im, ax=axm, label="hours")
    fig.tight_layout()
    return fig


def chart(rows: Sequence[DayFigures], span: Sequence[date], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig = figure(rows, span, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


HISTORY_REFRESH_S = 30.0  # console --db: how often the last 24 h of faults are read again


def load_history(store, table) -> None:
    """Each listed stop's faults over the last 24 h from the history database, into ``table``."""
    try:
        faults = recent_faults(store, table.stops())
    except Exception as exc:  # the database away: keep what the table shows, try again later
        import structlog

        structlog.get_logger("stopsafe.console").warning(
            "history_unavailable", error=str(exc).splitlines()[0])
        return
    table.set_history({stop: {k: (v.raised, v.active_s) for k, v in f.items()}
                       for stop, f in faults.items()})
