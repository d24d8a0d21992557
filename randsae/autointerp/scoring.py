"""Explanations and scores: scoring items, the offline lexical backend, and score metrics.

Backends share one interface (``explain(records)`` and ``score(scorer, tasks)``); the Claude
backend lives in ``randsae.autointerp.llm.claude``. The offline **lexical** backend is a real, deterministic
baseline computed from the activations: its explanation of a latent is the list of tokens that
most often carry the latent's activation in the explainer windows; it predicts a test window as
activating in proportion to how strongly the window's (highlighted) tokens match that list.

Metric naming: Claude returns no log-probabilities, so every backend reports an *elicited
probability* per window and the tables call the resulting AUROC "elicited-probability AUROC".
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from randsae.autointerp.prompts import HIGHLIGHT_THRESHOLD, highlight_mask

SCORERS = ("detection", "fuzzing")


def build_items(
    record: dict[str, Any], scorer: str, seed: int, highlight_threshold: float = HIGHLIGHT_THRESHOLD
) -> list[dict[str, Any]]:
    """One scoring item per test window, as delphi 0.1.3 builds its classifier samples.

    Detection: the raw window; label 1 for activating windows. Fuzzing: activating windows with
    the tokens of :func:`highlight_mask` highlighted (``highlight_threshold`` x the window's max,
    the explainer's rule; label 1), and non-activating windows with ``n_incorrect`` tokens
    highlighted (label 0). ``n_incorrect`` is delphi's: the ceiling of the mean number of nonzero
    activations per test activating window; the highlighted tokens are drawn without replacement
    among the window's tokens at or below the threshold (all of them in a non-activating window)
    that are not masked (``eval.ignore_positions`` / ``ignore_token_ids``). Unlike delphi, each
    window gets its own draw (delphi reseeds with 22 before every window, so every negative of a
    length gets the same positions) and position ``ctx - ctx // 4`` is not forced (delphi's
    centred-window assumption, marked as wrong in its code).
    """
    if scorer not in SCORERS:
        raise ValueError(f"autointerp.scorers: unknown scorer {scorer!r} (use {SCORERS})")
    rng = np.random.default_rng(seed)
    lat = record["latent"]
    pos, neg = record["test_activating"], record["test_nonactivating"]
    items = []
    if scorer == "detection":
        for i, w in enumerate(pos):
            items.append({"id": f"{lat}:act:{i}", "text": w["text"], "highlight": None, "label": 1})
        for i, w in enumerate(neg):
            items.append({"id": f"{lat}:non:{i}", "text": w["text"], "highlight": None, "label": 0})
        return items
    n_active = [sum(a != 0 for a in w["acts"]) for w in pos]
    n_incorrect = max(1, math.ceil(float(np.mean(n_active)))) if n_active else 1
    for i, w in enumerate(pos):
        hl = highlight_mask(w["acts"], highlight_threshold)
        items.append({"id": f"{lat}:act:{i}", "text": w["text"], "highlight": hl, "label": 1})
    for i, w in enumerate(neg):
        below = np.logical_not(highlight_mask(w["acts"], highlight_threshold))
        below[list(w.get("masked", []))] = False
        eligible = np.flatnonzero(below)
        chosen = set(rng.choice(eligible, size=min(n_incorrect, len(eligible)), replace=False))
        hl = [j in chosen for j in range(len(w["text"]))]
        items.append({"id": f"{lat}:non:{i}", "text": w["text"], "highlight": hl, "label": 0})
    return items


class LexicalBackend:
    """Offline backend: token-frequency explanations and lexical-match predictions."""

    name = "lexical"

    def __init__(self, top_tokens: int, highlight_threshold: float = HIGHLIGHT_THRESHOLD) -> None:
        self.top_tokens = top_tokens
        self.highlight_threshold = highlight_threshold

    def explain(self, records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """The most frequent highlighted tokens of the explainer windows (the tokens an LLM
        explainer sees marked)."""
        out = {}
        for rec in records:
            counts: Counter[str] = Counter()
            for w in rec["explain"]:
                marked = highlight_mask(w["acts"], self.highlight_threshold)
                for t, m in zip(w["text"], marked, strict=True):
                    if m:
                        counts[t] += 1
            top = counts.most_common(self.top_tokens)
            out[rec["latent"]] = {
                "explanation": "fires on the tokens " + ", ".join(repr(t) for t, _ in top),
                "tokens": [t for t, _ in top],
                "weights": [c / top[0][1] for _, c in top] if top else [],
                "parse_failed": False,
                "error": None,
            }
        return out

    def score(
        self, scorer: str, tasks: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> dict[str, dict[str, Any]]:
        out = {}
        for _lat, (expl, items) in tasks.items():
            weight = dict(zip(expl.get("tokens", []), expl.get("weights", []), strict=True))
            for it in items:
                if scorer == "detection":
                    prob = max((weight.get(t, 0.0) for t in it["text"]), default=0.0)
                else:
                    hl = [t for t, h in zip(it["text"], it["highlight"], strict=True) if h]
                    prob = float(np.mean([weight.get(t, 0.0) for t in hl])) if hl else 0.0
                out[it["id"]] = {"prob": float(prob), "parse_failed": False, "error": None}
        return out


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U with midranks for ties); NaN if one class."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # tie groups of the sorted scores: each gets its midrank (first + last) / 2 + 1 (0-based)
    new_group = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]
    first = np.flatnonzero(new_group)
    last = np.r_[first[1:], len(scores)] - 1
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = ((first + last) / 2.0 + 1.0)[np.cumsum(new_group) - 1]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def threshold_metrics(
    labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Balanced accuracy, accuracy, precision, recall and F1 at ``threshold``."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probs, dtype=np.float64) >= threshold
    tp, fp = int((p & y).sum()), int((p & ~y).sum())
    fn, tn = int((~p & y).sum()), int((~p & ~y).sum())
    tpr = tp / (tp + fn) if tp + fn else float("nan")
    tnr = tn / (tn + fp) if tn + fp else float("nan")
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * tpr / (precision + tpr) if (precision + tpr) > 0 else 0.0
    return {
        "balanced_accuracy": (tpr + tnr) / 2,
        "accuracy": (tp + tn) / max(1, len(y)),
        "precision": precision,
        "recall": tpr,
        "f1": f1,
    }


def windows_by_latent(
    rows: list[dict[str, Any]],
) -> tuple[dict[int, tuple[list[int], list[float]]], int]:
    """Labels and probabilities of each latent's windows that have a probability, and the number
    of windows without one (failed: ``prob`` None)."""
    by_lat: dict[int, tuple[list[int], list[float]]] = {}
    n_failed = 0
    for row in rows:
        if row["prob"] is None:
            n_failed += 1
            continue
        labs, probs = by_lat.setdefault(int(row["latent"]), ([], []))
        labs.append(row["label"])
        probs.append(row["prob"])
    return by_lat, n_failed


def auroc_by_latent(rows: list[dict[str, Any]]) -> dict[int, float]:
    """AUROC per latent over its windows with a probability (NaN if one class only)."""
    by_lat, _ = windows_by_latent(rows)
    return {lat: auroc(np.array(la), np.array(pr)) for lat, (la, pr) in sorted(by_lat.items())}


def summarize_scores(
    per_window: list[dict[str, Any]],
    n_bootstrap: int,
    seed: int,
    draws: dict[int, int] | None = None,
) -> dict[str, float]:
    """Cell-level summary: pooled and mean per-latent AUROC with bootstrap 95% CIs over latents.

    ``per_window`` rows have ``latent``, ``label`` and ``prob`` (None = failed, excluded and counted).
    ``draws`` (latent -> draw, ``examples.n_latent_draws``): adds the spread of the mean
    per-latent AUROC across draws: ``n_latent_draws``, ``auroc_draw_std`` (ddof 1; NaN with one
    draw), ``auroc_draw_min``, ``auroc_draw_max``.
    """
    by_lat, n_failed = windows_by_latent(per_window)
    lats = sorted(by_lat)
    if not lats:
        return {"n_latents": 0, "n_windows": 0, "n_failed": n_failed}
    per_lat = np.array([auroc(np.array(by_lat[lat][0]), np.array(by_lat[lat][1])) for lat in lats])
    all_l = np.concatenate([by_lat[lat][0] for lat in lats])
    all_p = np.concatenate([by_lat[lat][1] for lat in lats])
    rng = np.random.default_rng(seed)
    boot_pooled, boot_mean = [], []
    for _ in range(n_bootstrap):
        sample = rng.integers(0, len(lats), len(lats))
        l_ = np.concatenate([by_lat[lats[i]][0] for i in sample])
        p_ = np.concatenate([by_lat[lats[i]][1] for i in sample])
        boot_pooled.append(auroc(l_, p_))
        boot_mean.append(np.nanmean(per_lat[sample]))

    def pct(boot: list[float], q: float) -> float:
        return float(np.nanpercentile(boot, q)) if n_bootstrap else float("nan")

    out = {
        "n_latents": len(lats),
        "n_windows": int(len(all_l)),
        "n_failed": n_failed,
        "auroc_pooled": auroc(all_l, all_p),
        "auroc_pooled_ci_low": pct(boot_pooled, 2.5),
        "auroc_pooled_ci_high": pct(boot_pooled, 97.5),
        "auroc_mean": float(np.nanmean(per_lat)),
        "auroc_mean_ci_low": pct(boot_mean, 2.5),
        "auroc_mean_ci_high": pct(boot_mean, 97.5),
    }
    out.update(threshold_metrics(all_l, all_p))
    if draws is not None:
        out.update(draw_spread(dict(zip(lats, per_lat.tolist(), strict=True)), draws))
    return out


def draw_spread(per_latent: dict[int, float], draws: dict[int, int]) -> dict[str, float]:
    """Mean per-latent AUROC of each draw, and their std / min / max across draws."""
    by_draw: dict[int, list[float]] = {}
    for lat, a in per_latent.items():
        by_draw.setdefault(draws[lat], []).append(a)
    means = np.array(
        [np.nanmean(v) if np.isfinite(v).any() else np.nan for _, v in sorted(by_draw.items())],
        dtype=np.float64,
    )
    ok = means[np.isfinite(means)]  # a draw whose every AUROC is undefined has no mean
    return {
        "n_latent_draws": len(means),
        "auroc_draw_std": float(np.std(ok, ddof=1)) if len(ok) > 1 else float("nan"),
        "auroc_draw_min": float(np.min(ok)) if len(ok) else float("nan"),
        "auroc_draw_max": float(np.max(ok)) if len(ok) else float("nan"),
    }
