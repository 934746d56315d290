"""Neovim's screen as a UI sees it: attach to a pynvim session as a UI (`ext_linegrid`) and
replay the redraw events into a grid of cells, each a character and its colours.

Nothing else is enabled (no `ext_popupmenu`, no multigrid), so Neovim composes everything onto
one grid: the completion popup, the status line and the command line are there as drawn. The
tests read the grid's text; `editors/screenshots/neovim_screenshot.py` paints it to a PNG.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

_markers = itertools.count()


@dataclass
class Style:
    """The colours and attributes of one highlight, resolved against the default colours."""

    foreground: int = 0xFFFFFF
    background: int = 0x000000
    bold: bool = False
    italic: bool = False
    underline: bool = False


@dataclass
class Screen:
    """The grid of one attached UI. Call `snapshot()` to bring it up to date."""

    nvim: Any
    width: int = 100
    height: int = 24
    cells: list[list[tuple[str, int]]] = field(init=False)  # (text, highlight id) per cell
    cursor: tuple[int, int] = (0, 0)  # (row, col), 0-based
    mode: str = "normal"
    _attrs: dict[int, dict[str, Any]] = field(default_factory=lambda: {0: {}})
    _default: tuple[int, int] = (0xE0E2EA, 0x14161B)  # foreground, background; Neovim sends its own

    def __post_init__(self) -> None:
        self.cells = self._blank(self.width, self.height)
        self.nvim.ui_attach(self.width, self.height, rgb=True, ext_linegrid=True)

    def detach(self) -> None:
        self.nvim.ui_detach()
        self._drain()  # what came before the detach

    @staticmethod
    def _blank(width: int, height: int) -> list[list[tuple[str, int]]]:
        return [[(" ", 0)] * width for _ in range(height)]

    def snapshot(self) -> list[str]:
        """Redraw, apply every event sent until now, and return the screen's lines of text."""
        self.nvim.command("redraw")
        self._drain()
        return self.lines()

    def lines(self) -> list[str]:
        return ["".join(text for text, _ in row) for row in self.cells]

    def style(self, hl_id: int) -> Style:
        attrs = self._attrs.get(hl_id, {})
        fg = attrs.get("foreground", self._default[0])
        bg = attrs.get("background", self._default[1])
        if attrs.get("reverse"):
            fg, bg = bg, fg
        return Style(
            fg, bg, bool(attrs.get("bold")), bool(attrs.get("italic")), bool(attrs.get("underline"))
        )

    def _drain(self) -> None:
        # Messages on one channel arrive in order: everything drawn before this marker is in.
        marker = f"grucomplete-screen-{next(_markers)}"
        self.nvim.exec_lua("vim.rpcnotify(...)", self.nvim.channel_id, marker)
        while True:
            message = self.nvim.next_message()
            if message is None or message[0] != "notification":
                continue
            name, args = message[1], message[2]
            if name == marker:
                return
            if name == "redraw":
                for batch in args:
                    handler = getattr(self, f"_on_{batch[0]}", None)
                    for event_args in batch[1:] if handler else ():
                        handler(*event_args)

    # --- redraw events (`:help ui-linegrid`) ----------------------------------------------

    def _on_grid_resize(self, grid: int, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = self._blank(width, height)

    def _on_grid_clear(self, grid: int) -> None:
        self.cells = self._blank(self.width, self.height)

    def _on_default_colors_set(self, fg: int, bg: int, *_: Any) -> None:
        self._default = (fg if fg >= 0 else self._default[0], bg if bg >= 0 else self._default[1])

    def _on_hl_attr_define(self, hl_id: int, rgb_attrs: dict[str, Any], *_: Any) -> None:
        self._attrs[hl_id] = rgb_attrs

    def _on_grid_cursor_goto(self, grid: int, row: int, col: int) -> None:
        self.cursor = (row, col)

    def _on_mode_change(self, mode: str, *_: Any) -> None:
        self.mode = mode

    def _on_grid_line(self, grid: int, row: int, col: int, cells: list[list[Any]], *_: Any) -> None:
        hl_id = 0
        for cell in cells:
            text = cell[0]
            if len(cell) > 1:
                hl_id = cell[1]  # omitted: the same as the cell before
            repeat = cell[2] if len(cell) > 2 else 1
            for _ in range(repeat):
                if col < self.width:
                    self.cells[row][col] = (text, hl_id)
                col += 1

    def _on_grid_scroll(
        self, grid: int, top: int, bot: int, left: int, right: int, rows: int, cols: int
    ) -> None:
        # Rows in [top, bot) move up by `rows` (down when negative), within columns [left, right).
        order = range(top, bot - rows) if rows > 0 else range(bot - 1, top - rows - 1, -1)
        for row in order:
            self.cells[row][left:right] = self.cells[row + rows][left:right]
