"""Charts and image grids for reports, as PNG bytes: matplotlib's Agg backend into memory, PIL for grids.

    numbers (already computed) -> *_figure (a matplotlib Figure, inspectable in tests) -> figure_png -> bytes
    uint8 images (N, C, H, W) -> image_grid -> bytes;  bytes -> data_uri -> "data:image/png;base64,..."

Nothing here computes a statistic: callers pass values and their interval ends. Figures are built on
`matplotlib.figure.Figure` directly (never pyplot), so no global figure state or GUI backend is involved,
and matplotlib's own rc settings are only changed inside `rc_context`. matplotlib is imported on first
use, so importing ganeval.report stays cheap for commands that never draw.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DPI = 100
TICK_CHARS = 22  # longer axis labels (run or group names) are cut, so the plot area keeps its size
# text.parse_math off: labels are user text (run, folder, class names), drawn literally; "$x^$" would
# otherwise be parsed as mathtext and fail.
_RC = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10,
       "figure.dpi": DPI, "text.parse_math": False}


@dataclass(frozen=True)
class Estimate:
    """A number with an optional interval [low, high] (e.g. a bootstrap CI); None or NaN means missing."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @property
    def present(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    @property
    def has_interval(self) -> bool:
        return self.present and _finite(self.low) and _finite(self.high)


@dataclass(frozen=True)
class LineSeries:
    """One line of a line chart: y over x, an optional band [low, high], optional labels at the points.

    x, y: equal-length sequences of floats (NaN or None points are left out of the line).
    point_labels: text written beside each point (e.g. the truncation psi on a precision-recall curve).
    color: a matplotlib colour, to keep one colour per run across charts (default: PALETTE by position).
    """

    name: str
    x: Sequence[float]
    y: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None
    point_labels: Sequence[str] | None = None
    color: str | None = None


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))


def _tick(label: object, limit: int = TICK_CHARS) -> str:
    text = str(label)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _as_estimate(v: Estimate | float | None) -> Estimate:
    return v if isinstance(v, Estimate) else Estimate(None if v is None else float(v))


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_png(fig: Figure) -> bytes:
    """Render a Figure to PNG bytes with the Agg backend (no display, no files)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes, mime: str = "image/png") -> str:
    """`png` as a data: URI, so a page can show it with no file beside it and no request."""
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


# -- bar charts -------------------------------------------------------------------------------------------

def _draw_bars(ax: Any, categories: Sequence[str], series: Mapping[str, Sequence[Estimate | float | None]],
               reference: float | None) -> None:
    n_series = max(1, len(series))
    width = 0.8 / n_series
    x = np.arange(len(categories), dtype=float)
    for s, (name, values) in enumerate(series.items()):
        ests = [_as_estimate(v) for v in values]
        if len(ests) != len(categories):
            raise ValueError(f"series {name!r} has {len(ests)} values for {len(categories)} categories")
        pos = x - 0.4 + width * (s + 0.5)
        heights = [e.value if e.present else 0.0 for e in ests]
        color = PALETTE[s % len(PALETTE)]
        bars = ax.bar(pos, heights, width * 0.92, label=name, color=color)
        for bar, e in zip(bars, ests):
            if not e.present:
                bar.set_visible(False)
                ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom",
                            fontsize=7, color="#666666")
        with_ci = [i for i, e in enumerate(ests) if e.has_interval]
        if with_ci:
            # errorbar wants distances, not ends: centre the whisker on the interval itself, because a
            # biased statistic's percentile interval (KL, FID) need not contain its point estimate.
            mid = [(ests[i].low + ests[i].high) / 2 for i in with_ci]
            half = [(ests[i].high - ests[i].low) / 2 for i in with_ci]
            ax.errorbar(pos[with_ci], mid, yerr=half, fmt="none",
                        ecolor="#222222", elinewidth=1.2, capsize=4, gid="ci")
    if reference is not None and math.isfinite(reference):
        ax.axhline(reference, color="#555555", linestyle="--", linewidth=1, label="overall")
    labels = [_tick(c) for c in categories]
    # slant when the labels would collide: long ones, or many short ones in a narrow panel
    slanted = max((len(t) for t in labels), default=0) > 8 or sum(len(t) + 1 for t in labels) > 24
    ax.set_xticks(x, labels, rotation=30 if slanted else 0, ha="right" if slanted else "center")
    if len(series) > 1 or reference is not None:
        ax.legend(frameon=False, fontsize=8)


def bar_figure(categories: Sequence[str], series: Mapping[str, Sequence[Estimate | float | None]], *,
               title: str = "", ylabel: str = "", ylim: tuple[float, float] | None = None,
               reference: float | None = None) -> Figure:
    """Grouped bars: one cluster per category, one bar per series, CI whiskers where an interval is given.

    categories: the x-axis labels (e.g. metrics, groups, runs). series: {name: one Estimate (or float, or
    None for missing) per category}. reference: a dashed horizontal line (e.g. the overall value).
    """
    fig = _new_figure(max(3.2, 0.9 + 0.55 * len(categories) * max(1, len(series)) ** 0.5), 2.8)
    ax = fig.add_subplot()
    _draw_bars(ax, categories, series, reference)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return fig


def bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[Estimate | float | None]],
              **kwargs: Any) -> bytes:
    """`bar_figure` rendered as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return figure_png(bar_figure(categories, series, **kwargs))


def bar_panels_figure(panels: Mapping[str, tuple[Sequence[str], Sequence[Estimate | float | None]]], *,
                      columns: int = 4) -> Figure:
    """Small multiples: one bar chart per panel {title: (categories, estimates)}, each on its own scale.

    For numbers on different scales side by side (FID in tens, precision in [0, 1]), e.g. several runs
    per metric.
    """
    n = max(1, len(panels))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    longest = max((len(_tick(c)) for cats, _ in panels.values() for c in cats), default=0)
    fig = _new_figure(2.6 * cols + 0.4, (2.3 + (0.08 * longest if longest > 8 else 0)) * rows)
    for i, (title, (cats, ests)) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        _draw_bars(ax, cats, {title: ests}, None)
        ax.set_title(title)
    return fig


def bar_panels(panels: Mapping[str, tuple[Sequence[str], Sequence[Estimate | float | None]]],
               **kwargs: Any) -> bytes:
    """`bar_panels_figure` rendered as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return figure_png(bar_panels_figure(panels, **kwargs))


# -- line charts ------------------------------------------------------------------------------------------

def _floats(values: Sequence[Any] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    out = np.array([float(v) if _finite(v) else np.nan for v in values], dtype=float)
    if out.shape != (n,):
        raise ValueError(f"expected {n} values, got {len(values)}")
    return out


def line_figure(series: Sequence[LineSeries], *, title: str = "", xlabel: str = "", ylabel: str = "",
                logy: bool = False, markers: bool = True) -> Figure:
    """Lines (e.g. training losses over steps, FID over psi, precision over recall) with optional bands."""
    fig = _new_figure(5.6, 3.0)
    ax = fig.add_subplot()
    for s, line in enumerate(series):
        x = _floats(line.x, len(line.x))
        y = _floats(line.y, len(x))
        ok = np.isfinite(x) & np.isfinite(y)
        color = line.color or PALETTE[s % len(PALETTE)]
        ax.plot(x[ok], y[ok], marker="o" if markers else None, markersize=3, linewidth=1.4, color=color,
                label=line.name)
        if line.low is not None and line.high is not None:
            lo, hi = _floats(line.low, len(x)), _floats(line.high, len(x))
            band = ok & np.isfinite(lo) & np.isfinite(hi)
            if band.any():
                ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.2, linewidth=0)
        if line.point_labels is not None:
            for xi, yi, text, keep in zip(x, y, line.point_labels, ok):
                if keep:
                    ax.annotate(str(text), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8)
    return fig


def line_chart(series: Sequence[LineSeries], **kwargs: Any) -> bytes:
    """`line_figure` rendered as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return figure_png(line_figure(series, **kwargs))


# -- heatmaps ---------------------------------------------------------------------------------------------

def heatmap_figure(matrix: Any, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "",
                   colorbar_label: str = "", center: float | None = None, annotate: bool = True,
                   fmt: str = ".2g") -> Figure:
    """A matrix (rows x columns, floats; NaN cells blank) as coloured cells, e.g. latent-attribute associations.

    center: for signed values (correlations), a diverging colour map symmetric about this value;
    otherwise a sequential one.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix of shape {m.shape} does not fit {len(row_labels)} x {len(col_labels)} labels")
    fig = _new_figure(max(3.5, 1.6 + 0.45 * m.shape[1]), max(2.4, 1.0 + 0.32 * m.shape[0]))
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    if center is not None:
        span = float(np.max(np.abs(finite - center))) if finite.size else 1.0
        span = span or 1.0
        image = ax.imshow(np.ma.masked_invalid(m), cmap="RdBu_r", vmin=center - span, vmax=center + span,
                          aspect="auto")
    else:
        image = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", aspect="auto")
    ax.set_xticks(range(m.shape[1]), [_tick(c) for c in col_labels], rotation=45 if m.shape[1] > 4 else 0,
                  ha="right" if m.shape[1] > 4 else "center")
    ax.set_yticks(range(m.shape[0]), [_tick(r) for r in row_labels])
    ax.spines[:].set_visible(False)
    if annotate and m.size <= 400:
        lo, hi = image.get_clim()
        for (i, j), v in np.ndenumerate(m):
            if math.isfinite(v):
                dark = (v - lo) / ((hi - lo) or 1.0)
                light_text = dark < 0.5 if center is None else abs(dark - 0.5) > 0.3
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7,
                        color="white" if light_text else "black")
    fig.colorbar(image, ax=ax, label=colorbar_label, shrink=0.9)
    ax.set_title(title)
    return fig


def heatmap(matrix: Any, row_labels: Sequence[str], col_labels: Sequence[str], **kwargs: Any) -> bytes:
    """`heatmap_figure` rendered as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        return figure_png(heatmap_figure(matrix, row_labels, col_labels, **kwargs))


# -- image grids ------------------------------------------------------------------------------------------

def as_uint8_nchw(images: Any, what: str = "images") -> np.ndarray:
    """A uint8 (N, C, H, W) array with C in {1, 3} (numpy or torch input); ValueError otherwise."""
    a = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"{what} must be uint8 (N, C, H, W) with C 1 or 3, got {a.dtype} {tuple(a.shape)}")
    return a


def shrink(images: Any, max_side: int) -> np.ndarray:
    """uint8 (N, C, H, W) images scaled down (Lanczos, aspect kept) so neither side exceeds `max_side`.

    For display only: big samples would make a report tens of megabytes. Smaller images are returned as is.
    """
    from PIL import Image

    a = as_uint8_nchw(images)
    n, c, h, w = a.shape
    if max(h, w) <= max_side:
        return a
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = []
    for im in a:
        pil = Image.fromarray(im[0] if c == 1 else im.transpose(1, 2, 0))
        small = np.asarray(pil.resize(size, Image.Resampling.LANCZOS))
        out.append(small[None] if c == 1 else small.transpose(2, 0, 1))
    return np.stack(out)


def grid_array(images: Any, *, columns: int = 8, max_images: int = 64, pad: int = 2,
               background: int = 255) -> np.ndarray:
    """Tile the first `max_images` of uint8 (N, C, H, W) images into one (rows*(H+pad)+pad, ..., 3) array.

    Image i sits at row i // columns, column i % columns, its top-left pixel at
    (pad + row * (H + pad), pad + column * (W + pad)); gaps are `background`. Grayscale is repeated to RGB.
    """
    a = as_uint8_nchw(images)[:max_images]
    n, c, h, w = a.shape
    if n == 0:
        raise ValueError("no images to tile")
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    grid = np.full((pad + rows * (h + pad), pad + cols * (w + pad), 3), background, dtype=np.uint8)
    hwc = np.repeat(a, 3, axis=1) if c == 1 else a
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = hwc[i].transpose(1, 2, 0)
    return grid


def image_grid(images: Any, *, max_side: int | None = None, **kwargs: Any) -> bytes:
    """`grid_array` as lossless PNG bytes; with `max_side`, larger images are first `shrink`-ed to it."""
    if max_side is not None:
        images = shrink(as_uint8_nchw(images)[:kwargs.get("max_images", 64)], max_side)
    return png_bytes(grid_array(images, **kwargs))


def png_bytes(rgb: np.ndarray) -> bytes:
    """A uint8 (H, W, 3) or (H, W) array as lossless PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of PNG bytes, read from the IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
