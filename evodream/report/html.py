"""One self-contained HTML page: tables, figures and elite images inlined as base64 PNGs, so the
file opens from disk with no server and survives being mailed or moved."""
from __future__ import annotations

import base64
import html
import io
import time
from itertools import groupby

from PIL import Image

from ..errors import EvodreamError
from .load import RunRecord
from .tables import DISPLAY_COLUMNS, NOTES, fmt_confidence

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px 32px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } \
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f3f3f3; font-weight: 600; } \
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #666; font-size: 12px; } figure { margin: 12px 0; } figure img { max-width: 100%; }
table.grid td { text-align: center; vertical-align: top; padding: 4px; }
table.grid img { image-rendering: pixelated; display: block; margin: 0 auto; border: 1px solid #eee; }
table.grid .cap { font-size: 11px; line-height: 1.25; max-width: 120px; overflow-wrap: anywhere; }
.hi { color: #0a6b0a; font-weight: 600; } .lo { color: #a33; }
#broken { display: none; background: #fdd; padding: 8px; border: 1px solid #c66; }
"""

# Marks the page with how many images decoded, so a headless browser can check it (scripts/check_report.py).
CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
  if (ok !== imgs.length) { document.getElementById("broken").style.display = "block"; }
});
"""

NUMERIC = {"evaluations", "wall_seconds", "reached_0.99", "reached_0.9999", "median_confidence",
           "min_confidence", "evals_to_0.99", "evals_to_0.9999", "mean_naturalness", "mean_confidence",
           "top1_rate"}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(path, tile: int) -> bytes:
    try:
        with Image.open(path) as picture:
            picture = picture.convert("RGB")
            # Small images (MNIST 28 px) are enlarged with sharp pixel blocks, large ones smoothed down.
            resample = Image.NEAREST if picture.width < tile else Image.LANCZOS
            picture = picture.resize((tile, tile), resample)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # cut short, not a PNG, a folder
        raise EvodreamError(f"{path} is not a readable picture ({exc.__class__.__name__}): the run's "
                            "elites are corrupt; restore them or leave the run out") from None
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _table(rows: list[dict], columns: list[tuple], row_attr: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in columns)
    body = []
    for row in rows:
        attr = f' data-{row_attr}="{html.escape(row[row_attr])}"' if row_attr else ""
        cells = "".join(f'<td{" class=num" if key in NUMERIC else ""}>{html.escape(row[key])}</td>'
                        for key, _ in columns)
        body.append(f"<tr{attr}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(png: bytes | None, caption: str, missing: str) -> str:
    if png is None:
        return f'<p class="muted">{html.escape(missing)}</p>'
    return f'<figure><img src="{data_uri(png)}" alt="{html.escape(caption)}"><figcaption class="muted">' \
           f'{html.escape(caption)}</figcaption></figure>'


def _grids(records: list[RunRecord], tile: int, max_classes: int) -> str:
    """Per model: one row per class, one column per run, each cell the run's elite for that class."""
    parts = []
    for model, group in groupby(sorted(records, key=lambda r: r.model), key=lambda r: r.model):
        group = list(group)
        by_run = [{e.class_index: e for e in r.elites} for r in group]
        classes = sorted({(e.class_index, e.class_name) for r in group for e in r.elites})
        shown = classes[:max_classes]
        head = "<th>class</th>" + "".join(f"<th>{html.escape(r.name)}<br><span class=muted>"
                                          f"{html.escape(r.method)}</span></th>" for r in group)
        rows = []
        for index, name in shown:
            cells = [f"<th>{html.escape(name)}<br><span class=muted>#{index}</span></th>"]
            for elites in by_run:
                elite = elites.get(index)
                if elite is None or elite.image is None:
                    cells.append('<td class="muted">no elite</td>')
                    continue
                tone = "hi" if elite.confidence >= 0.9999 else ("" if elite.confidence >= 0.99 else "lo")
                natural = "" if elite.naturalness is None else f"<br>nat. {elite.naturalness:.3g}"
                cells.append(f'<td><img src="{data_uri(thumbnail(elite.image, tile))}" '
                             f'width={tile} height={tile} '
                             f'alt="{html.escape(name)}"><div class="cap">{html.escape(name)}<br>'
                             f'<span class="{tone}">{fmt_confidence(elite.confidence)}</span>'
                             f'{natural}</div></td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        note = ""
        if len(classes) > len(shown):
            note = f'<p class="muted">Showing the first {len(shown)} of {len(classes)} classes ' \
                   f'(raise --max-classes to see more).</p>'
        if not classes:
            rows.append(f'<tr><td colspan="{len(group) + 1}" class="muted">no elites written yet '
                        '(runs write them when they stop)</td></tr>')
        parts.append(f"<h3>{html.escape(model)}</h3>{note}<table class=grid><thead><tr>{head}</tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)


def page(records: list[RunRecord], rows: list[dict], transfer: tuple, figures: dict, *,
         title: str, tile: int = 96, max_classes: int = 100, sections=()) -> str:
    runs = "".join(f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.method)} on {html.escape(r.model)}, "
                   f"{len(r.target_names)} targets, seed {html.escape(str(r.config.get('seed', '?')))}"
                   + (f"; evaluations = {html.escape(r.units['evaluations'])}"
                      if "evaluations" in r.units else "")
                   + f" <span class=muted>({html.escape(str(r.path))})</span></li>" for r in records)
    transfer_html = ""
    transfer_rows, transfer_columns = transfer
    if transfer_rows:
        transfer_html = ("<h2>Transfer: do the fooling images fool other models?</h2>"
                         "<p class=muted>From each run's transfer.json (<code>evodream transfer</code>): "
                         "the elites scored by other classifiers and under small shifts, zooms and flips. "
                         "Each cell: how many elites the model still labels as their target with ≥ 99% "
                         "confidence, and the median target confidence.</p>"
                         + _table(transfer_rows, transfer_columns))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head>
<body>
<div id="broken">Some images on this page failed to load.</div>
<h1>{html.escape(title)}</h1>
<p class=muted>Generated {time.strftime("%Y-%m-%d %H:%M")} by <code>evodream report</code> \
from the run folders'
own files; nothing on this page is typed by hand.</p>
<ul>{runs}</ul>
{"".join(f"<h2>{html.escape(heading)}</h2>{_table(table, columns)}<p class=muted>{html.escape(note)}</p>"
         for heading, note, table, columns in sections)}
<h2>Summary</h2>
{_table(rows, DISPLAY_COLUMNS, row_attr="run")}
<p class=muted>{html.escape(NOTES)}</p>
<h2>Confidence against evaluations</h2>
{_figure(figures.get("confidence"), "Best (solid) and median (dashed) confidence over targets, per run",
         "no metrics")}
{_figure(figures.get("reached"), "Share of targets at ≥ 99% (solid) and ≥ 99.99% (dashed)", "no metrics")}
<h2>Naturalness against confidence</h2>
{_figure(figures.get("naturalness"), "One point per elite",
         "No elite in these runs records a naturalness score "
         "(runs made before the naturalness prior existed).")}
{transfer_html}
<h2>Elites per class</h2>
{_grids(records, tile, max_classes)}
</body></html>
"""
