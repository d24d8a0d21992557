"""Lexical backend, scoring items and score metrics. Run: pytest tests/test_autointerp.py"""

from __future__ import annotations

import math

import numpy as np
import pytest

from randsae.autointerp.scoring import (
    LexicalBackend,
    auroc,
    auroc_by_latent,
    build_items,
    summarize_scores,
    threshold_metrics,
    windows_by_latent,
)


def record(lat=3):
    act = [
        {"text": ["a", "cat", "sat"], "acts": [0, 2.0, 0], "tokens": [1, 2, 3]} for _ in range(4)
    ]
    non = [
        {"text": ["the", "dog", "ran"], "acts": [0, 0, 0], "tokens": [4, 5, 6]} for _ in range(4)
    ]
    return {"latent": lat, "explain": act, "test_activating": act, "test_nonactivating": non}


def test_auroc_against_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(bool)
    s = np.round(rng.random(200) + y * 0.3, 1)  # ties on purpose
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]
    assert auroc(y, s) == pytest.approx(np.mean(pairs))
    assert np.isnan(auroc(np.ones(3, bool), np.ones(3)))


def test_windows_by_latent_and_auroc_by_latent():
    rows = [
        {"latent": 7, "label": 1, "prob": 0.9},
        {"latent": 7, "label": 0, "prob": 0.2},
        {"latent": 7, "label": 0, "prob": None},  # failed: not grouped, counted
        {"latent": 3, "label": 1, "prob": 0.4},
        {"latent": 3, "label": 0, "prob": 0.6},
        {"latent": 5, "label": 1, "prob": 0.5},  # one class only
    ]
    groups, n_failed = windows_by_latent(rows)
    assert n_failed == 1 and groups[7] == ([1, 0], [0.9, 0.2])
    per = auroc_by_latent(rows)
    assert list(per) == [3, 5, 7]  # sorted by latent
    assert per[7] == 1.0 and per[3] == 0.0 and math.isnan(per[5])


def test_threshold_metrics():
    m = threshold_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.1, 0.7]))
    assert m["recall"] == 0.5 and m["precision"] == 0.5 and m["balanced_accuracy"] == 0.5


def test_items_and_fuzzing_negatives():
    rec = record()
    det = build_items(rec, "detection", 0)
    assert [it["label"] for it in det] == [1] * 4 + [0] * 4
    fz = build_items(rec, "fuzzing", 0)
    for it in fz:
        assert sum(it["highlight"]) == 1  # ceil(mean active tokens) = 1
        if it["label"] == 1:
            assert it["highlight"] == [False, True, False]
    with pytest.raises(ValueError, match="scorer"):
        build_items(rec, "simulation", 0)


def test_lexical_backend_separates_planted_latent():
    rec = record()
    be = LexicalBackend(top_tokens=3)
    expl = be.explain([rec])[3]
    assert expl["tokens"] == ["cat"] and "cat" in expl["explanation"]
    for scorer in ("detection", "fuzzing"):
        items = build_items(rec, scorer, 0)
        preds = be.score(scorer, {3: (expl, items)})
        rows = [
            {"latent": 3, "label": it["label"], "prob": preds[it["id"]]["prob"]} for it in items
        ]
        summ = summarize_scores(rows, n_bootstrap=20, seed=0)
        if scorer == "detection":
            assert summ["auroc_pooled"] == 1.0
        assert summ["n_failed"] == 0 and summ["n_latents"] == 1


def test_failed_predictions_are_counted_not_dropped_silently():
    rows = [
        {"latent": 1, "label": 1, "prob": 0.9},
        {"latent": 1, "label": 0, "prob": None},
        {"latent": 1, "label": 0, "prob": 0.1},
    ]
    assert summarize_scores(rows, 0, 0)["n_failed"] == 1


def test_auroc_spread_across_draws():
    """Draw 0: two perfect latents (AUROC 1); draw 1: one inverted (0) and one perfect (1)."""
    rows = []
    for lat, good in ((1, True), (2, True), (3, False), (4, True)):
        for label in (0, 1, 0, 1):
            p = 0.9 if (label == 1) == good else 0.1
            rows.append({"latent": lat, "label": label, "prob": p})
    summ = summarize_scores(rows, 0, 0, draws={1: 0, 2: 0, 3: 1, 4: 1})
    assert summ["n_latent_draws"] == 2
    assert summ["auroc_draw_min"] == 0.5 and summ["auroc_draw_max"] == 1.0
    assert math.isclose(summ["auroc_draw_std"], float(np.std([1.0, 0.5], ddof=1)))
    one = summarize_scores(rows, 0, 0, draws=dict.fromkeys((1, 2, 3, 4), 0))
    assert one["n_latent_draws"] == 1 and math.isnan(one["auroc_draw_std"])
    assert "auroc_draw_std" not in summarize_scores(rows, 0, 0)


def weak_record():
    """Windows with one strong token and weak spread-out activations (the case the threshold
    decides): acts 4.0 at one token, 0.5 (< 0.3 x 4) at three others; a negative window with a
    masked position (eval.ignore_positions)."""
    act = [
        {
            "text": ["a", "b", "c", "d", "e", "f"],
            "acts": [0.5, 4.0, 0.5, 0, 0.5, 0],
            "tokens": [1, 2, 3, 4, 5, 6],
        }  # fmt: skip
        for _ in range(3)
    ]
    non = [
        {
            "text": ["u", "v", "w", "x", "y", "z"],
            "acts": [0.0] * 6,
            "tokens": [7] * 6,
            "masked": [0],
        }  # fmt: skip
        for _ in range(6)
    ]
    return {"latent": 1, "explain": act, "test_activating": act, "test_nonactivating": non}


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.6])
def test_explainer_and_fuzzing_share_one_highlight_threshold(threshold):
    """The explainer marks, the lexical explanation counts and the fuzzing positives highlight
    exactly the tokens >= threshold x the window's max (delphi: 0.3 for both)."""
    from randsae.autointerp.prompts import explainer_example, highlight_mask, render_marked

    rec = weak_record()
    w = rec["test_activating"][0]
    expected = [a > 0 and a >= threshold * 4.0 for a in w["acts"]]
    assert highlight_mask(w["acts"], threshold) == expected
    fz = build_items(rec, "fuzzing", 0, highlight_threshold=threshold)
    assert all(it["highlight"] == expected for it in fz if it["label"] == 1)
    explained = explainer_example(w["text"], w["acts"], 4.0, 1, threshold)
    assert render_marked(w["text"], expected) in explained
    tokens = LexicalBackend(8, threshold).explain([rec])[1]["tokens"]
    assert sorted(tokens) == sorted(t for t, m in zip(w["text"], expected, strict=True) if m)


def test_fuzzing_negatives_follow_delphis_n_incorrect_rule():
    """n_incorrect = ceil(mean nonzero activations per test activating window) = 4 here, drawn
    without replacement from the unmasked tokens at or below the threshold; each window its own
    draw (delphi reseeds per window, so all its negatives share positions)."""
    rec = weak_record()
    fz = build_items(rec, "fuzzing", 0, highlight_threshold=0.3)
    negs = [it["highlight"] for it in fz if it["label"] == 0]
    assert all(sum(h) == 4 for h in negs)  # 4 nonzero acts per positive window
    assert not any(h[0] for h in negs)  # the masked position is never highlighted
    assert len({tuple(h) for h in negs}) > 1
    assert fz == build_items(rec, "fuzzing", 0, highlight_threshold=0.3)  # seeded
    # fewer eligible tokens than n_incorrect: all of them
    rec["test_nonactivating"] = [{**rec["test_nonactivating"][0], "masked": [0, 1, 2, 3]}]
    (neg,) = [it for it in build_items(rec, "fuzzing", 0) if it["label"] == 0]
    assert neg["highlight"] == [False] * 4 + [True] * 2
