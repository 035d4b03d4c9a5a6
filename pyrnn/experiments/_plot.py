"""Line plots without dependencies: a small SVG writer (always), plus a PNG through
matplotlib when it is installed. The numbers behind every plot also go to a CSV.

``save_line_plot`` writes ``<stem>.svg``, ``<stem>.csv`` and, with matplotlib,
``<stem>.png``; it returns the paths written.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union
from xml.sax.saxutils import escape

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


@dataclass
class Series:
    """One line: x and y values (NaN/Inf points are skipped), a label, optional style."""

    x: Sequence[float]
    y: Sequence[float]
    label: str
    color: Optional[str] = None
    dashed: bool = False


@dataclass
class Plot:
    """A plot of several series with axis labels; ``vlines`` are (x, label) markers and
    ``hlines`` (y, label) reference levels (e.g. a baseline)."""

    title: str
    xlabel: str
    ylabel: str
    series: List[Series] = field(default_factory=list)
    logy: bool = False
    vlines: List[Tuple[float, str]] = field(default_factory=list)
    hlines: List[Tuple[float, str]] = field(default_factory=list)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    v = start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:g}{unit}"
    if abs(v) < 1e-2:
        return f"{v:.0e}"
    return f"{v:g}"


def to_svg(plot: Plot, width: int = 720, height: int = 420) -> str:
    """The plot as a standalone SVG document (wider than ``width`` if the legend needs it)."""
    longest = max((len(s.label) for s in plot.series), default=0)
    left, top, bottom = 70, 40, 55
    right = 50 + int(6.8 * longest)  # room for the legend beside the plot
    width = max(width, left + 460 + right)
    pw, ph = width - left - right, height - top - bottom
    pts: List[Tuple[np.ndarray, np.ndarray]] = []
    for s in plot.series:
        x = np.asarray(s.x, dtype=np.float64)
        y = np.asarray(s.y, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        if plot.logy:
            ok &= y > 0
        pts.append((x[ok], y[ok]))
    xs = np.concatenate([p[0] for p in pts]) if pts else np.zeros(0)
    ys = np.concatenate([p[1] for p in pts]) if pts else np.zeros(0)
    extra_y = [v for v, _ in plot.hlines if not plot.logy or v > 0]
    if len(xs) == 0:
        xs, ys = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    xlo, xhi = float(xs.min()), float(xs.max())
    ylo, yhi = float(min(ys.min(), *extra_y)) if extra_y else float(ys.min()), \
        float(max(ys.max(), *extra_y)) if extra_y else float(ys.max())
    if xhi <= xlo:
        xhi = xlo + 1.0
    if plot.logy:
        ylo, yhi = math.log10(ylo), math.log10(yhi)
        if yhi - ylo < 1:
            ylo, yhi = ylo - 0.5, yhi + 0.5
        lo_dec, hi_dec = math.floor(ylo), math.ceil(yhi)
        step = max(1, math.ceil((hi_dec - lo_dec) / 8))  # at most ~8 labelled decades
        lo_dec = hi_dec - step * math.ceil((hi_dec - lo_dec) / step)
        yticks = list(range(lo_dec, hi_dec + 1, step))
        ylo, yhi = float(lo_dec), float(hi_dec)
    else:
        pad = 0.05 * (yhi - ylo) if yhi > ylo else 1.0
        ylo, yhi = ylo - pad, yhi + pad
        yticks = _nice_ticks(ylo, yhi)

    def X(v: float) -> float:
        return left + (v - xlo) / (xhi - xlo) * pw

    def Y(v: float) -> float:
        if plot.logy:
            v = math.log10(v) if v > 0 else ylo
        return top + (1 - (v - ylo) / (yhi - ylo)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15">'
           f'{escape(plot.title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for t in _nice_ticks(xlo, xhi, 6):
        if xlo <= t <= xhi:
            out.append(f'<line x1="{X(t):.1f}" y1="{top + ph}" x2="{X(t):.1f}" y2="{top + ph + 5}" '
                       f'stroke="#444"/><text x="{X(t):.1f}" y="{top + ph + 18}" '
                       f'text-anchor="middle">{_fmt_tick(t)}</text>')
    for t in yticks:
        v = 10.0 ** t if plot.logy else t
        if not plot.logy and not ylo <= t <= yhi:
            continue
        y = Y(v)
        label = f"1e{int(t)}" if plot.logy else _fmt_tick(t)
        out.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                   f'stroke="#ddd"/><text x="{left - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{label}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">'
               f'{escape(plot.xlabel)}</text>')
    out.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {top + ph / 2})">{escape(plot.ylabel)}</text>')
    for v, label in plot.hlines:
        if plot.logy and v <= 0:
            continue
        out.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{left + pw}" y2="{Y(v):.1f}" '
                   f'stroke="#000" stroke-dasharray="2,3"/><text x="{left + 4}" '
                   f'y="{Y(v) - 4:.1f}" fill="#000">{escape(label)}</text>')
    for v, label in plot.vlines:
        if xlo <= v <= xhi:
            out.append(f'<line x1="{X(v):.1f}" y1="{top}" x2="{X(v):.1f}" y2="{top + ph}" '
                       f'stroke="#000" stroke-dasharray="4,3"/><text x="{X(v) + 4:.1f}" '
                       f'y="{top + 14}">{escape(label)}</text>')
    for i, (s, (x, y)) in enumerate(zip(plot.series, pts)):
        color = s.color or PALETTE[i % len(PALETTE)]
        if len(x):
            step = max(1, len(x) // 2000)  # keep files small: at most ~2000 points a line
            path = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(x[::step], y[::step]))
            dash = ' stroke-dasharray="6,4"' if s.dashed else ""
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                       f'points="{path}"/>')
        ly = top + 14 + 18 * i
        out.append(f'<line x1="{left + pw + 10}" y1="{ly - 4}" x2="{left + pw + 30}" '
                   f'y2="{ly - 4}" stroke="{color}" stroke-width="2"/><text '
                   f'x="{left + pw + 35}" y="{ly}">{escape(s.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_csv(plot: Plot) -> str:
    """Long-format CSV of every series: series,x,y."""
    lines = ["series,x,y"]
    for s in plot.series:
        label = s.label.replace('"', "'")
        for a, b in zip(s.x, s.y):
            lines.append(f'"{label}",{float(a):.6g},{float(b):.6g}')
    return "\n".join(lines) + "\n"


def _png(plot: Plot, path: Path) -> bool:
    """Draw with matplotlib if it is installed (Agg backend: no display needed)."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - optional dependency, any import failure means "no PNG"
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for i, s in enumerate(plot.series):
        ax.plot(s.x, s.y, label=s.label, color=s.color or PALETTE[i % len(PALETTE)],
                linestyle="--" if s.dashed else "-")
    for v, label in plot.hlines:
        ax.axhline(v, color="k", linestyle=":", linewidth=1, label=label)
    for v, label in plot.vlines:
        ax.axvline(v, color="k", linestyle="--", linewidth=1)
    if plot.logy:
        ax.set_yscale("log")
    ax.set_title(plot.title)
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def save_line_plot(plot: Plot, folder: Union[str, os.PathLike], stem: str,
                   png: bool = True) -> Dict[str, str]:
    """Write ``stem``.svg and ``stem``.csv (and, with ``png`` and matplotlib installed,
    ``stem``.png) into folder. Returns {"svg": path, "csv": path[, "png": path]}.

    matplotlib may create its font cache in the user's cache folder on first use; callers
    that promise to write nothing outside their folder pass ``png=False``.
    """
    folder = Path(folder)
    written = {}
    svg = folder / f"{stem}.svg"
    svg.write_text(to_svg(plot), encoding="utf-8")
    written["svg"] = str(svg)
    csv = folder / f"{stem}.csv"
    csv.write_text(to_csv(plot), encoding="utf-8")
    written["csv"] = str(csv)
    png_path = folder / f"{stem}.png"
    if png and _png(plot, png_path):
        written["png"] = str(png_path)
    return written
