"""Stage glue for rules/autointerp.smk: explanations, scores, latent pages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from randsae import io
from randsae.config import stable_seed

log = logging.getLogger("randsae")


def make_backend(ai_cfg: dict[str, Any], state_dir: str | Path, cell: dict[str, Any]) -> Any:
    """The configured explanation/scoring backend."""
    from randsae.autointerp.scoring import LexicalBackend

    if ai_cfg["backend"] == "lexical":
        return LexicalBackend(ai_cfg["lexical_top_tokens"])
    from randsae.autointerp.claude import AnthropicBackend

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return AnthropicBackend(
        ai_cfg["anthropic"],
        cache_path="results/autointerp/llm_cache.sqlite",
        state_dir=state_dir,
        ledger_path=state_dir / "ledger.jsonl",
        cell=cell,
    )


def explain(examples_json: str, ai_cfg: dict[str, Any], out_jsonl: str) -> None:
    ex = json.loads(Path(examples_json).read_text())
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    backend = make_backend(ai_cfg, Path(out_jsonl).parent / "state", cell)
    results = backend.explain(ex["latents"])
    with io.atomic_path(out_jsonl) as tmp, open(tmp, "w") as f:
        for rec in ex["latents"]:
            r = results[rec["latent"]]
            f.write(
                json.dumps({**cell, "latent": rec["latent"], "backend": ai_cfg["backend"], **r})
                + "\n"
            )


def score(
    examples_json: str,
    explanations_jsonl: str,
    ai_cfg: dict[str, Any],
    seed: int,
    out_json: str,
    out_windows: str,
) -> None:
    from randsae.autointerp.scoring import build_items, summarize_scores

    ex = json.loads(Path(examples_json).read_text())
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    expl = {}
    with open(explanations_jsonl) as f:
        for line in f:
            r = json.loads(line)
            expl[r["latent"]] = r
    backend = make_backend(ai_cfg, Path(out_json).parent / "state", cell)
    rows, summary = [], {}
    lat_ids = [rec["latent"] for rec in ex["latents"]]
    # Random-explanation control: each latent scored with another latent's explanation.
    shift = (
        {lat: lat_ids[(i + 1) % len(lat_ids)] for i, lat in enumerate(lat_ids)}
        if len(lat_ids) > 1
        else {}
    )
    for scorer in ai_cfg["scorers"]:
        for control in (False, True):
            if control and not shift:
                continue
            name = f"{scorer}_random_explanation" if control else scorer
            tasks, labels = {}, {}
            for rec in ex["latents"]:
                items = build_items(
                    rec, scorer, stable_seed(seed, "items", *cell.values(), rec["latent"], scorer)
                )
                e = expl[shift[rec["latent"]]] if control else expl[rec["latent"]]
                tasks[rec["latent"]] = (e, items)
                labels.update({it["id"]: (rec["latent"], it["label"]) for it in items})
            preds = backend.score(scorer, tasks)
            scorer_rows = [
                {
                    "scorer": name,
                    "id": iid,
                    "latent": lat,
                    "label": lab,
                    "prob": preds.get(iid, {}).get("prob"),
                    "error": preds.get(iid, {}).get("error"),
                }
                for iid, (lat, lab) in labels.items()
            ]
            rows += scorer_rows
            summary[name] = summarize_scores(
                scorer_rows,
                ai_cfg["bootstrap"],
                stable_seed(seed, "bootstrap", *cell.values(), name),
                draws={rec["latent"]: rec.get("draw", 0) for rec in ex["latents"]},
            )
    with io.atomic_path(out_windows) as tmp, open(tmp, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    io.write_json(out_json, {**cell, "backend": ai_cfg["backend"], "summary": summary})


def latent_page(
    model: str,
    layer: int,
    inits: list[str],
    examples_jsons: list[str],
    explanation_jsonls: list[str],
    out_html: str,
) -> None:
    """HTML page of top windows and explanations, every init side by side."""
    from randsae.autointerp.pages import write_page

    examples = {
        i: json.loads(Path(p).read_text()) for i, p in zip(inits, examples_jsons, strict=True)
    }
    expl = {}
    for i, p in zip(inits, explanation_jsonls, strict=True):
        with open(p) as f:
            expl[i] = [json.loads(line) for line in f if line.strip()]
    write_page(out_html, f"{model} layer {layer}: top windows per init", examples, expl)
