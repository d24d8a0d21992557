"""HTML pages of latent examples: per (model, layer), every init side by side.

Each latent shows its explanation and its strongest explainer windows with the activating tokens
highlighted (shade ∝ activation), so trained and random inits can be compared by eye.
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
"""


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
) -> str:
    """``columns``: init → (examples json, {latent: explanation row})."""
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
) -> None:
    columns = {
        init: (examples[init], {r["latent"]: r for r in explanations.get(init, [])})
        for init in examples
    }
    Path(out_html).parent.mkdir(parents=True, exist_ok=True)
    Path(out_html).write_text(render_page(title, columns))
