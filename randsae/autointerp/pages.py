"""HTML pages of latent examples (v2 App L dashboards): per (model, layer), every init side by side.

Each latent shows its explanation and its strongest explainer windows with the activating tokens
highlighted (shade ∝ activation), so trained and random inits can be compared by eye; with the
scored windows it also shows the v2 token entropy, fuzzing/detection AUROC, a small fuzzing ROC
and a histogram of the latent's activations over its windows (both inline SVG).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:1em;}
.grid{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:1em;}
.col h2{font-size:1.1em;border-bottom:2px solid #444;}
.lat{border:1px solid #ccc;border-radius:4px;padding:.4em;margin-bottom:.6em;font-size:.85em;}
.expl{font-style:italic;color:#333;margin:.2em 0 .4em 0;}
.win{font-family:monospace;white-space:pre-wrap;margin:.15em 0;line-height:1.5;}
.tok{border-radius:2px;}
.meta{color:#777;font-size:.8em;}
.dash{display:flex;gap:.6em;align-items:center;margin:.2em 0;}
.dash svg{background:#fafafa;border:1px solid #ddd;}
"""


def svg_roc(fpr: list[float], tpr: list[float], size: int = 90, color: str = "#555") -> str:
    """A small ROC curve as inline SVG (diagonal dotted)."""
    pts = " ".join(f"{x * size:.1f},{(1 - y) * size:.1f}" for x, y in zip(fpr, tpr, strict=True))
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img">'
        f"<title>ROC (x: false positive rate, y: true positive rate)</title>"
        f'<line x1="0" y1="{size}" x2="{size}" y2="0" stroke="#999" stroke-dasharray="2,2"/>'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/></svg>'
    )


def svg_histogram(values: list[float], bins: int = 12, width: int = 120, height: int = 60) -> str:
    """Histogram of positive activation values as inline SVG (empty box when none)."""
    import numpy as np

    v = np.asarray([x for x in values if x > 0], dtype=float)
    bars = ""
    if len(v):
        counts, edges = np.histogram(v, bins=bins, range=(0.0, float(v.max())))
        bw = width / bins
        for i, c in enumerate(counts):
            h = height * c / counts.max()
            bars += (
                f'<rect x="{i * bw:.1f}" y="{height - h:.1f}" width="{bw - 1:.1f}" '
                f'height="{h:.1f}" fill="#e07000"><title>{edges[i]:.3g}-{edges[i + 1]:.3g}: '
                f"{int(c)}</title></rect>"
            )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>activation histogram ({len(v)} active positions)</title>{bars}</svg>"
    )


def latent_dashboard(record: dict[str, Any], scored: list[dict[str, Any]] | None) -> str:
    """Entropy, AUROCs, small fuzzing ROC and activation histogram of one latent (App L).

    ``scored``: this latent's rows of the score rule's per-window file (None = not available).
    """
    from randsae.autointerp.measures import roc_curve, token_entropy
    from randsae.autointerp.scoring import auroc

    ent = token_entropy(record["explain"])
    acts = [a for w in record["explain"] + record.get("test_activating", []) for a in w["acts"]]
    parts = [f"token entropy {ent:.2f} nats"]
    roc = ""
    for scorer in ("fuzzing", "detection"):
        rows = [r for r in scored or [] if r["scorer"] == scorer and r["prob"] is not None]
        if not rows:
            continue
        labels = [r["label"] for r in rows]
        probs = [r["prob"] for r in rows]
        parts.append(f"{scorer} AUROC {auroc(labels, probs):.2f}")
        if scorer == "fuzzing" and len(set(labels)) == 2:
            fpr, tpr = roc_curve(labels, probs)
            roc = svg_roc(list(fpr), list(tpr))
    return (
        f'<div class="meta">{" · ".join(parts)}</div>'
        f'<div class="dash">{roc}{svg_histogram(acts)}</div>'
    )


def render_window(window: dict[str, Any], max_act: float) -> str:
    """One window as HTML; active tokens get a background whose opacity is act / max_act."""
    parts = []
    for text, act in zip(window["text"], window["acts"], strict=True):
        t = html.escape(text)
        if act > 0 and max_act > 0:
            alpha = min(1.0, 0.15 + 0.85 * act / max_act)
            parts.append(
                f'<span class="tok" style="background:rgba(255,120,0,{alpha:.2f})" title="{act:.3g}">{t}</span>'
            )
        else:
            parts.append(t)
    return '<div class="win">' + "".join(parts) + "</div>"


def render_page(
    title: str,
    columns: dict[str, tuple[dict[str, Any], dict[int, dict[str, Any]]]],
    n_latents: int = 10,
    n_windows: int = 5,
    scored: dict[str, dict[int, list[dict[str, Any]]]] | None = None,
) -> str:
    """``columns``: init → (examples json, {latent: explanation row}); ``scored``: init →
    {latent: per-window score rows} (adds the App L dashboard to each latent)."""
    cols = []
    for init, (ex, expl) in columns.items():
        items = []
        for rec in ex["latents"][:n_latents]:
            lat = rec["latent"]
            e = expl.get(lat, {}).get("explanation", "(no explanation)")
            wins = sorted(rec["explain"], key=lambda w: -max(w["acts"]))[:n_windows]
            items.append(
                f'<div class="lat"><b>latent {lat}</b> <span class="meta">{rec["n_activating_windows"]} '
                f"activating windows, max {rec['max_act']:.3g}</span>"
                f'<div class="expl">{html.escape(str(e))}</div>'
                + (
                    latent_dashboard(rec, scored[init].get(lat, []))
                    if scored is not None and init in scored
                    else ""
                )
                + "".join(render_window(w, rec["max_act"]) for w in wins)
                + "</div>"
            )
        cols.append(f'<div class="col"><h2>{html.escape(init)}</h2>{"".join(items)}</div>')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<div class="grid" style="--n:{len(cols)}">{"".join(cols)}</div></body></html>'
    )


def write_page(
    out_html: str | Path,
    title: str,
    examples: dict[str, dict[str, Any]],
    explanations: dict[str, list[dict[str, Any]]],
    windows: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """Write the page; ``windows``: init → the score rule's per-window rows (App L dashboards)."""
    import os

    columns = {
        init: (examples[init], {r["latent"]: r for r in explanations.get(init, [])})
        for init in examples
    }
    scored = None
    if windows is not None:
        scored = {}
        for init, rows in windows.items():
            by_lat: dict[int, list[dict[str, Any]]] = {}
            for r in rows:
                by_lat.setdefault(r["latent"], []).append(r)
            scored[init] = by_lat
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_page(title, columns, scored=scored))
    os.replace(tmp, out)
