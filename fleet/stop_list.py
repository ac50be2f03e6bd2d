"""The console's table of stops as a Textual line-API widget: only the lines on screen are
rendered, so sorting or filtering a thousand stops costs a Python sort and one screen of lines,
not a thousand widget rows rebuilt (Textual's DataTable took 230-330 ms to clear and refill
1,000 rows on this machine; the bound is 200 ms from key to screen)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

GAP = 2  # spaces between columns
STYLE_ROW = Style()
STYLE_ZEBRA = Style(bgcolor="grey11")
STYLE_CURSOR = Style(reverse=True, bold=True)
STYLE_OFFLINE = Style(color="red", bold=True)
STYLE_FAULT = Style(color="yellow")


class Line(tuple):
    """One stop's row: its id, its cells and its urgency (0 offline, 1 faults, 2 fine)."""

    __slots__ = ()

    def __new__(cls, stop: str, cells: tuple[str, ...], urgency: int) -> Line:
        return super().__new__(cls, (stop, cells, urgency))

    @property
    def stop(self) -> str:
        return self[0]


def widths(names: Sequence[str], lines: Sequence[Line]) -> list[int]:
    out = [len(n) for n in names]
    for line in lines:
        for i, cell in enumerate(line[1]):
            if len(cell) > out[i]:
                out[i] = len(cell)
    return out


def fit(cells: Sequence[str], w: Sequence[int]) -> str:
    return (" " * GAP).join(c.ljust(n) for c, n in zip(cells, w, strict=True))


class ColumnHeader(Static):
    """The column names above the list; a click on one sorts by it."""

    class Clicked(Message):
        def __init__(self, column: int) -> None:
            super().__init__()
            self.column = column

    def __init__(self, names: Sequence[str], **kw) -> None:
        super().__init__("", **kw)
        self.names = list(names)
        self.w = [len(n) for n in names]
        self.scroll_x = 0

    def show(self, w: Sequence[int], marks: dict[int, str], scroll_x: int) -> None:
        self.w = list(w)
        self.scroll_x = scroll_x
        names = [n + marks.get(i, "") for i, n in enumerate(self.names)]
        self.update(fit(names, [max(a, len(b)) for a, b in zip(w, names, strict=True)])
                    [scroll_x:])

    def on_click(self, event: Click) -> None:
        x = event.x + self.scroll_x
        edge = 0
        for i, n in enumerate(self.w):
            edge += n + GAP
            if x < edge:
                self.post_message(self.Clicked(i))
                return


class StopList(ScrollView, can_focus=True):
    """Rows of stops with a cursor; ``Highlighted`` when the cursor moves, ``Selected`` on
    enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", show=False), Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
        Binding("ctrl+home,home", "first", show=False),
        Binding("ctrl+end,end", "last", show=False),
        Binding("enter", "select", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, stop_id: str | None) -> None:  # not 'stop': Message.stop()
            super().__init__()
            self.stop_id = stop_id

    class Selected(Message):
        def __init__(self, stop_id: str) -> None:
            super().__init__()
            self.stop_id = stop_id

    def __init__(self, names: Sequence[str], **kw) -> None:
        super().__init__(**kw)
        self.names = list(names)
        self.lines: list[Line] = []
        self.index: dict[str, int] = {}
        self.w = [len(n) for n in names]
        self.cursor = 0

    @property
    def row_count(self) -> int:
        return len(self.lines)

    @property
    def selected(self) -> str | None:
        return self.lines[self.cursor].stop if self.lines else None

    def set_lines(self, lines: list[Line]) -> None:
        """New rows (sorted and filtered by the caller); the cursor stays on its stop when
        that stop is still listed."""
        keep = self.selected
        self.lines = lines
        self.index = {line.stop: i for i, line in enumerate(lines)}
        self.w = widths(self.names, lines)
        self.virtual_size = Size(sum(self.w) + GAP * (len(self.w) - 1), len(lines))
        old = self.cursor
        self.cursor = self.index.get(keep, min(self.cursor, max(0, len(lines) - 1))) \
            if keep is not None else 0
        self.refresh()
        if self.cursor != old or self.selected != keep:
            self._moved()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        if i >= len(self.lines):
            return Strip.blank(width)
        _, cells, urgency = self.lines[i]
        style = STYLE_ZEBRA if i % 2 else STYLE_ROW
        if urgency == 0:
            style += STYLE_OFFLINE
        elif urgency == 1:
            style += STYLE_FAULT
        if i == self.cursor:
            style += STYLE_CURSOR
        text = fit(cells, self.w)
        return Strip([Segment(text.ljust(width + scroll_x), style)]).crop(
            scroll_x, scroll_x + width)

    def _moved(self) -> None:
        h = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    def move_to(self, i: int) -> None:
        if not self.lines:
            return
        self.cursor = max(0, min(len(self.lines) - 1, i))
        self._moved()

    def action_cursor(self, step: int) -> None:
        self.move_to(self.cursor + step)

    def action_page(self, step: int) -> None:
        self.move_to(self.cursor + step * max(1, self.size.height - 1))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.lines) - 1)

    def action_select(self) -> None:
        if self.lines:
            self.post_message(self.Selected(self.lines[self.cursor].stop))

    def on_click(self, event: Click) -> None:
        self.move_to(self.scroll_offset.y + event.y)
