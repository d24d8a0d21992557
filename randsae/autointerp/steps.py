"""Stage glue for rules/autointerp.smk: explanations, scores, latent pages."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from randsae import io
from randsae.autointerp.judging import (
    check_failure_rate,
    explanation_failed,
    make_backend,
    score_cell,
)
from randsae.secrets import redact, redact_obj
from randsae.sections import AnthropicSettings, AutointerpConfig, OpenAISettings

log = logging.getLogger("randsae")


def explain(
    examples_json: str,
    backend: str,
    lexical_top_tokens: int,
    highlight_threshold: float,
    anthropic: AnthropicSettings,
    openai: OpenAISettings,
    out_jsonl: str,
) -> None:
    """One explanation per chosen latent from the judge ``backend`` (``autointerp.backend``)."""
    ex = json.loads(Path(examples_json).read_text())
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    judge = make_backend(
        backend,
        Path(out_jsonl).parent / "state",
        cell,
        lexical_top_tokens=lexical_top_tokens,
        anthropic=anthropic,
        openai=openai,
        highlight_threshold=highlight_threshold,
    )
    results = judge.explain(ex["latents"])
    with io.atomic_path(out_jsonl) as tmp, open(tmp, "w") as f:
        for rec in ex["latents"]:
            r = results[rec["latent"]]
            f.write(
                redact(json.dumps({**cell, "latent": rec["latent"], "backend": backend, **r}))
                + "\n"
            )
    failed = [lat for lat, r in results.items() if explanation_failed(r)]
    if failed:
        where = "/".join(str(cell[k]) for k in ("model", "init", "layer"))
        log.warning(
            "cell %s: %d of %d explanations failed (latents %s); they are left out of the scores",
            where,
            len(failed),
            len(results),
            sorted(failed),
        )


def score(
    examples_json: str,
    explanations_jsonl: str,
    ai: AutointerpConfig,
    seed: int,
    out_json: str,
    out_windows: str,
) -> None:
    """Score the cell's explanations (:func:`randsae.autointerp.judging.score_cell`), write the
    per-window rows and the cell's scores, then fail above ``autointerp.max_failure_rate``
    (:class:`~randsae.autointerp.judging.FailureRateError`, after the outputs are written)."""
    ex = json.loads(Path(examples_json).read_text())
    with open(explanations_jsonl) as f:
        expl = {r["latent"]: r for r in map(json.loads, f)}
    rows, result = score_cell(ex, expl, ai, seed, Path(out_json).parent)
    with io.atomic_path(out_windows) as tmp, open(tmp, "w") as f:
        for r in rows:
            f.write(redact(json.dumps(r)) + "\n")
    io.write_json(out_json, redact_obj(result))
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    check_failure_rate(cell, result["failures"], ai.max_failure_rate, out_windows)


def latent_page(
    model: str,
    layer: int,
    inits: list[str],
    examples_jsons: list[str],
    explanation_jsonls: list[str],
    out_html: str,
    windows_jsonls: list[str] | None = None,
) -> None:
    """HTML page of top windows and explanations, every init side by side; with the score rule's
    per-window files, each latent gets its App L dashboard (entropy, AUROCs, ROC, histogram)."""
    from randsae.autointerp.pages import write_page

    examples = {
        i: json.loads(Path(p).read_text()) for i, p in zip(inits, examples_jsons, strict=True)
    }
    expl = {}
    for i, p in zip(inits, explanation_jsonls, strict=True):
        with open(p) as f:
            expl[i] = [json.loads(line) for line in f if line.strip()]
    windows = None
    if windows_jsonls:
        windows = {}
        for i, p in zip(inits, windows_jsonls, strict=True):
            with open(p) as f:
                windows[i] = [json.loads(line) for line in f if line.strip()]
    write_page(out_html, f"{model} layer {layer}: top windows per init", examples, expl, windows)
