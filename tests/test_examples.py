"""Latent choice and window sampling. Run: pytest tests/test_examples.py"""

from __future__ import annotations

import numpy as np

from randsae.evaluate.examples import sample_examples, window_maxima
from randsae.sections import ExamplesConfig

CFG = {
    "n_tokens": 400,
    "context_size": 8,
    "n_latent_draws": 1,
    "window": 4,
    "n_latents": 3,
    "min_activating_windows": 8,
    "max_activating_windows": 10000,
    "n_explain": 4,
    "n_test_activating": 4,
    "n_test_nonactivating": 5,
    "n_quantiles": 2,
}


def ex(**over) -> ExamplesConfig:
    return ExamplesConfig.from_dict({**CFG, **over})


def planted(n_tokens=400, d_sae=10, k=2, seed=0):
    """Latent j fires (value j+pos%7) on tokens whose id == j; latent 9 never fires."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 12, n_tokens).astype(np.int32)
    vals = np.zeros((n_tokens, k), dtype=np.float32)
    idx = np.zeros((n_tokens, k), dtype=np.int32)
    for p, t in enumerate(tokens):
        if t < 9:
            vals[p, 0], idx[p, 0] = 1 + t + p % 7, t
        idx[p, 1] = (t + 1) % 9  # a zero-valued slot must never count as firing
    return tokens, vals, idx, d_sae


def test_window_maxima_exact():
    tokens, vals, idx, d = planted()
    win, lat, mx = window_maxima(vals, idx, 4, d)
    dense = np.zeros((100, d))
    for p in range(400):
        for j in range(2):
            dense[p // 4, idx[p, j]] = max(dense[p // 4, idx[p, j]], vals[p, j])
    w, latent = np.nonzero(dense)
    assert sorted(zip(w.tolist(), latent.tolist(), strict=True)) == sorted(
        zip(win.tolist(), lat.tolist(), strict=True)
    )
    for a, b, m in zip(win, lat, mx, strict=True):
        assert dense[a, b] == m


def test_sample_examples_protocol():
    tokens, vals, idx, d = planted()
    res = sample_examples(
        tokens, vals, idx, d, ex(), seed=1, strings=lambda ids: [f"t{i}" for i in ids]
    )
    assert res["n_latents_chosen"] == 3
    assert "9" in res["skipped"] or res["n_examined"] == 3  # dead latent recorded if examined
    for rec in res["latents"]:
        lat = rec["latent"]
        assert len(rec["explain"]) == 4 and len(rec["test_activating"]) == 4
        assert rec["overlap_explain_test"] == 0
        assert not {w["window_id"] for w in rec["explain"]} & {
            w["window_id"] for w in rec["test_activating"]
        }
        for w in rec["explain"] + rec["test_activating"]:
            assert max(w["acts"]) > 0
            # the latent fires exactly where its token is
            assert all((a > 0) == (t == lat) for a, t in zip(w["acts"], w["tokens"], strict=True))
        for w in rec["test_nonactivating"]:
            assert max(w["acts"]) == 0 and lat not in w["tokens"]
        # quantile 0 holds the strongest windows
        q0 = [max(w["acts"]) for w in rec["test_activating"] if w["quantile"] == 0]
        q1 = [max(w["acts"]) for w in rec["test_activating"] if w["quantile"] == 1]
        assert min(q0) >= max(q1)
    again = sample_examples(
        tokens, vals, idx, d, ex(), seed=1, strings=lambda ids: [f"t{i}" for i in ids]
    )
    assert again == res


def test_skips_below_threshold_with_reason():
    tokens, vals, idx, d = planted()
    cfg = ex(min_activating_windows=10**6, n_latents=2)
    res = sample_examples(
        tokens, vals, idx, d, cfg, seed=1, strings=lambda ids: [str(i) for i in ids]
    )
    assert res["n_latents_chosen"] == 0
    assert len(res["skipped"]) == d
    assert any("dead" in r for r in res["skipped"].values())
    assert any("activating windows" in r for r in res["skipped"].values())


def test_repeated_draws_are_disjoint_seeded_blocks():
    tokens, vals, idx, d = planted()
    strings = lambda ids: [str(i) for i in ids]  # noqa: E731
    cfg = ex(n_latents=2, n_latent_draws=3)
    res = sample_examples(tokens, vals, idx, d, cfg, seed=1, strings=strings)
    lats = [r["latent"] for r in res["latents"]]
    assert res["n_latents_chosen"] == 6 == len(set(lats)) and res["n_latent_draws"] == 3
    assert [r["draw"] for r in res["latents"]] == [0, 0, 1, 1, 2, 2]
    # the first draw is exactly the single-draw choice with the same seed
    one = sample_examples(tokens, vals, idx, d, ex(n_latents=2), seed=1, strings=strings)
    assert [r["latent"] for r in one["latents"]] == lats[:2]
    assert all(r["draw"] == 0 for r in one["latents"])


def test_n_latents_all_takes_every_eligible_latent():
    tokens, vals, idx, d = planted()
    strings = lambda ids: [str(i) for i in ids]  # noqa: E731
    res = sample_examples(
        tokens, vals, idx, d, ex(n_latents="all", n_latent_draws=2), seed=1, strings=strings
    )
    eligible = res["activating_windows_per_latent"]["eligible"]
    assert eligible == 9  # latents 0..8 fire; latent 9 never does
    assert res["n_latents_chosen"] == eligible
    assert sorted(r["latent"] for r in res["latents"]) == list(range(9))
    draws = [r["draw"] for r in res["latents"]]
    assert draws == [0] * 5 + [1] * 4
    # asking for more than are eligible gives the eligible ones, the last draw smaller
    more = sample_examples(
        tokens, vals, idx, d, ex(n_latents=4, n_latent_draws=3), seed=1, strings=strings
    )
    assert [r["draw"] for r in more["latents"]] == [0] * 4 + [1] * 4 + [2]
