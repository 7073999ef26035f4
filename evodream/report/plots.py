"""Figures as PNG bytes (matplotlib, Agg backend: no display needed), drawn from run records only."""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from .load import RunRecord  # noqa: E402

# Confidences of exactly 0 or 1 (float32 saturates) have no logit; clip them just inside.
LOW, HIGH = 1e-5, 1 - 1e-7


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _percent(p: float, _position=None) -> str:
    """Probability ticks as percentages with just enough digits: 99%, 99.99%, 99.99999%, 0.01%."""
    if not 0 < p < 1:
        return ""
    tail = 1 - p if p >= 0.5 else p
    digits = max(0, math.ceil(round(-math.log10(tail), 6)) - 2)
    return f"{p * 100:.{digits}f}%"


def _logit_axis(axis) -> None:
    axis.set_major_formatter(FuncFormatter(_percent))
    axis.set_minor_formatter(NullFormatter())


def _colours(n: int):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _thresholds(ax, horizontal: bool = True):
    for level, label in ((0.99, "99%"), (0.9999, "99.99%")):
        line = ax.axhline if horizontal else ax.axvline
        line(level, color="grey", linestyle=":", linewidth=0.8)
        if horizontal:
            ax.annotate(label, (1.0, level), xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                        xytext=(2, 0), textcoords="offset points", va="center")


def confidence_curves(records: list[RunRecord]) -> bytes:
    """Best (solid) and median (dashed) target confidence against evaluations, every run on one axis."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for record, colour in zip(records, _colours(len(records))):
        x = np.maximum(record.metrics["evaluations"], 1)
        ax.plot(x, np.clip(record.metrics["best"], LOW, HIGH), color=colour, linewidth=1.4,
                label=f"{record.name} — best")
        ax.plot(x, np.clip(record.metrics["median"], LOW, HIGH), color=colour, linewidth=1.4, linestyle="--",
                label=f"{record.name} — median")
    ax.set_xscale("log")
    ax.set_yscale("logit")
    _logit_axis(ax.yaxis)
    _thresholds(ax)
    ax.set_xlabel("evaluations (images scored by the classifier)")
    ax.set_ylabel("target confidence (logit scale)")
    ax.set_title("Best and median confidence over targets")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.06, 1.0))
    return _png(fig)


def reached_curves(records: list[RunRecord]) -> bytes:
    """Share of targets at >= 99% (solid) and >= 99.99% (dashed) against evaluations."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for record, colour in zip(records, _colours(len(records))):
        x = np.maximum(record.metrics["evaluations"], 1)
        n = len(record.target_names)
        for key, style in (("reached_0.99", "-"), ("reached_0.9999", "--")):
            if key in record.metrics:
                ax.step(x, record.metrics[key] / n, where="post", color=colour, linestyle=style,
                        linewidth=1.4,
                        label=f"{record.name} — {'≥ 99%' if key.endswith('0.99') else '≥ 99.99%'}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("share of targets")
    ax.set_title("Targets reached")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _png(fig)


def naturalness_scatter(records: list[RunRecord]) -> bytes | None:
    """Each elite's naturalness against its confidence; None when no elite records a naturalness."""
    if not any(e.naturalness is not None for r in records for e in r.elites):
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for record, colour in zip(records, _colours(len(records))):
        points = [(e.confidence, e.naturalness) for e in record.elites if e.naturalness is not None]
        if points:
            c, n = np.array(points).T
            ax.scatter(np.clip(c, LOW, HIGH), n, color=colour, s=22, alpha=0.8, label=record.name,
                       edgecolors="none")
    ax.set_xscale("logit")
    _logit_axis(ax.xaxis)
    _thresholds(ax, horizontal=False)
    ax.set_xlabel("target confidence (logit scale)")
    ax.set_ylabel("naturalness (higher = more photo-like)")
    ax.set_title("Naturalness against confidence, one point per elite")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _png(fig)
