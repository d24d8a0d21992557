"""Abstractness measures: exactness against dense brute force, invariance to batching, limits.

Run: ``pytest tests/test_abstractness.py``. The accumulator is sparse and streaming; the
reference here is the dense ``(positions, d_sae)`` computation straight from the definitions.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_models import tiny_hooked_transformer

from randsae.evaluate.abstractness import (
    PER_LATENT_MEASURES,
    AbstractnessAccumulator,
    abstractness_rows,
    grouped_entropy,
    summarize_abstractness,
)
from randsae.evaluate.metrics import evaluate_sae
from randsae.sae.topk import TopKSAE


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum())


def _brute_force(dense: np.ndarray, tok: np.ndarray, seq: np.ndarray, top_n: int, min_count: int):
    """Reference per-latent measures from a dense (N, d_sae) activation matrix."""
    n, d_sae = dense.shape
    V = int(tok.max()) + 1
    half = seq % 2
    out = {m: np.full(d_sae, np.nan) for m in PER_LATENT_MEASURES}
    n_active = (dense != 0).sum(0)
    for j in range(d_sae):
        a = dense[:, j]
        act = a != 0
        if not act.any():
            continue
        out["entropy_all"][j] = _entropy(np.bincount(tok[act], minlength=V).astype(float))
        out["entropy_weighted"][j] = _entropy(np.bincount(tok[act], weights=a[act], minlength=V))
        # top-N by value, ties broken by position (stable)
        order = np.argsort(-a[act], kind="stable")[:top_n]
        out["entropy_topN"][j] = _entropy(np.bincount(tok[act][order], minlength=V).astype(float))
        r2s = []
        for fit in (0, 1):
            f, e = half == fit, half != fit
            n_f = np.bincount(tok[f], minlength=V)
            sums = np.bincount(tok[f], weights=a[f], minlength=V)
            g = a[f].mean()
            pred_t = np.where(n_f >= min_count, sums / np.maximum(n_f, 1), g)
            pred = pred_t[tok[e]]
            sst = ((a[e] - a[e].mean()) ** 2).sum()
            sse = ((a[e] - pred) ** 2).sum()
            r2s.append(1 - sse / sst if sst > 1e-12 else np.nan)
        out["token_r2"][j] = np.nanmean(r2s) if not np.all(np.isnan(r2s)) else np.nan
    return out, n_active


def _random_codes(seed: int, n: int = 3000, d_sae: int = 40, k: int = 4, V: int = 30):
    g = torch.Generator().manual_seed(seed)
    tok = torch.randint(0, V, (n,), generator=g)
    # latents correlated with tokens: preferred latents per token plus random ones
    pref = torch.randint(0, d_sae, (V, 2), generator=g)
    idx = torch.cat([pref[tok], torch.randint(0, d_sae, (n, k - 2), generator=g)], 1)
    vals = torch.rand(n, k, generator=g) * (idx % 3 != 0)  # some zeros: inactive slots
    vals = vals.round(decimals=2)  # create ties to exercise the top-N tie rule
    # TopK codes never repeat a latent within a token: de-duplicate by zeroing repeats
    for j in range(1, k):
        dup = (idx[:, j : j + 1] == idx[:, :j]).any(1)
        vals[dup, j] = 0
    seq = torch.arange(n) // 25
    return vals, idx, tok, seq, d_sae, V


@pytest.mark.parametrize(("merge_min", "n_shards"), [(1, 1), (50, 3), (1 << 20, 7)])
def test_accumulator_matches_dense_brute_force(merge_min, n_shards):
    vals, idx, tok, seq, d_sae, V = _random_codes(0)
    top_n, min_count = 7, 5
    acc = AbstractnessAccumulator(
        d_sae, V, top_n=top_n, r2_min_count=min_count, merge_min=merge_min, n_shards=n_shards
    )
    for s in range(0, vals.shape[0], 137):  # uneven batches -> several merges
        acc.update(vals[s : s + 137], idx[s : s + 137], tok[s : s + 137], seq[s : s + 137])
    res = acc.finalize(min_activations=1)
    dense = torch.zeros(vals.shape[0], d_sae).scatter_add_(1, idx, vals).numpy()
    ref, n_active = _brute_force(
        dense.astype(np.float64), tok.numpy(), seq.numpy(), top_n, min_count
    )
    lat = res["latent"]
    np.testing.assert_array_equal(lat, np.nonzero(n_active >= 1)[0])
    np.testing.assert_array_equal(res["n_active"], n_active[lat])
    for m in ("entropy_all", "entropy_topN"):
        # integer counts: exact up to float64 rounding
        np.testing.assert_allclose(res[m], ref[m][lat], rtol=0, atol=1e-9, err_msg=m)
    for m in ("entropy_weighted", "token_r2"):
        # per-pair activation sums are stored in float32 (16 bytes per pair): 1e-6 absolute
        np.testing.assert_allclose(res[m], ref[m][lat], rtol=0, atol=1e-6, err_msg=m)


def test_limits_single_token_uniform_and_token_detector():
    """A latent firing only on one token id: entropy 0 and R² = 1 (exact token detector).
    A latent firing uniformly on m token ids: entropy log m. A latent independent of the token:
    R² ≈ 0 (≤ 0.05)."""
    rng = np.random.default_rng(1)
    n, V = 20000, 50
    tok = torch.as_tensor(rng.integers(0, V, n))
    seq = torch.arange(n) // 100
    # latent 0: active with value 2.0 exactly when token == 7
    # latent 1: active (value 1) on tokens 0..9 -> uniform over 10 ids in expectation
    # latent 2: active with prob 0.3 at random, independent of token
    k = 3
    idx = torch.tensor([0, 1, 2]).repeat(n, 1)
    v0 = (tok == 7).double() * 2.0
    v1 = (tok < 10).double()
    v2 = torch.as_tensor(rng.random(n) < 0.3).double() * torch.as_tensor(rng.random(n) + 0.5)
    vals = torch.stack([v0, v1, v2], 1).float()
    acc = AbstractnessAccumulator(3, V, top_n=10_000, r2_min_count=5)
    acc.update(vals, idx, tok, seq)
    res = acc.finalize()
    assert res["entropy_all"][0] == pytest.approx(0.0, abs=1e-12)
    assert res["token_r2"][0] == pytest.approx(1.0, abs=1e-9)
    counts = np.bincount(tok.numpy()[tok.numpy() < 10], minlength=10)
    assert res["entropy_all"][1] == pytest.approx(_entropy(counts.astype(float)), abs=1e-9)
    assert res["entropy_all"][1] == pytest.approx(np.log(10), abs=0.01)
    assert res["token_r2"][1] == pytest.approx(1.0, abs=1e-9)
    assert abs(res["token_r2"][2]) < 0.05
    assert res["entropy_all"][2] == pytest.approx(np.log(V), abs=0.02)
    assert k == vals.shape[1]


def test_grouped_entropy_empty_group_is_nan():
    h = grouped_entropy(torch.tensor([0, 0, 2]), torch.tensor([1.0, 3.0, 5.0]), 3)
    assert h[0].item() == pytest.approx(_entropy(np.array([1.0, 3.0])), abs=1e-12)
    assert np.isnan(h[1].item())
    assert h[2].item() == pytest.approx(0.0, abs=1e-12)


def _tiny_lm():
    return SimpleNamespace(model=tiny_hooked_transformer(), fwd_hooks=[])


def test_evaluate_sae_consumer_and_summary():
    """The evaluate_sae consumer yields per-latent measures; summary statistics are the numpy
    quantiles of the per-latent arrays."""
    lm = _tiny_lm()
    sae = TopKSAE(32, 96, 6, seed=0)
    tokens = np.random.default_rng(0).integers(0, 100, size=(12, 32))
    acc = AbstractnessAccumulator(96, 100, top_n=20, r2_min_count=3)
    evaluate_sae(lm, sae, tokens, 1, batch_size=5, latent_consumers=[acc.update])
    res = acc.finalize(min_activations=4)
    assert (res["n_active"] >= 4).all()
    summ = summarize_abstractness(res)
    a = res["entropy_topN"][~np.isnan(res["entropy_topN"])]
    assert summ["entropy_topN_median"] == pytest.approx(np.median(a), abs=1e-12)
    assert summ["entropy_topN_n_latents"] == a.size
    rows = abstractness_rows(res, model="tiny", n_params=1, init="trained", layer=1)
    assert [r["measure"] for r in rows] == list(PER_LATENT_MEASURES)
    # top-N entropy never exceeds log(top_n)
    assert np.nanmax(res["entropy_topN"]) <= np.log(20) + 1e-9
