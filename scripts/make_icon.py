"""Draws the extension's icon, media/icon.png (128x128, what the Marketplace asks for).

A play triangle (spin one step) inside an open ring with an arrow head (a warm worker that
keeps going round), on a rounded dark square. Written with zlib and struct only, so redrawing
it needs no imaging package: `python3 scripts/make_icon.py`.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

SIZE = 128
SAMPLES = 4  # per axis: 16 samples a pixel smooth the edges
BACKGROUND = (24, 46, 77)
RING = (255, 154, 46)
PLAY = (255, 255, 255)


def _inside_rounded_square(x: float, y: float, radius: float = 22.0) -> bool:
    dx = max(radius - x, 0.0, x - (SIZE - radius))
    dy = max(radius - y, 0.0, y - (SIZE - radius))
    return dx * dx + dy * dy <= radius * radius


def _in_triangle(x: float, y: float, a, b, c) -> bool:
    def side(p, q):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)


def _colour_at(x: float, y: float) -> tuple[int, int, int, int]:
    if not _inside_rounded_square(x, y):
        return (0, 0, 0, 0)
    cx = cy = SIZE / 2
    # Play triangle, its centroid at the centre.
    if _in_triangle(x, y, (50, 40), (50, 88), (90, 64)):
        return (*PLAY, 255)
    # Ring from 40 degrees to 330 degrees (clockwise from the right), gap at the top right.
    r = math.hypot(x - cx, y - cy)
    angle = math.degrees(math.atan2(y - cy, x - cx)) % 360
    if 38 <= r <= 48 and not (300 <= angle or angle < 10):
        return (*RING, 255)
    # Arrow head at the ring's end (angle 300), pointing along the turn.
    end = math.radians(300)
    tip_base = (cx + 43 * math.cos(end), cy + 43 * math.sin(end))
    tangent = (-math.sin(end), math.cos(end))  # direction of increasing angle
    normal = (math.cos(end), math.sin(end))
    a = (tip_base[0] + 11 * normal[0], tip_base[1] + 11 * normal[1])
    b = (tip_base[0] - 11 * normal[0], tip_base[1] - 11 * normal[1])
    tip = (tip_base[0] - 14 * tangent[0], tip_base[1] - 14 * tangent[1])
    if _in_triangle(x, y, a, b, tip):
        return (*RING, 255)
    return (*BACKGROUND, 255)


def render() -> bytes:
    rows = []
    step = 1.0 / SAMPLES
    for py in range(SIZE):
        row = bytearray([0])  # PNG filter type 0 for the row
        for px in range(SIZE):
            acc = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    r, g, b, a = _colour_at(px + (sx + 0.5) * step, py + (sy + 0.5) * step)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = SAMPLES * SAMPLES
            alpha = acc[3] / n
            if acc[3]:
                row += bytes(round(c / acc[3]) for c in acc[:3]) + bytes([round(alpha)])
            else:
                row += b"\0\0\0\0"
        rows.append(bytes(row))
    return png(SIZE, SIZE, b"".join(rows))


def png(width: int, height: int, raw_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw_rows, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "media/icon.png"
    out.write_bytes(render())
    print(out)
