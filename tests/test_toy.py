"""Tests of the toy-model package (randsae.toy). Run: pytest tests/test_toy.py -q (about 20 s)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from randsae.errors import ConfigError
from randsae.sections import L1CoefsConfig, SharkeyData, ToySAEConfig, check_config
from randsae.seeds import stable_seed
from randsae.toy import ARMS
from randsae.toy.config import dictionary_sizes, parse_dataset, toy_datasets
from randsae.toy.data import (
    gaussian_like,
    generate_sharkey,
    generator,
    lomax,
    sharkey_coefficients,
    sharkey_features,
    train_test_split,
)
from randsae.toy.ffn import apply_ffn, random_ffn
from randsae.toy.illustration import illustration_2d
from randsae.toy.metrics import batch_metrics, mmcs, summarize
from randsae.toy.sae import StackedSAE, standardize
from randsae.toy.train import build_arm, evaluate_stacked, l1_coef_values, run_sweep, train_stacked

torch.set_num_threads(1)

SMALL = dict(
    num_samples=3000, num_inputs=32, num_features=48, avg_active_features=3, lambda_decay=0.99
)


def shk(**over) -> SharkeyData:
    return SharkeyData.from_dict({**SMALL, **over})


def toy_sae(log10_min=-3, log10_max=-1, num=3, **over) -> ToySAEConfig:
    """A toy.sae section: one seed, one epoch of batches of 64 at lr 1e-3, unless ``over``."""
    sae = {
        **dict(seeds=1, tuning_seed=None, epochs=1, batch_size=64, lr=1e-3, models_per_batch=1),
        **over,
    }
    return ToySAEConfig.from_dict(
        {**sae, "l1_coefs": dict(log10_min=log10_min, log10_max=log10_max, num=num)}
    )


def test_stable_seed_is_deterministic_and_distinct():
    assert stable_seed(0, "sharkey", "data", 1) == stable_seed(0, "sharkey", "data", 1)
    assert stable_seed(0, "sharkey", "data", 1) != stable_seed(0, "sharkey", "data", 2)
    assert 0 <= stable_seed("x") < 2**31


def test_sharkey_data_statistics():
    # Paper settings h=256, G=512, 5 active on average: the rescaling targets the mean count.
    d = generate_sharkey(4000, 256, 512, 5.0, 0.99, seed=1)
    assert d.samples.shape == (4000, 256) and d.features.shape == (256, 512)
    torch.testing.assert_close(d.features.norm(dim=0), torch.ones(512))
    active = (d.coefficients > 0).float().sum(dim=1).mean().item()
    assert 4.5 < active < 5.5
    assert d.coefficients.min() >= 0 and d.coefficients.max() <= 1
    torch.testing.assert_close(d.samples, d.coefficients @ d.features.T)
    # p^(lambda*i) is 1 for feature 0, so it fires about twice as often as the average
    # feature. (Phi(c) saturates at 0 or 1 because Var c ~ G, so the decay barely acts.)
    freq = (d.coefficients > 0).float().mean(dim=0)
    assert freq[0] > 1.5 * freq[1:].mean()


def test_sharkey_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_features"):
        generate_sharkey(10, 8, 0, 5.0, 0.99, seed=0)


def test_gaussian_control_matches_mean_and_std():
    data = 0.3 + 2.0 * torch.rand(5000, 16)
    g = gaussian_like(data, 20000, seed=3)
    assert g.shape == (20000, 16)
    assert abs(g.mean().item() - data.mean().item()) < 0.02
    assert abs(g.std().item() - data.std().item()) < 0.02


def test_random_ffn_shape_and_determinism():
    net = random_ffn(8, 4, seed=5)
    assert net[0].weight.shape == (32, 8) and net[2].weight.shape == (8, 32)
    x = torch.randn(10, 8)
    y = apply_ffn(net, x)
    assert y.shape == (10, 8) and not y.requires_grad
    torch.testing.assert_close(y, apply_ffn(random_ffn(8, 4, seed=5), x))
    assert not torch.allclose(y, apply_ffn(random_ffn(8, 4, seed=6), x))
    bound = 1 / math.sqrt(8)
    assert net[0].weight.abs().max() <= bound


def test_lomax_median():
    # Lomax(scale 1, alpha 1) has median 1.
    x = lomax((200000,), 1.0, 1.0, generator(0))
    assert x.min() >= 0 and abs(x.median().item() - 1.0) < 0.03


def test_train_test_split_partitions():
    tr, te = train_test_split(100, 0.1, seed=0)
    assert len(te) == 10 and len(tr) == 90
    assert sorted(torch.cat([tr, te]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(100, 1.5, seed=0)


def test_batch_metrics_hand_computed():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 2.0]])  # squared errors 0, 1, 0, 4 -> mse 1.25
    z = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    m = batch_metrics(x, x_hat, z)
    assert m["mse"] == pytest.approx(1.25)
    assert m["fvu"] == pytest.approx(1.25 / torch.tensor([1.0, 2.0, 3.0, 4.0]).var().item())
    assert m["l0"] == pytest.approx(1.5)  # 2 and 1 non-zeros
    assert m["l1"] == pytest.approx(6.0)  # (7 + 5) / 2
    assert m["l2"] == pytest.approx(5.0)  # (5 + 5) / 2
    assert m["l1_over_sqrt_l2"] == pytest.approx(6.0 / math.sqrt(5.0))
    assert m["hoyer"] == pytest.approx((2.0 - 6.0 / 5.0) / (2.0 - 1.0))
    one_hot = batch_metrics(x, x, torch.tensor([[0.0, 2.0, 0.0, 0.0]]))
    assert one_hot["hoyer"] == pytest.approx(1.0) and one_hot["mse"] == 0.0


def test_mmcs_hand_computed():
    features = torch.eye(3)  # (d=3, G=3)
    decoder = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # rows = directions
    # feature 1: cos 1; features 2 and 3: cos 1/sqrt(2) with the second direction.
    assert mmcs(decoder, features) == pytest.approx((1 + 2 / math.sqrt(2)) / 3)


def test_summarize_mean_std_sem():
    df = pd.DataFrame({"arm": ["a", "a", "a"], "l1_coef": [0.1] * 3, "mse": [1.0, 2.0, 3.0]})
    s = summarize(df, ["arm", "l1_coef"])
    assert s.loc[0, "mse_mean"] == pytest.approx(2.0)
    assert s.loc[0, "mse_std"] == pytest.approx(1.0)
    assert s.loc[0, "mse_sem"] == pytest.approx(1.0 / math.sqrt(3))
    assert s.loc[0, "n_seeds"] == 3
    with pytest.raises(ValueError, match="nope"):
        summarize(df, ["nope"])


def test_sae_invariants():
    sae = StackedSAE(6, 10, seeds=[1, 2])
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(2, 10))
    x = torch.randn(2, 5, 6) * 3 + 1
    x_hat, z = sae(x)
    assert x_hat.shape == x.shape and z.shape == (2, 5, 10) and (z >= 0).all()
    xs, mean, std = standardize(x)
    torch.testing.assert_close(xs.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    # Stacked init equals the init of a model built alone with the same seed.
    alone = StackedSAE(6, 10, seeds=[2])
    torch.testing.assert_close(alone.W_enc[0], sae.W_enc[1])
    torch.testing.assert_close(alone.W_dec[0], sae.W_dec[1])
    with pytest.raises(ValueError, match="n_latents"):
        StackedSAE(6, 0, seeds=[1])


def test_vectorised_training_equals_per_model_training():
    data = build_arm(
        "sharkey",
        "ffn",
        [0, 1],
        0,
        test_fraction=0.1,
        ffn_expansion=2,
        sharkey=shk(num_samples=600),
    )
    seed_index, coefs, seeds = [0, 1, 0], [1e-3, 1e-3, 1e-2], [11, 12, 11]
    kw = dict(epochs=3, batch_size=64, lr=1e-3)
    stacked = train_stacked(data.train, seed_index, coefs, seeds, 40, **kw)
    for m in range(3):
        single = train_stacked(data.train, [seed_index[m]], [coefs[m]], [seeds[m]], 40, **kw)
        for name in ("W_enc", "b_enc", "W_dec"):
            torch.testing.assert_close(
                getattr(single, name)[0], getattr(stacked, name)[m], atol=1e-5, rtol=1e-4
            )
    met_stacked = evaluate_stacked(stacked, data.test, seed_index, data.features, 64)
    met_single = evaluate_stacked(
        train_stacked(data.train, [1], [1e-3], [12], 40, **kw), data.test, [1], data.features, 64
    )
    assert met_stacked[1]["mse"] == pytest.approx(met_single[0]["mse"], rel=1e-4)
    assert met_stacked[1]["mmcs"] == pytest.approx(met_single[0]["mmcs"], rel=1e-4)


def test_planted_dictionary_recovered_without_ffn():
    # A planted sparse dictionary (Sharkey-style, h=32, G=48, 3 active) is recovered by the
    # L1 SAE: mean max cosine similarity of decoder directions to the truth > 0.9.
    data = build_arm("sharkey", "plain", [0], 0, test_fraction=0.1, ffn_expansion=4, sharkey=shk())
    cfg = toy_sae(log10_min=-1, log10_max=-1, num=1, epochs=40, batch_size=128, lr=3e-3)
    df = run_sweep(data, dataset="sharkey", arm="plain", n_latents=96, sae_cfg=cfg, master_seed=0)
    assert df.loc[0, "mmcs"] > 0.9
    assert df.loc[0, "fvu"] < 0.2
    # A random (untrained) decoder of the same size is far from the truth.
    untrained = StackedSAE(32, 96, seeds=[0])
    assert mmcs(untrained.W_dec[0], data.features[0]) < 0.6


def test_arms_and_gaussian_control_have_no_ground_truth():
    seen = {}
    for arm in ARMS:
        ad = build_arm(
            "sharkey",
            arm,
            [0],
            0,
            test_fraction=0.1,
            ffn_expansion=2,
            sharkey=shk(num_samples=200),
        )
        seen[arm] = ad
        assert ad.train.shape == (1, 180, 32) and ad.test.shape == (1, 20, 32)
        assert (ad.features is None) == arm.startswith("gaussian")
    plain = torch.cat([seen["plain"].train[0], seen["plain"].test[0]])
    gauss = torch.cat([seen["gaussian"].train[0], seen["gaussian"].test[0]])
    assert abs(gauss.std().item() - plain.std().item()) < 0.1 * plain.std().item()
    # The FFN arm's features are the ground truth pushed through the same network.
    assert seen["ffn"].features.shape == (1, 32, 48)
    with pytest.raises(ValueError, match="bogus"):
        build_arm("sharkey", "bogus", [0], 0, test_fraction=0.1, ffn_expansion=2, sharkey=shk())


def test_word_vector_arm_uses_given_vectors():
    vecs = torch.randn(500, 10)
    ad = build_arm(
        "word2vec10",
        "gaussian",
        [0, 1],
        0,
        test_fraction=0.2,
        ffn_expansion=2,
        vectors=vecs,
        gaussian_num_samples=300,
    )
    assert ad.train.shape == (2, 240, 10) and ad.features is None
    plain = build_arm(
        "word2vec10", "plain", [0], 0, test_fraction=0.2, ffn_expansion=2, vectors=vecs
    )
    assert sorted(torch.cat([plain.train[0], plain.test[0]])[:, 0].tolist()) == sorted(
        vecs[:, 0].tolist()
    )


def test_run_sweep_rows_and_bad_inputs():
    data = build_arm(
        "sharkey",
        "gaussian",
        [0, 1],
        0,
        test_fraction=0.1,
        ffn_expansion=2,
        sharkey=shk(num_samples=300),
    )
    cfg = toy_sae(log10_min=-3, log10_max=-1, num=3, seeds=2, models_per_batch=4)
    df = run_sweep(
        data, dataset="sharkey", arm="gaussian", n_latents=16, sae_cfg=cfg, master_seed=0
    )
    assert len(df) == 6 and set(df["seed"]) == {0, 1}
    assert df["mmcs"].isna().all()
    np.testing.assert_allclose(sorted(set(df["l1_coef"])), [1e-3, 1e-2, 1e-1])
    with pytest.raises(ValueError, match="n_latents"):
        run_sweep(data, dataset="sharkey", arm="gaussian", n_latents=0, sae_cfg=cfg, master_seed=0)
    with pytest.raises(ValueError, match="toy.sae.models_per_batch"):
        cfg.replace(models_per_batch=0)


def test_arms_stacked_together_train_as_apart():
    """run_sweep_arms stacks every arm x seed x coefficient in one loop; the models train as
    they do one arm at a time (StackedSAE sums independent losses), with the same rows."""
    from randsae.toy.train import run_sweep_arms

    kw = dict(test_fraction=0.1, ffn_expansion=2, sharkey=shk(num_samples=300))
    datas = {a: build_arm("sharkey", a, [0, 1], 0, **kw) for a in ("plain", "gaussian", "ffn")}
    cfg = toy_sae(log10_min=-3, log10_max=-2, num=2, seeds=2, epochs=2, models_per_batch=12)
    together = run_sweep_arms(datas, dataset="sharkey", n_latents=16, sae_cfg=cfg, master_seed=0)
    apart = pd.concat(
        [run_sweep(d, dataset="sharkey", arm=a, n_latents=16, sae_cfg=cfg.replace(models_per_batch=1),
                   master_seed=0) for a, d in datas.items()],
        ignore_index=True,
    )  # fmt: skip
    assert len(together) == 3 * 2 * 2
    cols = ["fvu", "l0", "mmcs", "mmcs_baseline"]
    keys = ["arm", "seed", "l1_coef"]
    pd.testing.assert_frame_equal(
        together[keys + cols], apart[keys + cols], check_exact=False, rtol=1e-4, atol=1e-5
    )
    assert together.loc[together["arm"] == "gaussian", "mmcs_baseline"].isna().all()


def test_l1_coef_values_paper_grid():
    coefs = l1_coef_values(L1CoefsConfig(log10_min=-3, log10_max=2, num=21))
    assert (
        len(coefs) == 21 and coefs[0] == pytest.approx(1e-3) and coefs[-1] == pytest.approx(100.0)
    )
    assert coefs[4] == pytest.approx(1e-2)  # the reduced default's points lie on the paper grid


def test_hoyer_extremes():
    # Hoyer sparsity is 1 for a one-hot code and 0 for a flat one, whatever the scale.
    x = torch.zeros(1, 2)
    assert batch_metrics(x, x, torch.tensor([[0.0, 0.0, 7.0, 0.0]]))["hoyer"] == pytest.approx(1.0)
    assert batch_metrics(x, x, torch.full((1, 4), 3.0))["hoyer"] == pytest.approx(0.0, abs=1e-6)
    half = batch_metrics(x, x, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))["hoyer"]
    assert half == pytest.approx((2.0 - math.sqrt(2.0)) / (2.0 - 1.0))


def test_sharkey_features_on_unit_sphere_and_decay_with_a_small_covariance():
    # Features: unit-norm points on the h-sphere. The decay p^(lambda*i) makes later features
    # rarer when Phi(c) is not saturated; with the paper's A A^T (Var c ~ G) it mostly is.
    g = generator(0)
    feats = sharkey_features(16, 40, g)
    torch.testing.assert_close(feats.norm(dim=0), torch.ones(40))
    coef = sharkey_coefficients(20000, 40, 3.0, 0.99, generator(1))
    assert ((coef > 0).float().sum(dim=1).mean().item()) == pytest.approx(3.0, rel=0.05)
    freq = (coef > 0).float().mean(dim=0)
    assert freq[:5].mean() > freq[-5:].mean()


@pytest.mark.slow
def test_default_toy_config_recovers_features_mmcs_above_09():
    # ~10 s on one idle core. The default config.yaml sweep (plain arm, first dictionary size,
    # every reported seed) must show the Goldilocks zone of Fig 4: some L1 coefficient recovers
    # the ground truth, mean MMCS over the seeds >= 0.9 (and every seed >= 0.88).
    from randsae.toy.stats import arm_data
    from randsae.toy.train import ToyData

    toy = check_config(_configs()[0]).toy
    seeds = list(range(toy.sae.seeds))
    assert len(seeds) >= 3 and toy.sae.tuning_seed not in seeds
    data = ToyData(toy.seed, toy.test_fraction, toy.ffn_expansion, sharkey=toy.sharkey)
    ad = arm_data("sharkey", "plain", seeds, data, None)
    n = toy.sharkey.num_latents[0]
    df = run_sweep(
        ad, dataset="sharkey", arm="plain", n_latents=n, sae_cfg=toy.sae, master_seed=toy.seed
    )
    mean = df.groupby("l1_coef")["mmcs"].mean()
    best = mean.idxmax()
    assert mean.max() >= 0.9, df[["seed", "l1_coef", "mmcs", "l0", "fvu"]].to_string()
    assert df.loc[df["l1_coef"] == best, "mmcs"].min() >= 0.88
    # ... and it is a zone, not a plateau: the smallest coefficient recovers much less.
    assert mean.iloc[0] < mean.max() - 0.2
    # the one-direction baseline (the data mean) is far below: recovery, not a shared offset
    assert df["mmcs_baseline"].max() < 0.2


def test_illustration_2d_pinv_roundtrip():
    panels = illustration_2d(seed=0, num_samples=1000)
    assert panels["sparse_inputs"].shape == (1000, 3) and panels["dense_outputs"].shape == (1000, 2)
    # pinv maps the 2-D outputs back to 3-D; re-embedding gives the outputs again (rank 2).
    assert np.isfinite(panels["sparse_outputs"].to_numpy()).all()
    x = panels["sparse_inputs"].to_numpy()
    assert (np.sign(x) != 0).all() and np.median(np.abs(x)) == pytest.approx(1.0, abs=0.15)


ROOT = Path(__file__).resolve().parents[1]


def _configs():
    """The default (config.yaml) and paper (configs/paper.yaml) configs."""
    return [yaml.safe_load((ROOT / p).read_text()) for p in ("config.yaml", "configs/paper.yaml")]


def test_config_helpers_and_bad_keys():
    default_cfg, paper_cfg = _configs()
    default_run, paper_run = check_config(default_cfg), check_config(paper_cfg)
    default, paper = default_run.toy, paper_run.toy
    assert toy_datasets(default) == ["sharkey", "word2vec50", "embed_tiny-neox"]
    assert toy_datasets(paper) == [
        "sharkey",
        "glove50",
        "glove100",
        "glove200",
        "glove300",
        "embed_pythia-70m-deduped",
        "embed_pythia-160m-deduped",
        "embed_pythia-410m-deduped",
    ]
    assert dictionary_sizes(paper, "glove300") == [600, 1200, 2400, 4800]
    assert dictionary_sizes(paper, "sharkey") == [512, 1024, 2048, 4096]
    # embedding matrices: multipliers x d_model (Pythia-70m: 512; the embedded model: 128)
    assert dictionary_sizes(paper, "embed_pythia-70m-deduped", paper_run.models) == [
        1024,
        2048,
        4096,
        8192,
    ]
    assert dictionary_sizes(default, "embed_tiny-neox", default_run.models) == [256]
    assert parse_dataset("word2vec50") == ("word2vec", 50)
    assert parse_dataset("embed_pythia-1.4b-deduped") == ("embed", "pythia-1.4b-deduped")
    with pytest.raises(ValueError, match="imdb"):
        parse_dataset("imdb")
    with pytest.raises(ValueError, match="embed_"):
        parse_dataset("embed_")
    with pytest.raises(ValueError, match="toy.embeddings.models"):
        dictionary_sizes(default, "embed_gpt-5", default_run.models)
    toy = default_cfg["toy"]
    for bad, match in [
        ({"embeddings": {**toy["embeddings"], "models": ["gpt-5"]}}, "toy.embeddings.models"),
        ({"arms": ["plain", "nonsense"]}, "toy.arms"),
        ({"sharkey": {**toy["sharkey"], "num_latents": [0]}}, "toy.sharkey.num_latents"),
        ({"words": {**toy["words"], "source": "glove", "dims": [64]}}, "toy.words.dims"),
    ]:
        with pytest.raises(ConfigError, match=match):
            check_config({**default_cfg, "toy": {**toy, **bad}})
    # the settings are chosen on a seed that is not reported
    bad = {"sae": {**toy["sae"], "tuning_seed": 1}}
    with pytest.raises(ConfigError, match="toy.sae.tuning_seed"):
        check_config({**default_cfg, "toy": {**toy, **bad}})
    assert check_config({**default_cfg, "toy": {**toy, "sae": {**toy["sae"], "tuning_seed": None}}})
