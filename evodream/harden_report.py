"""The report of a harden run: harden.csv, harden.md, the plot over rounds and the images per round.

Drawn from harden.json and the rounds' images.npz only, so it is rewritten after every round.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .runs import write_atomic, write_image  # noqa: E402

COLUMNS = ["round", "classes", "train_images", "train_fooling", "held_out_accuracy", "held_out_as_fooling",
           "previous_train_as_fooling", "previous_held_out_as_fooling", "runs", "runs_all_fooled",
           "evals_to_all_99_median", "evals_to_all_9999_median", "median_confidence_at_budget",
           "min_confidence_at_budget", "final_median_confidence", "images_fooling", "evaluations",
           "train_seconds", "wall_seconds"]


def write_report(out: Path, state: dict) -> None:
    rounds = state["rounds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rounds)
    write_atomic(out / "harden.csv", buffer.getvalue().encode())
    write_atomic(out / "harden.png", plot(rounds, state["config"]))
    write_image(out / "rounds.png", rounds_picture(out, len(rounds)))
    write_atomic(out / "harden.md", markdown(state).encode())


def _pct(value, digits=2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _num(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def table(rounds: list[dict], budget: int) -> str:
    """The per-round table in Markdown (the README's is this, pasted)."""
    head = (
        "| round | classes | training images (fooling) | held-out digit acc. | last round's images "
        "labelled fooling: trained / unseen | runs fooled 10/10 | median evals to 10/10 ≥ 99% / ≥ 99.99% "
        f"| median (min) confidence at {budget:,} evals | final images: median, share ≥ 99.99% | wall s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rounds:
        lines.append(
            f"| {r['round']} | {r['classes']} | {r['train_images']:,} ({r['train_fooling']:,}) "
            f"| {_pct(r['held_out_accuracy'], 1)} "
            f"| {_pct(r['previous_train_as_fooling'], 1)} / {_pct(r['previous_held_out_as_fooling'], 1)} "
            f"| {r['runs_all_fooled']}/{r['runs']} | {_num(r['evals_to_all_99_median'])} / "
            f"{_num(r['evals_to_all_9999_median'])} "
            f"| {_pct(r['median_confidence_at_budget'])} ({_pct(r['min_confidence_at_budget'])}) "
            f"| {_pct(r['final_median_confidence'])}, {_pct(r['images_fooling'], 0)} "
            f"| {r['wall_seconds']:.0f} |")
    return "\n".join(lines)


def markdown(state: dict) -> str:
    config, rounds = state["config"], state["rounds"]
    text = [
        f"# Retraining against fooling images: {config['model']}",
        "",
        "Round 0 evolves against the network as given; round r >= 1 trains a fresh "
        f"{len(state['classes']) + 1}-class network with every earlier round's training images as class "
        f"\"fooling\" and evolves again. Per round: {config['images_per_class']} evolve runs whose images "
        f"join the training set and {config['held_out_runs']} kept out; {config['encoding']} genomes, "
        f"{config['recipe']} recipe, each run stops once every class holds 99.99% or at "
        f"{config['max_evals']:,} evaluations; seed {config['seed']}.",
        "",
        table(rounds, config["budget"]),
        "",
        "Columns: *held-out digit acc.* — the round's network on the held-out set (a digit labelled "
        "fooling counts as wrong); *last round's images labelled fooling* — of the previous round's "
        "images, those in this network's training set / those kept out of it; *evals to 10/10* — median "
        "over runs of the evaluations until every class held the bar (– when most runs never got there).",
        "",
        "![metrics over rounds](harden.png)",
        "",
        "![one run's images per round](rounds.png)",
        "",
    ]
    for r in rounds:
        text.append(f"- round {r['round']}: [images](round-{r['round']:02d}/images.png)")
    return "\n".join(text) + "\n"


def plot(rounds: list[dict], config: dict) -> bytes:
    x = [r["round"] for r in rounds]

    def series(key):
        return [np.nan if r[key] is None else r[key] for r in rounds]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    cap = config["max_evals"]
    for key, marker, label in (
        ("evals_to_all_99_median", "o", "≥ 99%"),
        ("evals_to_all_9999_median", "s", "≥ 99.99%"),
    ):
        values = series(key)
        line = ax.plot(x, values, marker + "-", label=label)[0]
        missed = [i for i, v in zip(x, values) if np.isnan(v)]  # the median run hit the cap first
        ax.plot(missed, [cap] * len(missed), marker, mfc="none", color=line.get_color())
    ax.set_yscale("log")
    ax.set_title("median evaluations until all classes fooled")
    ax.axhline(cap, color="grey", lw=0.8, ls=":", label="cap per run (hollow: not reached)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(
        x, series("median_confidence_at_budget"), "o-", label=f"median class at {config['budget']:,} evals"
    )
    ax.plot(x, series("min_confidence_at_budget"), "s-", label=f"worst class at {config['budget']:,} evals")
    ax.plot(x, series("images_fooling"), "^-", label="final images ≥ 99.99%")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("confidence of evolved images")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(x, series("held_out_accuracy"), "o-", label="held-out digit accuracy")
    ax.plot(x, series("previous_held_out_as_fooling"), "s-", label="last round's unseen images → fooling")
    ax.plot(x, series("previous_train_as_fooling"), "^--", label="last round's trained images → fooling")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("the retrained network")
    ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("round")
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def rounds_picture(out: Path, count: int, tile: int = 48):
    """The first training run's image per class, one row per round, labelled with its confidence."""
    from .harden import load_images
    from .images import labelled_grid, to_pil

    pictures, labels, columns = [], [], None
    for number in range(count):
        data = load_images(out / f"round-{number:02d}")
        first = data["runs"] == data["runs"].min()
        columns = columns or int(first.sum())
        for image, target, confidence in zip(data["images"][first], data["targets"][first],
                                             data["confidences"][first]):
            pictures.append(to_pil(torch.from_numpy(image), tile))
            labels.append(f"r{number}: {target}\n{confidence * 100:.2f}%")
    return labelled_grid(pictures, labels, columns=columns, tile=tile)
