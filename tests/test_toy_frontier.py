"""Tests of the Pareto frontiers and embedding-matrix loaders of the toy part (Figs 5, 22-29, 4.3).

Run: pytest tests/test_toy_frontier.py -q (a few seconds; no network: the Hub loader reads a
model saved to a temporary directory through the same from_pretrained call).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from randsae.toy.frontier import explained_variance, frontier_table, pareto_mask


def test_pareto_mask_lower_is_sparser():
    # (L0, EV): (1, .2) (2, .5) (3, .4) dominated by (2, .5); (5, .9); (5, .8) dominated by (5, .9)
    s = np.array([1.0, 2.0, 3.0, 5.0, 5.0])
    ev = np.array([0.2, 0.5, 0.4, 0.9, 0.8])
    assert pareto_mask(s, ev).tolist() == [True, True, False, True, False]
    np.testing.assert_allclose(explained_variance(pd.Series([0.25, 1.0])), [0.75, 0.0])


def test_pareto_mask_higher_is_sparser_nan_and_duplicates():
    # Hoyer: higher = sparser. (0.9, .3) and (0.5, .8) are both non-dominated; (0.4, .7) is not.
    s = np.array([0.9, 0.5, 0.4, np.nan, 0.5])
    ev = np.array([0.3, 0.8, 0.7, 1.0, 0.8])
    assert pareto_mask(s, ev, "higher").tolist() == [True, True, False, False, True]
    with pytest.raises(ValueError, match="sparser"):
        pareto_mask(s, ev, "sideways")
    with pytest.raises(ValueError, match="shape"):
        pareto_mask(s, ev[:2])


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(0)
    s, ev = rng.integers(0, 6, 60).astype(float), rng.integers(0, 6, 60).astype(float) / 5
    mask = pareto_mask(s, ev)
    for i in range(len(s)):
        dominated = np.any((s <= s[i]) & (ev >= ev[i]) & ((s < s[i]) | (ev > ev[i])))
        assert mask[i] == (not dominated)


def test_frontier_table_per_group_and_measure():
    summary = pd.DataFrame(
        {
            "dataset": "sharkey",
            "arm": ["plain"] * 3 + ["gaussian"] * 3,
            "n_latents": 8,
            "l1_coef": [1e-3, 1e-2, 1e-1] * 2,
            "fvu_mean": [0.1, 0.3, 0.2, 0.1, 0.5, 1.0],
            "l0_mean": [6.0, 3.0, 1.0, 6.0, 4.0, 0.0],
            "l1_mean": [3.0, 2.0, 1.0, 3.0, 2.0, 0.0],
            "l1_over_sqrt_l2_mean": [2.0, 1.5, 1.0, 2.0, 1.5, np.nan],
            "hoyer_mean": [0.2, 0.5, 0.9, 0.2, 0.4, np.nan],
        }
    )
    t = frontier_table(summary)
    assert set(t["measure"]) == {"l0", "l1", "l1_over_sqrt_l2", "hoyer"} and len(t) == 24
    plain_l0 = t[(t.arm == "plain") & (t.measure == "l0")].sort_values("l1_coef")
    np.testing.assert_allclose(plain_l0["ev"], [0.9, 0.7, 0.8])  # EV = 1 - FVU
    # L1 0.01 (L0 3, EV .7) is dominated by L1 0.1 (L0 1, EV .8)
    assert plain_l0["on_frontier"].tolist() == [True, False, True]
    gauss_hoyer = t[(t.arm == "gaussian") & (t.measure == "hoyer")]
    assert not gauss_hoyer["on_frontier"].iloc[2]  # NaN (all latents dead) is never on it
    with pytest.raises(ValueError, match="entropy"):
        frontier_table(summary, ["entropy"])


def test_embedded_input_embeddings_reads_w_e(tmp_path, tiny_model):
    from randsae.models.neox import save_model
    from randsae.toy.embeddings import embedded_input_embeddings

    save_model(tiny_model, tmp_path / "trained")
    w_e = embedded_input_embeddings(tmp_path / "trained" / "model.safetensors")
    assert w_e.shape == (100, 32) and w_e.dtype == np.float32
    np.testing.assert_array_equal(w_e, tiny_model.embed.W_E.detach().numpy())
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="embed.W_E"):
        embedded_input_embeddings(tmp_path / "other.safetensors")


def test_hf_input_embeddings_from_pretrained(tmp_path):
    # A tiny GPT-NeoX saved in the Hub layout; hf_input_embeddings loads it with the same
    # from_pretrained call it makes for EleutherAI/pythia-* (a hub id is resolved via HF_ENDPOINT).
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from randsae.toy.embeddings import hf_input_embeddings

    cfg = GPTNeoXConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(cfg)
    model.save_pretrained(tmp_path / "pythia-tiny")
    w_e = hf_input_embeddings(str(tmp_path / "pythia-tiny"))
    assert w_e.shape == (64, 16)
    np.testing.assert_allclose(w_e, model.gpt_neox.embed_in.weight.detach().numpy())


def test_make_toy_embeddings_and_sweep_all_arms(tmp_path, tiny_model):
    from test_toy import toy_sae

    from randsae.models.neox import save_model
    from randsae.toy.steps import make_toy_embeddings, make_toy_sweep

    save_model(tiny_model, tmp_path / "trained")
    npy = tmp_path / "emb" / "tiny.npy"
    make_toy_embeddings(
        "tiny", "embedded", None, str(tmp_path / "trained" / "model.safetensors"), str(npy)
    )
    assert np.load(npy).shape == (100, 32)
    with pytest.raises(ValueError, match="hf_name"):
        make_toy_embeddings("p", "pythia", None, None, str(tmp_path / "x.npy"))
    sae = toy_sae(log10_min=-3, log10_max=-2, num=2, batch_size=32, models_per_batch=4)
    out = tmp_path / "sweep" / "n64.csv"
    df = make_toy_sweep(
        "embed_tiny",
        ["plain", "gaussian_ffn"],
        64,
        seed=0,
        test_fraction=0.1,
        ffn_expansion=2,
        sharkey=None,
        gaussian_num_samples=None,
        sae=sae,
        vectors=str(npy),
        out_csv=str(out),
    )
    assert sorted(set(df["arm"])) == ["gaussian_ffn", "plain"] and len(df) == 4
    assert df["mmcs"].isna().all()  # no ground truth for embedding matrices
    assert pd.read_csv(out).shape == df.shape
