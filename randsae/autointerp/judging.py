"""Judging one cell: the configured backend, the explanations' failures, and the scores of every
scorer (with its random-explanation control), the second judge and simulation scoring.

:mod:`randsae.autointerp.steps` reads the cell's files and writes its outputs around these.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from randsae.sections import AnthropicSettings, AutointerpConfig, OpenAISettings
from randsae.seeds import stable_seed

log = logging.getLogger("randsae")


def make_backend(
    name: str,
    state_dir: str | Path,
    cell: dict[str, Any],
    *,
    lexical_top_tokens: int,
    anthropic: AnthropicSettings,
    openai: OpenAISettings,
    highlight_threshold: float,
) -> Any:
    """The judge ``name`` (``autointerp.backend`` or ``second_judge``) for one cell."""
    from randsae.autointerp.scoring import LexicalBackend

    if name == "lexical":
        return LexicalBackend(lexical_top_tokens, highlight_threshold)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    files = dict(
        cache_path="results/autointerp/llm_cache.sqlite",
        state_dir=state_dir,
        ledger_path=state_dir / "ledger.jsonl",
        cell=cell,
        highlight_threshold=highlight_threshold,
    )
    if name == "openai":
        from randsae.autointerp.llm.openai_judge import OpenAIBackend

        return OpenAIBackend(openai, **files)
    from randsae.autointerp.llm.claude import AnthropicBackend

    return AnthropicBackend(anthropic, **files)


def judges(ai: AutointerpConfig) -> dict[str, Any]:
    """:func:`make_backend`'s settings keywords from the ``autointerp`` section."""
    return {
        "lexical_top_tokens": ai.lexical_top_tokens,
        "anthropic": ai.anthropic,
        "openai": ai.openai,
        "highlight_threshold": ai.highlight_threshold,
    }


def explanation_failed(row: dict[str, Any]) -> bool:
    """An explanation that could not be obtained (error, unparseable or empty answer)."""
    return bool(
        row.get("parse_failed") or row.get("error") or not str(row.get("explanation") or "").strip()
    )


class FailureRateError(RuntimeError):
    """More failed explanations or windows than ``autointerp.max_failure_rate`` allows."""


def failure_counts(summary: dict[str, dict], n_latents: int, n_failed_expl: int) -> dict:
    """Failure counts and rates of one cell: explanations, and windows per scorer."""
    out = {
        "explanations": {
            "failed": n_failed_expl,
            "total": n_latents,
            "rate": n_failed_expl / n_latents if n_latents else 0.0,
        }
    }
    for name, s in summary.items():
        if name == "simulation":  # counted in latents, reported on its own
            continue
        total = s.get("n_windows", 0) + s.get("n_failed", 0)
        out[name] = {
            "failed": s.get("n_failed", 0),
            "total": total,
            "rate": s.get("n_failed", 0) / total if total else 0.0,
        }
    return out


def failure_message(cell: dict[str, Any], counts: dict) -> str:
    where = "/".join(str(cell[k]) for k in ("model", "init", "layer"))
    parts = [
        f"{what}: {c['failed']} of {c['total']} failed ({100 * c['rate']:.1f}%)"
        for what, c in counts.items()
        if c["failed"]
    ]
    return f"cell {where}: " + "; ".join(parts)


def check_failure_rate(
    cell: dict[str, Any], counts: dict, limit: float | None, out_windows: str
) -> None:
    """Log a cell's LLM failures; raise :class:`FailureRateError` above ``limit`` (the
    ``autointerp.max_failure_rate``; None = warn only)."""
    if any(c["failed"] for c in counts.values()):
        log.warning("LLM failures in %s", failure_message(cell, counts))
    worst = max(c["rate"] for c in counts.values())
    if limit is not None and worst > limit:
        raise FailureRateError(
            f"autointerp.max_failure_rate={limit} exceeded ({100 * worst:.1f}%) in "
            f"{failure_message(cell, counts)}. Every answer obtained is in the response cache, so "
            f"a rerun costs nothing for them; see the log and {out_windows} (kept with "
            f"--keep-incomplete) for the errors, or raise autointerp.max_failure_rate."
        )


def score_cell(
    ex: dict[str, Any],
    expl: dict[int, dict[str, Any]],
    ai: AutointerpConfig,
    seed: int,
    state_dir: Path,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score each latent's explanation; latents whose explanation failed are left out.

    A failed explanation takes its latent out of every score (windows, AUROC, CIs, the
    random-explanation control) and is counted in ``n_failed_explanations``. Returns the
    per-window rows and the cell's result record (``scores.json``, secrets not yet redacted).
    """
    from randsae.autointerp.scoring import build_items, summarize_scores

    cell = {k: ex[k] for k in ("model", "init", "layer")}
    backend = make_backend(ai.backend, state_dir / "state", cell, **judges(ai))
    rows, summary, agreement, sim_detail = [], {}, {}, None
    second = ai.second_judge
    judge2 = (
        make_backend(second, state_dir / f"state_{second}", cell, **judges(ai)) if second else None
    )
    failed = sorted(
        rec["latent"] for rec in ex["latents"] if explanation_failed(expl[rec["latent"]])
    )
    records = [rec for rec in ex["latents"] if rec["latent"] not in set(failed)]
    lat_ids = [rec["latent"] for rec in records]
    # Random-explanation control: each latent scored with another (scored) latent's explanation.
    shift = (
        {lat: lat_ids[(i + 1) % len(lat_ids)] for i, lat in enumerate(lat_ids)}
        if len(lat_ids) > 1
        else {}
    )
    for scorer in ai.scorers:
        for control in (False, True):
            if control and not shift:
                continue
            name = f"{scorer}_random_explanation" if control else scorer
            tasks, labels = {}, {}
            for rec in records:
                items = build_items(
                    rec,
                    scorer,
                    stable_seed(seed, "items", *cell.values(), rec["latent"], scorer),
                    ai.highlight_threshold,
                )
                e = expl[shift[rec["latent"]]] if control else expl[rec["latent"]]
                tasks[rec["latent"]] = (e, items)
                labels.update({it["id"]: (rec["latent"], it["label"]) for it in items})
            preds = backend.score(scorer, tasks) if tasks else {}
            scorer_rows = [
                {
                    "scorer": name,
                    "id": iid,
                    "latent": lat,
                    "label": lab,
                    "prob": preds.get(iid, {}).get("prob"),
                    "error": preds.get(iid, {}).get("error"),
                    **(
                        {"prob_source": preds[iid]["source"]}
                        if preds.get(iid, {}).get("source")
                        else {}
                    ),
                }
                for iid, (lat, lab) in labels.items()
            ]
            rows += scorer_rows
            summary[name] = summarize_scores(
                scorer_rows,
                ai.bootstrap,
                stable_seed(seed, "bootstrap", *cell.values(), name),
                draws={rec["latent"]: rec.get("draw", 0) for rec in ex["latents"]},
            )
            summary[name]["n_failed_explanations"] = len(failed)
            if not control and judge2 is not None:
                agreement[scorer] = second_judge_scores(judge2, scorer, tasks, scorer_rows)
    n_sim = ai.simulation.n_latents
    if n_sim > 0:
        sim_backend = backend if ai.backend == "openai" else judge2
        summary["simulation"] = simulation_summary(
            sim_backend,
            records[:n_sim],
            expl,
            ai.bootstrap,
            stable_seed(seed, "bootstrap", *cell.values(), "simulation"),
        )
        summary["simulation"]["n_failed_explanations"] = len(failed)
        sim_detail = {
            "per_latent": summary["simulation"].pop("simulation_per_latent"),
            "sources": summary["simulation"].pop("simulation_sources"),
        }
        if summary["simulation"]["n_failed"]:
            log.warning(
                "simulation: %d of %d latents failed",
                summary["simulation"]["n_failed"],
                len(sim_detail["per_latent"]),
            )
    result = {
        **cell,
        "backend": ai.backend,
        "n_failed_explanations": len(failed),
        "failed_explanation_latents": failed,
        "failures": failure_counts(summary, len(ex["latents"]), len(failed)),
        "summary": summary,
        **({"judges": {"a": ai.backend, "b": second, "scorers": agreement}} if agreement else {}),
        **({"simulation": sim_detail} if sim_detail else {}),
    }
    return rows, result


def second_judge_scores(
    judge: Any, scorer: str, tasks: dict, primary_rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The second judge's verdicts on the same explanations and windows, per latent."""
    from randsae.autointerp.scoring import auroc_by_latent

    preds = judge.score(scorer, tasks)
    rows_b = [
        {
            **r,
            "prob": preds.get(r["id"], {}).get("prob"),
            "error": preds.get(r["id"], {}).get("error"),
        }
        for r in primary_rows
    ]
    a, b = auroc_by_latent(primary_rows), auroc_by_latent(rows_b)
    return {
        "per_latent": {str(lat): [a.get(lat), b.get(lat)] for lat in sorted(set(a) | set(b))},
        "n_failed_b": sum(r["prob"] is None for r in rows_b),
    }


def simulation_summary(
    backend: Any, records: list[dict], expl: dict, n_bootstrap: int, seed: int
) -> dict[str, Any]:
    """Simulation scoring of ``records``: mean Pearson correlation with a bootstrap 95% CI."""
    import numpy as np

    tasks = {
        rec["latent"]: (expl[rec["latent"]], rec["test_activating"] + rec["test_nonactivating"])
        for rec in records
    }
    sim = backend.simulate(tasks) if tasks else {}
    corr = np.array([v["correlation"] for v in sim.values() if v["correlation"] is not None])
    out: dict[str, Any] = {
        "n_latents": int(len(corr)),
        "n_windows": int(
            sum(len(t[1]) for lat, t in tasks.items() if sim[lat]["correlation"] is not None)
        ),
        "n_failed": int(sum(v["correlation"] is None for v in sim.values())),
        "simulation_correlation": float(corr.mean()) if len(corr) else float("nan"),
        "simulation_sources": sorted({str(v["source"]) for v in sim.values() if v["source"]}),
        "simulation_per_latent": {str(k): v["correlation"] for k, v in sim.items()},
    }
    if len(corr) and n_bootstrap:
        rng = np.random.default_rng(seed)
        boot = [corr[rng.integers(0, len(corr), len(corr))].mean() for _ in range(n_bootstrap)]
        out["simulation_correlation_ci_low"] = float(np.percentile(boot, 2.5))
        out["simulation_correlation_ci_high"] = float(np.percentile(boot, 97.5))
    return out
