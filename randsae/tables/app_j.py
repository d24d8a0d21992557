"""v2 App J: text examples. Per (model, variant, layer), ``n_latents`` latents drawn at random
(seeded) from the cell's sampled latents, each with its explanation and its top explainer windows
(activating tokens marked ``[[tok]]`` in CSV/Markdown, shaded in the HTML)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from randsae.seeds import stable_seed


def mark_window(window: dict[str, Any]) -> str:
    """A window's text on one line (newlines shown as ``⏎``) with every active token wrapped in
    ``[[...]]``."""
    return "".join(
        f"[[{t}]]" if a > 0 else t for t, a in zip(window["text"], window["acts"], strict=True)
    ).replace("\n", "⏎")


def pick_examples(
    cells: list[tuple[str, str, int]],
    examples: list[dict[str, Any]],
    explanations: list[list[dict[str, Any]]],
    seed: int,
    n_latents: int = 3,
    n_windows: int = 3,
) -> tuple[pd.DataFrame, dict[tuple[str, str, int, int], list[dict[str, Any]]]]:
    """The App-J rows (model, init, layer, latent, explanation, top_windows joined by ``\\n``,
    max_act) and, per picked latent, its top windows (for the HTML)."""
    rows, windows = [], {}
    for (model, init, layer), ex, expl in zip(cells, examples, explanations, strict=True):
        by_lat = {r["latent"]: r for r in expl}
        recs = ex["latents"]
        rng = np.random.default_rng(stable_seed(seed, "app_j", model, init, layer))
        pick = sorted(rng.choice(len(recs), size=min(n_latents, len(recs)), replace=False))
        for i in pick:
            rec = recs[int(i)]
            top = sorted(rec["explain"], key=lambda w: -max(w["acts"]))[:n_windows]
            windows[(model, init, int(layer), int(rec["latent"]))] = top
            rows.append(
                {
                    "model": model,
                    "init": init,
                    "layer": int(layer),
                    "latent": int(rec["latent"]),
                    "explanation": by_lat.get(rec["latent"], {}).get("explanation", ""),
                    "max_act": float(rec["max_act"]),
                    "top_windows": "\n".join(mark_window(w) for w in top),
                }
            )
    return pd.DataFrame(rows), windows


def to_markdown(df: pd.DataFrame) -> str:
    """Readable Markdown: a section per (model, layer), a sub-list per variant."""
    out = ["# App J: random latents per variant and layer", ""]
    for (model, layer), g in df.groupby(["model", "layer"], sort=True):
        out += [f"## {model}, layer {layer}", ""]
        for _, r in g.iterrows():
            out.append(f"- **{r['init']}**, latent {r['latent']}: *{r['explanation']}*")
            out += [f"    - `{w}`" for w in r["top_windows"].split("\n")]
        out.append("")
    return "\n".join(out)


def to_html(df: pd.DataFrame, windows: dict) -> str:
    from randsae.autointerp.pages import STYLE, render_window

    parts = []
    for (model, layer), g in df.groupby(["model", "layer"], sort=True):
        parts.append(f"<h2>{html.escape(model)}, layer {layer}</h2>")
        for _, r in g.iterrows():
            wins = windows[(r["model"], r["init"], int(r["layer"]), int(r["latent"]))]
            parts.append(
                f'<div class="lat"><b>{html.escape(r["init"])}</b>, latent {r["latent"]}'
                f'<div class="expl">{html.escape(str(r["explanation"]))}</div>'
                + "".join(render_window(w, r["max_act"]) for w in wins)
                + "</div>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>App J examples</title>"
        f"<style>{STYLE}</style></head><body><h1>App J: random latents per variant and layer</h1>"
        + "".join(parts)
        + "</body></html>"
    )


def write_app_j(
    cells: list[tuple[str, str, int]],
    examples_jsons: list[str],
    explanation_jsonls: list[str],
    seed: int,
    out_csv: str,
    out_md: str,
    out_html: str,
    n_latents: int = 3,
) -> pd.DataFrame:
    examples = [json.loads(Path(p).read_text()) for p in examples_jsons]
    expl = [
        [json.loads(line) for line in Path(p).read_text().splitlines() if line.strip()]
        for p in explanation_jsonls
    ]
    df, windows = pick_examples(cells, examples, expl, seed, n_latents)
    from randsae.io import atomic_write_text

    atomic_write_text(out_csv, df.to_csv(index=False))
    atomic_write_text(out_md, to_markdown(df))
    atomic_write_text(out_html, to_html(df, windows))
    return df
