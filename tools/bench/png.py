"""A horizontal bar chart as a PNG, in pure Python (zlib + struct): matplotlib is not a dependency here.

`bar_chart(rows, path, title)` draws one bar per (label, value, colour) row on a log2 axis centred at 1x,
bars to the right when the value is above 1 (Webloom faster), to the left below; `None` values say n/a.
Text uses a built-in 5x7 pixel font (upper case, digits and a little punctuation).
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

# 5x7 glyphs, one string of 7 rows of 5 bits each ("#" = ink)
_FONT_SRC = {
    "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
    "C": ".###.#...##....#....#....#...#.###.", "D": "####.#...##...##...##...##...#####.",
    "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
    "G": ".###.#...##....#.####...##...#.####", "H": "#...##...##...#######...##...##...#",
    "I": ".###...#....#....#....#....#...###.", "J": "..###...#....#....#....##..#..##...",
    "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
    "M": "#...###.###.#.##...##...##...##...#", "N": "#...##...###..##.#.##..###...##...#",
    "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
    "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
    "S": ".#####....#.....###.....#....#####.", "T": "#####..#....#....#....#....#....#..",
    "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
    "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
    "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
    "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
    "2": ".###.#...#....#...#...#...#...#####", "3": "#####...#...#.....#.....##...#.###.",
    "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
    "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
    "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
    ".": "..............................##...", ",": ".........................##...#..#.",
    ":": ".....##...##.........##...##.......", "-": "...............###.................",
    "/": ".........#...#...#...#...#.........", "(": "...#...#...#....#....#.....#.....#.",
    ")": ".#.....#.....#....#....#...#...#...", "+": ".......#....#..#####..#....#.......",
    "=": "..........#####.....#####..........", "?": ".###.#...#....#...#....#.........#.",
    " ": "." * 35,
    "<": "...#...#...#...#.....#.....#.....#.", ">": ".#.....#.....#.....#...#...#...#...",
    "%": "##...##..#...#...#...#...#..##...##", "_": "..............................#####",
}
FONT = dict(_FONT_SRC)
_BAD = [k for k, g in FONT.items() if len(g) != 35]
assert not _BAD, f"glyphs {_BAD} are not 7 rows of 5"
SCALE = 2                      # font pixels per glyph pixel
GLYPH_W, GLYPH_H = 6 * SCALE, 8 * SCALE
WHITE, BLACK, GREY, LIGHT = (255, 255, 255), (30, 30, 30), (150, 150, 150), (225, 225, 225)


class Canvas:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            at = (y * self.width + x0) * 3
            self.pixels[at:at + len(row)] = row

    def text(self, x: int, y: int, text: str, colour=BLACK) -> int:
        """Draws `text` with its top-left at (x, y); returns the x after it."""
        for ch in text.upper():
            glyph = FONT.get(ch, FONT["?"])
            for i, bit in enumerate(glyph):
                if bit == "#":
                    gx, gy = x + (i % 5) * SCALE, y + (i // 5) * SCALE
                    self.rect(gx, gy, gx + SCALE, gy + SCALE, colour)
            x += GLYPH_W
        return x

    def save(self, path: Path) -> None:
        raw = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3:(y + 1) * self.width * 3])
                       for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) +
                               _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_width(text: str) -> int:
    return len(text) * GLYPH_W


def bar_chart(rows: list, path: Path, title: str, note: str = "") -> Path:
    """rows: [(label, value or None, rgb)]; values are ratios drawn on a log2 axis (1x in the middle)."""
    label_w = max([text_width(r[0]) for r in rows] + [200]) + 16
    plot_w, bar_h, gap, top = 560, 18, 6, 70
    width = label_w + plot_w + 120
    height = top + len(rows) * (bar_h + gap) + 50
    c = Canvas(width, height)
    c.text(10, 10, title)
    if note:
        c.text(10, 34, note, GREY)
    values = [abs(math.log2(v)) for _, v, _ in rows if v]
    span = max(1.0, math.ceil(max(values, default=1.0)))     # log2 units each side of 1x
    mid = label_w + plot_w // 2
    unit = (plot_w // 2) / span
    every = max(1, math.ceil((text_width(f"1/{2 ** span:g}") + GLYPH_W) / unit))   # labels never overlap
    for k in range(-int(span), int(span) + 1):               # grid at each power of two
        x = int(mid + k * unit)
        c.rect(x, top - 6, x + 1, height - 40, LIGHT if k else GREY)
        if k % every == 0:
            tick = f"{2 ** k:g}X" if k >= 0 else f"1/{2 ** -k:g}"
            c.text(x - text_width(tick) // 2, height - 34, tick, GREY)
    for i, (label, value, colour) in enumerate(rows):
        y = top + i * (bar_h + gap)
        c.text(label_w - 8 - text_width(label), y + 1, label)
        if not value:
            c.text(mid + 6, y + 1, "N/A", GREY)
            continue
        x = int(mid + math.log2(value) * unit)
        c.rect(min(mid, x), y, max(mid, x) + 1, y + bar_h, colour)
        c.text(max(mid, x) + 6, y + 1, f"{value:.2f}X")
    c.save(path)
    return path
