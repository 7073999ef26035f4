"""The NSGA-II front as a picture: confidence against naturalness, one colour per target class."""
from __future__ import annotations

import io
from typing import Sequence


def pareto_plot(points: Sequence[dict]) -> bytes:
    """PNG bytes of a scatter of `points` (dicts with class_name, confidence, naturalness)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    for name in dict.fromkeys(p["class_name"] for p in points):
        front = sorted((p for p in points if p["class_name"] == name), key=lambda p: p["confidence"])
        # Clipped for the logit axis, where a float32 confidence of exactly 1 would sit at infinity.
        ax.plot([min(max(p["confidence"], 1e-6), 1 - 1e-7) for p in front], [p["naturalness"] for p in front],
                "o-", ms=4, lw=1, label=f"{name} ({len(front)})")
    ax.set_xscale("logit")  # spreads out 0.99, 0.999, 0.9999, where fooling images live
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.6g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("target confidence (logit scale)")
    ax.set_ylabel("naturalness (1 = photo-like)")
    ax.set_title("NSGA-II Pareto front")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
