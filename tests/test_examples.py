"""Latent choice and window sampling. Run: pytest tests/test_examples.py"""

from __future__ import annotations

import numpy as np
import pytest

from randsae.evaluate.examples import (
    ignored_positions,
    mask_positions,
    sample_examples,
    window_maxima,
)
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


def tied(n_seq=48, ctx=32, d_sae=12, k=3, seed=0):
    """Codes with realistic spread (lognormal) and exact ties: every latent fires with exactly the
    same values in many windows (repeated text), so ties straddle quantile boundaries."""
    rng = np.random.default_rng(seed)
    n = n_seq * ctx
    tokens = rng.integers(1, 50, n).astype(np.int32)
    idx = np.stack([rng.choice(d_sae, k, replace=False) for _ in range(n)]).astype(np.int32)
    vals = rng.lognormal(0.0, 0.7, (n, k)).astype(np.float32)
    vals[rng.random((n, k)) < 0.6] = 0.0
    block = vals[:8].copy(), idx[:8].copy()
    for w in range(8, n // 8, 3):  # every third window repeats window 0's codes
        vals[w * 8 : w * 8 + 8], idx[w * 8 : w * 8 + 8] = block
    return tokens, vals, idx, d_sae


TIED_CFG = ex(context_size=8, window=8, n_latents=6, min_activating_windows=24, n_explain=8,
             n_test_activating=8, n_test_nonactivating=6, n_quantiles=4)  # fmt: skip


def picks(res):
    return {
        r["latent"]: [
            [w["window_id"] for w in r[part]]
            for part in ("explain", "test_activating", "test_nonactivating")
        ]
        for r in res["latents"]
    }


@pytest.mark.parametrize("noise_seed", range(5))
def test_same_latents_and_windows_under_1e6_relative_noise(noise_seed):
    """Float noise of 1e-6 relative (what another machine's reduction order gives) changes
    neither the sampled latents nor any sampled window: ranks use rounded activations with ties
    broken by window index, and each latent has its own random stream."""
    tokens, vals, idx, d = tied()
    strings = lambda ids: [f"t{i}" for i in ids]  # noqa: E731
    base = sample_examples(tokens, vals, idx, d, TIED_CFG, seed=3, strings=strings)
    noise = np.random.default_rng(noise_seed).normal(0.0, 1e-6, vals.shape)
    noisy = (vals * (1.0 + noise)).astype(np.float32)
    assert not np.array_equal(noisy, vals)
    again = sample_examples(tokens, noisy, idx, d, TIED_CFG, seed=3, strings=strings)
    assert base["n_latents_chosen"] == 6
    assert picks(again) == picks(base)


def test_ignore_positions_mask_and_record_positions():
    tokens = np.arange(24).reshape(3, 8) % 5
    mask = ignored_positions(tokens, ignore_token_ids=[4], ignore_positions=[0, -1])
    m = mask.reshape(3, 8)
    assert m[:, 0].all() and m[:, -1].all()
    assert (m[:, 1:-1] == (tokens[:, 1:-1] == 4)).all()
    vals = np.ones((24, 2), np.float32)
    out = mask_positions(vals, tokens, [4], [0, -1])
    assert (out[mask] == 0).all() and (out[~mask] == 1).all() and (vals == 1).all()
    # the examples record masked positions per window, and they never carry activation
    t, v, i, d = planted()
    mask = ignored_positions(t.reshape(-1, 8), ignore_positions=[0])
    res = sample_examples(t, mask_positions(v, t.reshape(-1, 8), [], [0]), i, d, ex(), seed=1,
                          strings=lambda ids: [f"t{x}" for x in ids], masked=mask)  # fmt: skip
    for rec in res["latents"]:
        for w in rec["explain"] + rec["test_activating"] + rec["test_nonactivating"]:
            first = w["window_id"] * 4 % 8 == 0  # windows of 4 tokens, sequences of 8
            assert w.get("masked", []) == ([0] if first else [])
            assert all(w["acts"][j] == 0 for j in w.get("masked", []))
