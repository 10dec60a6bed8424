#!/usr/bin/env python3
"""Render a terminal capture (tmux capture-pane -e -p) to a PNG.

Usage: ansi_to_png.py INPUT.ansi OUTPUT.png [--cols N] [--rows N]
Understands SGR colours (16, 256, truecolor), bold, reverse and underline: what the
console draws. Needs Pillow and the DejaVu Sans Mono font (fonts-dejavu-core).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
BG = (24, 26, 33)
FG = (208, 212, 220)
BASIC = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (204, 204, 204),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (242, 242, 242),
]


def xterm256(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def parse(text):
    """Yields rows of (char, fg, bg, bold, underline)."""
    rows = []
    for line in text.split("\n"):
        fg, bg, bold, under, rev = None, None, False, False, False
        row = []
        i = 0
        while i < len(line):
            m = re.match(r"\x1b\[([0-9;:]*)m", line[i:])
            if m:
                codes = [int(c) if c else 0 for c in re.split("[;:]", m.group(1))] or [0]
                j = 0
                while j < len(codes):
                    c = codes[j]
                    if c == 0:
                        fg, bg, bold, under, rev = None, None, False, False, False
                    elif c == 1:
                        bold = True
                    elif c == 4:
                        under = True
                    elif c == 7:
                        rev = True
                    elif c == 22:
                        bold = False
                    elif c == 24:
                        under = False
                    elif c == 27:
                        rev = False
                    elif 30 <= c <= 37:
                        fg = BASIC[c - 30]
                    elif 90 <= c <= 97:
                        fg = BASIC[c - 90 + 8]
                    elif 40 <= c <= 47:
                        bg = BASIC[c - 40]
                    elif 100 <= c <= 107:
                        bg = BASIC[c - 100 + 8]
                    elif c == 39:
                        fg = None
                    elif c == 49:
                        bg = None
                    elif c in (38, 48) and j + 1 < len(codes):
                        if codes[j + 1] == 5 and j + 2 < len(codes):
                            colour = xterm256(codes[j + 2])
                            j += 2
                        elif codes[j + 1] == 2 and j + 4 < len(codes):
                            colour = tuple(codes[j + 2:j + 5])
                            j += 4
                        else:
                            colour = None
                        if c == 38:
                            fg = colour
                        else:
                            bg = colour
                    j += 1
                i += m.end()
                continue
            if line[i] == "\x1b":
                i += 1
                continue
            f, b = fg or FG, bg or BG
            if rev:
                f, b = b, f
            row.append((line[i], f, b, bold, under))
            i += 1
        rows.append(row)
    return rows


def main():
    src, dst = sys.argv[1], sys.argv[2]
    cols = int(sys.argv[sys.argv.index("--cols") + 1]) if "--cols" in sys.argv else 120
    nrows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 32
    rows = parse(open(src, encoding="utf-8").read())[:nrows]
    font = ImageFont.truetype(FONT, SIZE)
    bold_font = ImageFont.truetype(FONT_BOLD, SIZE)
    cw = int(round(font.getlength("M")))
    ch = int(SIZE * 1.35)
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, nrows * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (c, f, b, bold, under) in enumerate(row[:cols]):
            px, py = pad + x * cw, pad + y * ch
            if b != BG:
                draw.rectangle([px, py, px + cw, py + ch], fill=b)
            if c != " ":
                draw.text((px, py + 1), c, font=bold_font if bold else font, fill=f)
            if under:
                draw.line([px, py + ch - 2, px + cw, py + ch - 2], fill=f)
    img.save(dst)


if __name__ == "__main__":
    main()
