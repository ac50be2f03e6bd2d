"""The console's terminal UI (Textual): every stop in a scrolling table, filtered by text and
by state, sorted by any column, a detail pane for the selected stop, commands to it with their
answers, and ``forget`` for a stop taken out of service.

Messages land in the ``FleetTable`` from paho's thread; the UI takes them in every
``refresh_s`` (only the cells that changed, unless the order did), so a thousand stops
reporting cost the screen a few cell updates a second, not a redraw per message.

A broker that is down, unreachable or refuses the login is one line in the status bar and a
retry (paho's, between 1 and 30 s), never a traceback.

Keys: ``/`` filter by text, ``1``-``5`` toggle the state filters (waiting, lit, fault, offline,
out of hours), ``0`` clears them, ``s``/``S`` next sort column / reverse (or click a header),
``enter`` the detail pane, ``ctrl+end``/``ctrl+home`` the last/first stop, ``c`` a command to
the selected stop, ``F`` forget it, ``q`` quit.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from edge.config import Config, MqttProtocol
from edge.wire import Topics
from fleet.stop_list import ColumnHeader, Line, StopList
from fleet.view import (
    COLUMNS,
    FleetTable,
    SortKey,
    StopFilter,
    StopRow,
    cells,
    detail_lines,
    new_correlation,
)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
FORGET_SCAN_S = 1.0  # retained messages of the stop arrive right after the subscription
FILTER_KEYS = {"1": StopFilter.WAITING, "2": StopFilter.LIT, "3": StopFilter.FAULT,
               "4": StopFilter.OFFLINE, "5": StopFilter.OUT_OF_HOURS}
SORTS = [SortKey.URGENCY, *(k for k, _ in COLUMNS)]


class ConsoleLink:
    """The console's connection: feeds the table, sends commands, says how the broker is."""

    def __init__(self, cfg: Config, table: FleetTable) -> None:
        from edge.mqtt.client import broker_name, new_client

        self.cfg = cfg
        self.table = table
        self.status = f"{broker_name(cfg)}: connecting"
        self.ok = False
        self.client = new_client(cfg, "console", self._on_connect, self._on_message)
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)

    def start(self) -> None:
        m = self.cfg.mqtt
        self.client.connect_async(m.host, m.port, m.keepalive_s)
        self.client.loop_start()  # retries the first connection too

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _say(self, ok: bool, text: str) -> None:
        from edge.mqtt.client import broker_name

        self.ok = ok
        self.status = f"{broker_name(self.cfg)}: {text}"

    def _on_connect(self, client: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._say(False, f"refused the connection ({rc}); retrying")
            return
        self._say(True, "connected")
        client.subscribe(self.table.subscriptions(results=True))

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self._say(False, f"unreachable; retrying (every {RECONNECT_MIN_S}-{RECONNECT_MAX_S} s)")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if self.ok:
            self._say(False, f"connection lost ({rc}); retrying")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        corr = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        self.table.update(msg.topic, msg.payload, retained=bool(msg.retain), correlation=corr)

    def send(self, stop: str, command: str, payload: str) -> None:
        """A command to ``stop``; its answer comes back as an ack on the stop's row."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        topics = Topics(self.cfg.mqtt.prefix, stop)
        props = None
        if self.cfg.mqtt.protocol is MqttProtocol.V5:
            corr = new_correlation()
            self.table.ours.add(corr)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = topics.result(command)
            props.CorrelationData = corr
        self.client.publish(topics.cmd(command), payload.encode(), qos=1, properties=props)


def forget_stop(cfg: Config, stop: str, scan_s: float = FORGET_SCAN_S) -> list[str]:
    """Clear every retained topic of ``stop``: its states and status below its root and its
    Home Assistant discovery configs (both forms). Returns the topics cleared. Raises
    BrokerUnavailable when the broker cannot be used."""
    from edge.mqtt.client import tool_session
    from edge.mqtt.discovery import own_filters

    root = Topics(cfg.mqtt.prefix, stop).root
    filters = [f"{root}/#", *own_filters(cfg.mqtt.discovery_prefix, stop)]
    found: set[str] = set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if msg.retain and msg.payload:
            found.add(msg.topic)

    with tool_session(cfg, "console-forget", [(f, 1) for f in filters], on_message,
                      10.0) as (client, subscribed):
        subscribed.wait(10.0)
        time.sleep(scan_s)
        infos = [client.publish(t, b"", qos=1, retain=True) for t in sorted(found)]
        for info in infos:
            info.wait_for_publish(10.0)
    return sorted(found)


class CommandScreen(ModalScreen[str | None]):
    """Asks for a command line: ``light ON``, ``selftest``, ``light {"mode": "ON",
    "for_s": 600}`` ..."""

    AUTO_FOCUS = "#command"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, stop: str) -> None:
        super().__init__()
        self.stop = stop

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"command to {self.stop} (light ON|OFF|AUTO, selftest, snapshot, "
                        "status, reload; escape cancels)")
            yield Input(placeholder="light ON", id="command")

    @on(Input.Submitted, "#command")
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "yes"), Binding("n", "dismiss(False)", "no"),
        Binding("escape", "dismiss(False)", "no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Label("y: yes   n: no")


class ConsoleApp(App[None]):
    TITLE = "stopsafe console"
    AUTO_FOCUS = "#table"
    CSS = """
    #status { height: 1; background: $boost; }
    #filter { height: 3; }
    #table-box { width: 1fr; }
    #header { height: 1; text-style: bold; background: $primary-darken-2; }
    #table { height: 1fr; }
    #detail { width: 72; border-left: solid $primary; display: none; }
    #detail.open { display: block; }
    #dialog { width: 80; height: auto; padding: 1 2; border: thick $primary;
              background: $surface; }
    CommandScreen, ConfirmScreen { align: center middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("slash", "focus_filter", "filter"),
        Binding("escape", "focus_table", "table", show=False),
        *(Binding(k, f"toggle_state('{f.value}')", f.value.replace("_", " "), show=True)
          for k, f in FILTER_KEYS.items()),
        Binding("0", "clear_states", "all states"),
        Binding("s", "next_sort", "sort"),
        Binding("S", "reverse", "reverse"),
        Binding("enter", "detail", "detail"),
        Binding("c", "command", "command"),
        Binding("F", "forget", "forget"),
    ]

    def __init__(self, cfg: Config, table: FleetTable, *, sort: SortKey = SortKey.URGENCY,
                 reverse: bool = False, refresh_s: float = 0.5,
                 duration_s: float | None = None, store: Any = None,
                 link: ConsoleLink | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.table = table
        self.sort = sort
        self.reverse = reverse
        self.refresh_s = refresh_s
        self.duration_s = duration_s
        self.store = store
        self.link = link or ConsoleLink(cfg, table)
        self.text = ""
        self.states: frozenset[StopFilter] = frozenset()
        self.seen_version = -1  # the table's version on screen (-1: redraw at the next take_in)
        self.next_history = 0.0

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield Input(placeholder="/ filter: stop id, status, mode or fault (enter: back to the "
                    "table)", id="filter")
        names = [name for _, name in COLUMNS]
        with Horizontal():
            with Vertical(id="table-box"):
                yield ColumnHeader(names, id="header")
                yield StopList(names, id="table")
            with VerticalScroll(id="detail"):
                yield Static("", id="detail-text")
        yield Footer()

    def on_mount(self) -> None:
        # kept: App.query_one looks in the screen on top, which is a dialog at times
        self.dt = dt = self.query_one("#table", StopList)
        self.header = self.query_one("#header", ColumnHeader)
        self.status_bar = self.query_one("#status", Static)
        self.pane = self.query_one("#detail", VerticalScroll)
        self.pane_text = self.query_one("#detail-text", Static)
        self.filter_input = self.query_one("#filter", Input)
        self.link.start()
        self.set_interval(self.refresh_s, self.take_in)
        if self.duration_s is not None:
            self.set_timer(self.duration_s, self.exit)
        dt.focus()
        self.take_in()

    def on_unmount(self) -> None:
        self.link.stop()

    # ---------------- taking in what arrived ----------------
    def take_in(self) -> None:
        """Bring the table up to date (from the interval, and at once after a key)."""
        if self.store is not None and time.monotonic() >= self.next_history:
            self.next_history = math.inf  # the next one is due when this one is done
            self._load_history()
        version = self.table.version
        if version != self.seen_version:
            self.seen_version = version
            self._redraw()
        self._status()

    @work(thread=True, group="history")
    def _load_history(self) -> None:
        """The last 24 h of faults, read off the UI's thread (a thousand stops' take seconds);
        the table's next version brings them on screen."""
        from fleet.history.report import HISTORY_REFRESH_S, load_history

        try:
            load_history(self.store, self.table)
        finally:
            self.next_history = time.monotonic() + HISTORY_REFRESH_S

    def _redraw(self) -> None:
        rows = self.table.view(self.sort, self.reverse, self.text, self.states)
        started = self.table.started
        self.dt.set_lines([Line(r.stop, cells(r, started), r.urgency()) for r in rows])
        col = next((i for i, (k, _) in enumerate(COLUMNS) if k is self.sort), None)
        marks = {} if col is None else {col: " v" if self.reverse else " ^"}
        self.header.show(self.dt.w, marks, self.dt.scroll_offset.x)
        self._detail()

    def _status(self) -> None:
        n, online, faulty = self.table.counts()
        states = ", ".join(s.value for s in sorted(self.states)) or "all"
        text = (f"{self.link.status} | {n} stops, {online} online, {n - online} not, "
                f"{faulty} with faults | shown {self.dt.row_count} | states: {states}"
                + (f", text: {self.text!r}" if self.text else "")
                + f" | sort: {self.sort.value}{' (reverse)' if self.reverse else ''}"
                + f" | selected: {self.selected() or '-'}")
        self.status_bar.update(text)

    @property
    def shown(self) -> list[str]:
        """The stop ids in the table's order."""
        return [line.stop for line in self.dt.lines]

    def selected(self) -> str | None:
        return self.dt.selected

    def _detail(self) -> None:
        if "open" not in self.pane.classes:
            return
        stop = self.selected()
        row: StopRow | None = self.table.row(stop) if stop else None
        text = "\n".join(detail_lines(row, self.table.started)) if row else "no stop selected"
        self.pane_text.update(text)

    @on(StopList.Selected)
    def _selected(self, _event: StopList.Selected) -> None:  # enter on a row
        self.action_detail()

    @on(StopList.Highlighted)
    def _highlighted(self, _event: StopList.Highlighted) -> None:
        self._detail()
        self._status()

    @on(ColumnHeader.Clicked)
    def _header(self, event: ColumnHeader.Clicked) -> None:
        key = COLUMNS[event.column][0]
        self.reverse = (not self.reverse) if key is self.sort else False
        self.sort = key
        self._changed()

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.text = event.value.strip()
        self._changed()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.action_focus_table()

    def _changed(self) -> None:
        self.seen_version = -1
        self.take_in()

    # ---------------- actions ----------------
    def action_focus_filter(self) -> None:
        self.filter_input.focus()

    def action_focus_table(self) -> None:
        self.dt.focus()

    def action_toggle_state(self, value: str) -> None:
        f = StopFilter(value)
        self.states = self.states - {f} if f in self.states else self.states | {f}
        self._changed()

    def action_clear_states(self) -> None:
        self.states = frozenset()
        self._changed()

    def action_next_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._changed()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._changed()

    def action_detail(self) -> None:
        self.pane.toggle_class("open")
        self._detail()

    def action_command(self) -> None:
        stop = self.selected()
        if stop is None:
            self.notify("no stop selected", severity="warning")
            return

        def sent(line: str | None) -> None:
            if not line:
                return
            name, _, payload = line.partition(" ")
            self.link.send(stop, name, payload.strip())
            self.notify(f"sent {name} to {stop}; its answer shows in the detail pane")
            if "open" not in self.pane.classes:
                self.action_detail()

        self.push_screen(CommandScreen(stop), sent)

    def action_forget(self) -> None:
        stop = self.selected()
        row = self.table.row(stop) if stop else None
        if row is None:
            self.notify("no stop selected", severity="warning")
            return
        if row.online:
            self.notify(f"{stop} is online: a running stop publishes its topics again; stop "
                        "it first", severity="error")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._forget(row.stop)

        self.push_screen(ConfirmScreen(
            f"Forget {stop}? Its retained status, states and Home Assistant configs are "
            "cleared on the broker (for a stop taken out of service)."), answer)

    @work(thread=True, exclusive=True, group="forget")
    def _forget(self, stop: str) -> None:
        from edge.mqtt.errors import BrokerUnavailable

        try:
            cleared = forget_stop(self.cfg, stop)
        except BrokerUnavailable as exc:
            self.call_from_thread(self.notify, f"forget {stop}: {exc}", severity="error")
            return
        self.table.forget(stop)
        self.call_from_thread(self.notify, f"forgot {stop}: {len(cleared)} retained topics "
                              "cleared")
        self.call_from_thread(self._changed)

