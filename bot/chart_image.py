"""The progress chart as an image: weight and body fat over time, two panels, drawn with Pillow.

Pure: points in, PNG bytes out (runs in bot.charts' worker processes). Made for a phone: 720 px
wide, so Telegram shows it about 1:2 and its text stays at a readable size; weight on top, body fat
below, one date axis. Every point is labelled while the labels fit side by side (the selection
of bot.domain.progress.chart_label_indices for a longer history; a label that would overlap one
already placed is left out). A measurement without a body fat value (imported data) leaves a gap
in the lower line.

Drawn at twice the size and halved (anti-aliased lines and markers), saved as a 64-colour PNG:
about 10-20 ms per chart on this project's machine, where the matplotlib chart took ~110 ms
(benchmarks/bench_charts.py measures both).
"""

from __future__ import annotations

import importlib.util
import io
import math
from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.domain import texts
from bot.domain.progress import chart_label_indices

Point = tuple[date, float, float | None]  # day, weight in kg, body fat in % (None: unknown)

SCALE = 2  # drawn at twice the size, then halved: anti-aliasing for lines and markers
WIDTH, HEIGHT = 720, 900
LEFT, RIGHT = 92, 26  # room for the value axis on the left
INSET = 48  # the first and last point stay this far inside the panel (room for their labels)
LABEL_ROOM = 58  # above the highest point: room for its label
PANELS = (  # (title top, plot top, plot bottom) of the weight and the body fat panel
    (14, 62, 430),
    (458, 506, 822),
)
DATE_AXIS_Y = 836
WEIGHT_COLOUR, FAT_COLOUR = (46, 134, 222), (230, 126, 34)
TEXT, GRID, AXIS, MUTED = (34, 34, 34), (225, 225, 225), (150, 150, 150), (120, 120, 120)
TITLE_SIZE, TICK_SIZE, LABEL_SIZE = 25, 19, 17
COLOURS = 64  # the PNG's palette: flat colours and the anti-aliased edges between them
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)


def _font_dirs() -> list[Path]:
    """DejaVu (Cyrillic): matplotlib's bundled copy (a dependency), else the system's."""
    dirs = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs + [Path(d) for d in FONT_DIRS]


@cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in _font_dirs():
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size * SCALE)
    return ImageFont.load_default(size * SCALE)


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


class _Axis:
    """Maps one panel's values to pixels (at 1x)."""

    def __init__(self, values: Sequence[float], top: float, bottom: float, min_span: float) -> None:
        low, high = min(values), max(values)
        if high - low < min_span:
            middle = (high + low) / 2
            low, high = middle - min_span / 2, middle + min_span / 2
        self.low, self.high = low, high
        self.data_top, self.data_bottom = top + LABEL_ROOM, bottom - 26
        self.top, self.bottom = top, bottom

    def y(self, value: float) -> float:
        return self.data_bottom - (value - self.low) / (self.high - self.low) * (self.data_bottom - self.data_top)

    def value_at(self, y: float) -> float:
        return self.low + (self.data_bottom - y) / (self.data_bottom - self.data_top) * (self.high - self.low)

    def ticks(self) -> list[float]:
        shown_low, shown_high = self.value_at(self.bottom), self.value_at(self.top)
        step = _nice_step(shown_high - shown_low)
        first = math.ceil(shown_low / step) * step
        return [first + i * step for i in range(int((shown_high - first) / step) + 1)]


class _Canvas:
    """ImageDraw at SCALE, addressed in 1x pixels."""

    def __init__(self) -> None:
        self.image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.placed: list[tuple[float, float, float, float]] = []  # label boxes, 1x

    @staticmethod
    def _s(*values: float) -> list[float]:
        return [v * SCALE for v in values]

    def line(self, points: list[tuple[float, float]], colour, width: float) -> None:
        self.draw.line([(x * SCALE, y * SCALE) for x, y in points], fill=colour, width=round(width * SCALE),
                       joint="curve")

    def rule(self, x0: float, y0: float, x1: float, y1: float, colour) -> None:
        """A straight 1 px line on whole pixels (a line between two pixels would halve to a faint 2 px)."""
        self.draw.line([(round(x0) * SCALE, round(y0) * SCALE), (round(x1) * SCALE, round(y1) * SCALE)], fill=colour,
                       width=SCALE)

    def dot(self, x: float, y: float, radius: float, colour) -> None:
        self.draw.ellipse(self._s(x - radius, y - radius, x + radius, y + radius), fill=colour)

    def text(self, x: float, y: float, text: str, size: int, colour=TEXT, anchor: str = "la",
             bold: bool = False) -> None:
        self.draw.text((x * SCALE, y * SCALE), text, font=_font(size, bold), fill=colour, anchor=anchor)

    def obstacle(self, x: float, y: float, radius: float) -> None:
        """A point no label may cover."""
        self.placed.append((x - radius, y - radius, x + radius, y + radius))

    def label(self, x: float, y: float, text: str, limits: tuple[float, float]) -> None:
        """A boxed label above the point (below it when there is no room above), unless it would
        cover a label already placed or a point. `limits`: the panel's top and bottom."""
        font = _font(LABEL_SIZE)
        left, top, right, bottom = (v / SCALE for v in self.draw.multiline_textbbox(
            (0, 0), text, font=font, anchor="la", align="center", spacing=2 * SCALE))
        width, height = right - left + 10, bottom - top + 6
        # Above the point, below it, then above and beside it to the left or the right.
        for dx, dy in ((-width / 2, -12 - height), (-width / 2, 12), (-width + 12, -10 - height), (-12, -10 - height),
                       (-width - 10, -height / 2), (10, -height / 2)):
            x0 = min(max(x + dx, LEFT + 2), WIDTH - RIGHT - width)
            y0 = y + dy
            box = (x0, y0, x0 + width, y0 + height)
            if y0 < limits[0] - 4 or y0 + height > limits[1] - 2:
                continue
            if any(box[0] < b[2] + 3 and b[0] < box[2] + 3 and box[1] < b[3] + 2 and b[1] < box[3] + 2
                   for b in self.placed):
                continue
            self.placed.append(box)
            self.draw.rounded_rectangle(self._s(*box), radius=5 * SCALE, fill="white", outline=GRID,
                                        width=SCALE)
            self.draw.multiline_text(((x0 + width / 2) * SCALE, (y0 + 3 - top) * SCALE), text, font=font,
                                     fill=TEXT, anchor="ma", align="center", spacing=2 * SCALE)
            return

    def png(self) -> bytes:
        small = self.image.reduce(SCALE)
        out = io.BytesIO()
        small.quantize(COLOURS, method=Image.Quantize.FASTOCTREE).save(out, "PNG", compress_level=6)
        return out.getvalue()


def _x_positions(days: Sequence[date]) -> tuple[list[float], Callable[[float], float]]:
    first, last = days[0].toordinal(), days[-1].toordinal()
    left, right = LEFT + INSET, WIDTH - RIGHT - INSET

    def x(ordinal: float) -> float:
        return (left + right) / 2 if last == first else left + (ordinal - first) / (last - first) * (right - left)

    return [x(d.toordinal()) for d in days], x


def _date_ticks(days: Sequence[date]) -> list[date]:
    first, last = days[0].toordinal(), days[-1].toordinal()
    span = last - first
    count = 1 if span == 0 else 2 if span < 21 else 3 if span < 60 else 4
    if count == 1:
        return [days[0]]
    return sorted({date.fromordinal(round(first + i * span / (count - 1))) for i in range(count)})


OBSTACLES_UP_TO = 40  # points that labels must not cover; a denser history is all line


def _series(canvas: _Canvas, xs: list[float], ys: list[float | None], colour, many: int) -> None:
    width = 3 if many <= 100 else 2
    radius = 5.5 if many <= 30 else 3.5 if many <= 100 else 2.2
    run: list[tuple[float, float]] = []
    for x, y in [*zip(xs, ys, strict=True), (0.0, None)]:
        if y is None:  # a gap (no value): the line breaks here
            if len(run) > 1:
                canvas.line(run, colour, width)
            run = []
        else:
            run.append((x, y))
    for x, y in zip(xs, ys, strict=True):
        if y is not None:
            canvas.dot(x, y, radius, colour)
            if many <= OBSTACLES_UP_TO:
                canvas.obstacle(x, y, radius + 1)


def _panel(canvas: _Canvas, panel: tuple[int, int, int], title: str, axis: _Axis | None,
           tick_xs: list[float]) -> None:
    title_top, top, bottom = panel
    canvas.text(20, title_top, title, TITLE_SIZE, bold=True)
    for x in tick_xs:
        canvas.rule(x, top, x, bottom, GRID)
    if axis is not None:
        for value in axis.ticks():
            y = axis.y(value)
            if top <= y <= bottom:
                canvas.rule(LEFT, y, WIDTH - RIGHT, y, GRID)
                canvas.text(LEFT - 10, y, texts.format_number(value, 2), TICK_SIZE, MUTED, anchor="rm")
    canvas.rule(LEFT, bottom, WIDTH - RIGHT, bottom, AXIS)
    canvas.rule(LEFT, top, LEFT, bottom, AXIS)


def render_progress_chart(points: Sequence[Point]) -> bytes:
    """PNG of weight (top) and body fat (bottom) over the dated points, in date order."""
    if not points:
        raise ValueError("a progress chart needs at least one measurement")
    days = [p[0] for p in points]
    weights = [p[1] for p in points]
    fats = [p[2] for p in points]
    known_fats = [f for f in fats if f is not None]
    canvas = _Canvas()
    xs, x_of = _x_positions(days)
    ticks = _date_ticks(days)
    tick_xs = [x_of(d.toordinal()) for d in ticks]

    weight_axis = _Axis(weights, PANELS[0][1], PANELS[0][2], min_span=2.0)
    fat_axis = _Axis(known_fats, PANELS[1][1], PANELS[1][2], min_span=2.0) if known_fats else None
    _panel(canvas, PANELS[0], texts.CHART_TITLE, weight_axis, tick_xs)
    _panel(canvas, PANELS[1], texts.CHART_BODY_FAT_TITLE, fat_axis, tick_xs)
    for x, day in zip(tick_xs, ticks, strict=True):
        canvas.text(x, DATE_AXIS_Y, texts.format_date(day), TICK_SIZE, MUTED, anchor="ma")

    weight_ys: list[float | None] = [weight_axis.y(w) for w in weights]
    _series(canvas, xs, weight_ys, WEIGHT_COLOUR, len(points))
    if fat_axis is None:
        top, bottom = PANELS[1][1], PANELS[1][2]
        canvas.text((LEFT + WIDTH - RIGHT) / 2, (top + bottom) / 2, texts.CHART_NO_BODY_FAT, TICK_SIZE, MUTED,
                    anchor="mm")
        fat_ys: list[float | None] = [None] * len(points)
    else:
        fat_ys = [None if f is None else fat_axis.y(f) for f in fats]
        _series(canvas, xs, fat_ys, FAT_COLOUR, len(points))

    # Labels in order of importance: the latest, the first, the lowest, the highest, the rest.
    chosen = chart_label_indices(weights)
    first_rank = [len(points) - 1, 0, weights.index(min(weights)), weights.index(max(weights))]
    order = sorted(chosen, key=lambda i: (first_rank.index(i) if i in first_rank else len(first_rank), i))
    for i in order:
        canvas.label(xs[i], weight_ys[i], texts.chart_point_label(weights[i], days[i]), PANELS[0][1:])
    for i in order:
        fat_y = fat_ys[i]
        if fat_y is not None:
            canvas.label(xs[i], fat_y, texts.chart_body_fat_label(fats[i]), PANELS[1][1:])
    return canvas.png()
