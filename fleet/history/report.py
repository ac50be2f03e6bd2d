"""The history report: each stop's days as a table, JSON, open-data CSV, and a chart.

The CSV has fixed columns (one pair per known fault), figures only: no pictures, no people,
nothing finer than a day, so a transport office can publish it as it is.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from edge.runtime.faults import Fault
from edge.wire import MAX_UTC_OFFSET_S, day_span, stop_day, stop_local
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


def build(store: Store, days: int, stop: str | None = None, now: float | None = None
          ) -> list[DayFigures]:
    """Figures for each stop's last ``days`` local days (today included: ``edge.wire.stop_day``)
    of ``stop`` or of every stop heard of in that window, ordered by stop then day."""
    now = time.time() if now is None else now
    utc_today = stop_day(stop_local(now, 0.0))
    # wide enough for any stop's days: its first day begins at most MAX_UTC_OFFSET_S earlier
    since = day_span(last_days(utc_today, days)[0], MAX_UTC_OFFSET_S)[0]
    stops = [stop] if stop else store.stops(since)
    out: list[DayFigures] = []
    for rows in store.rows_for(stops, since, now):
        today = stop_day(stop_local(now, rows.utc_offset_s))
        out += figures(rows, last_days(today, days), now, since)
    return out


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


CSV_FIELDS = ("stop", "day", "light_on_h", "switch_ons", "waiting_episodes", "waiting_total_s",
              "waiting_mean_s", "waiting_max_s", "blind_h", "offline_h",
              *(f"{f.value}_{x}" for f in Fault for x in ("raised", "h")))


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
                    round(r.offline_s / H, 3), *faults])
    return buf.getvalue()


def _hm(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def table(rows: Sequence[DayFigures]) -> Any:
    """A rich table: one line per stop and day."""
    from rich.table import Table

    stops = len({r.stop for r in rows})
    t = Table(title=f"stopsafe history: {stops} stops, {len({r.day for r in rows})} days "
              "(each stop's local days; times h:mm:ss)")
    for col in ("stop", "day", "light on", "switch-ons", "waiting", "mean s", "max s", "blind",
                "offline", "faults (raised, time)"):
        t.add_column(col, justify="left" if col in ("stop", "day", "faults (raised, time)")
                     else "right")
    for r in rows:
        faults = ", ".join(f"{k} {v.raised}x {_hm(v.active_s)}" for k, v in r.faults.items())
        t.add_row(r.stop, r.day.isoformat(), _hm(r.light_on_s), str(r.switch_ons),
                  str(r.waiting_episodes), f"{r.waiting_mean_s:.0f}", f"{r.waiting_max_s:.0f}",
                  _hm(r.blind_s), _hm(r.offline_s), faults,
                  style="yellow" if r.faults or r.offline_s else None)
    return t


def chart(rows: Sequence[DayFigures], path: Path, title: str) -> None:
    """One stop: its days as bars (hours lit, blind, offline; waiting episodes). The fleet:
    the daily totals, and a stops x days map of the hours each stop could not see (blind or
    offline), so the stops that need a visit stand out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    days: list[date] = sorted({r.day for r in rows})
    stops = sorted({r.stop for r in rows})
    by = {(r.stop, r.day): r for r in rows}
    x = np.arange(len(days))
    labels = [d.strftime("%m-%d") for d in days]

    def total(attr: str) -> np.ndarray:
        return np.array([sum(getattr(by[s, d], attr) for s in stops if (s, d) in by)
                         for d in days], float)

    lit, blind, off = total("light_on_s") / H, total("blind_s") / H, total("offline_s") / H
    episodes = total("waiting_episodes")
    fleet = len(stops) > 1
    fig, axes = plt.subplots(2 if fleet else 1, 1, figsize=(max(6.0, 0.6 * len(days) + 4), 7
                                                                 if fleet else 4),
                             squeeze=False)
    ax = axes[0][0]
    w = 0.27
    ax.bar(x - w, lit, w, label="light on (h)", color="#f2c14e")
    ax.bar(x, blind, w, label="blind (h)", color="#5b5b5b")
    ax.bar(x + w, off, w, label="offline (h)", color="#d1495b")
    ax.set_xticks(x, labels)
    ax.set_ylabel("hours" + (" (all stops)" if fleet else ""))
    ax2 = ax.twinx()
    ax2.plot(x, episodes, "o-", color="#00798c", label="waiting episodes")
    ax2.set_ylabel("waiting episodes")
    ax2.set_ylim(bottom=0)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    ax.set_title(title)
    if fleet:
        grid = np.array([[(by[s, d].blind_s + by[s, d].offline_s) / H if (s, d) in by else 0.0
                          for d in days] for s in stops])
        axm = axes[1][0]
        im = axm.imshow(grid, aspect="auto", cmap="Reds", vmin=0,
                        vmax=max(1.0, float(grid.max())),
                        interpolation="nearest")
        axm.set_xticks(x, labels)
        if len(stops) <= 40:
            axm.set_yticks(np.arange(len(stops)), stops, fontsize=6)
        else:
            axm.set_ylabel(f"{len(stops)} stops")
        axm.set_title("hours unable to see (blind or offline), per stop and day")
        fig.colorbar(im, ax=axm, label="hours")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
