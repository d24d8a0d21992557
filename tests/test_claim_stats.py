"""Each claim statistic on synthetic tables with a known answer (docs/claims.md), the five
verdicts, the pooled AUROC with its latent bootstrap, and the CE/KL conditioning flag.

The 7b and 7c tests use only ``claims_table`` and literal verdict strings, so they also run
against older code: there, 7b (a sign test) and 7c (an existence test) say "holds" and fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from randsae.tables import claims as C

INITS = ["trained", "step0", "rerandomized", "rerandomized_embeddings", "noise_control"]
RAND = ["step0", "rerandomized", "rerandomized_embeddings"]
LAYERS = (0, 1, 2, 3)


def by_sub(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop_duplicates("sub").set_index("sub")


def exact_world(model="m", n_params=10**6, n_lat=6, auc=None, l1=None):
    """Noise-free tables: every latent of a cell has the cell's value, so each statistic has a
    value computable by hand (see the test). Fuzzing windows: 10 negatives scored 0..9 and 10
    positives all scored c + 0.5, i.e. an AUROC of exactly (c + 1) / 10 for every latent and
    for the cell pooled."""
    auc = auc or {"trained": 0.8, "noise_control": 0.5, **dict.fromkeys(RAND, 0.7)}
    l1 = l1 or {"trained": 10.0, "step0": 5.0, "rerandomized": 9.0,
                "rerandomized_embeddings": 9.5, "noise_control": 6.0}  # fmt: skip
    ev = {"trained": 0.9, "step0": 0.8, "rerandomized": 0.85, "rerandomized_embeddings": 0.86}
    sm, ai, lat, win = [], [], [], []
    for init in INITS:
        tr, ctrl = init == "trained", init == "noise_control"
        for layer in LAYERS:
            e = 0.5 - 0.1 * layer if ctrl else ev[init]
            gap = 3.0 if tr else 0.3
            sm.append({"model": model, "n_params": n_params, "init": init, "layer": layer,
                       "explained_variance": e, "cossim": 0.5 if ctrl else 0.9, "l1": l1[init],
                       "ce_loss_score": 0.9, "ce_loss_without_sae": 4.0,
                       "ce_loss_with_ablation": 4.0 + gap})  # fmt: skip
            ent = 4.0 if ctrl else (2.0 + 0.5 * layer if tr else 1.0)
            for s in ("fuzzing", "detection"):
                ai.append({"model": model, "n_params": n_params, "init": init, "layer": layer,
                           "scorer": s, "auroc_pooled": auc[init]})  # fmt: skip
            c = round(auc[init] * 10) - 1
            for i in range(n_lat):
                lat.append({"model": model, "init": init, "layer": layer, "latent": i,
                            "token_entropy": ent, "fuzzing_auroc": auc[init],
                            "detection_auroc": auc[init]})  # fmt: skip
                for s in ("fuzzing", "detection"):
                    win += [(model, init, layer, s, i, 0, float(j)) for j in range(10)]
                    win += [(model, init, layer, s, i, 1, c + 0.5) for _ in range(10)]
    cols = ["model", "init", "layer", "scorer", "latent", "label", "prob"]
    return pd.DataFrame(sm), pd.DataFrame(ai), pd.DataFrame(lat), pd.DataFrame(win, columns=cols)


def test_claims_1_to_6_known_values():
    sm, ai, lat, win = exact_world()
    by = by_sub(C.claims_table(sm, ai, lat, None, n_boot=50, seed=0, windows=win))
    expected = {
        "1a-fuzzing": (0.3 - 0.1, "holds"),  # |T - C| - |T - v| = |0.8 - 0.5| - |0.8 - 0.7|
        "1b-fuzzing": (0.0, "holds"),  # |0.5 - 0.5| < 0.1
        "2a-cossim": (0.4, "holds"),  # 0.9 - 0.5
        "2a-explained_variance": (0.45, "holds"),  # mean_l 0.8 - (0.5 - 0.1 l)
        "2b": (0.1, "holds"),  # control FVU 0.5 + 0.1 l
        "2c": (0.0, "contradicted"),  # the other variants' FVU is flat: not "< 0"
        "3a-l1": (4.0, "holds"),  # |5 - 10| - max(|9 - 10|, |9.5 - 10|)
        "3a-explained_variance": (0.05, "holds"),  # |0.8 - 0.9| - max(0.05, 0.04)
        "5": (0.1, "holds"),  # ablation gap 0.3 / 3.0
        "6a": (0.5, "holds"),  # min_l 4 - (2 + 0.5 l)
        "6b": (0.5, "holds"),  # trained slope
        "6c": (-1.0, "holds"),  # max_l 1 - min(2 + 0.5 l, 4)
        "6d": (0.5, "holds"),  # 0.5 - 0
    }
    for sub, (value, verdict) in expected.items():
        assert by.loc[sub, "value"] == pytest.approx(value, abs=1e-9), sub
        assert by.loc[sub, "verdict"] == verdict, (sub, by.loc[sub].to_dict())
    # AUROC claims: pooled AUROC from the windows; per-latent mean as the second column
    assert by.loc["1a-fuzzing", "stat_kind"] == "pooled"
    assert by.loc["1a-fuzzing", "value_per_latent"] == pytest.approx(0.2)
    assert by.loc["1a-fuzzing", "resampled"] == "latents within cells"
    assert by.loc["1a-fuzzing", "n_units"] == 5 * 4 * 6


def test_claims_3b_and_4_known_values():
    small = exact_world("small", 10**6)
    big = exact_world(
        "big", 10**8,
        auc={"trained": 0.9, "noise_control": 0.5, **dict.fromkeys(RAND, 0.8)},
        l1={"trained": 10.0, "step0": 2.0, "rerandomized": 9.0,
            "rerandomized_embeddings": 9.5, "noise_control": 6.0},
    )  # fmt: skip
    sm, ai, lat, win = (
        pd.concat([a, b], ignore_index=True) for a, b in zip(small, big, strict=True)
    )
    by = by_sub(C.claims_table(sm, ai, lat, None, n_boot=50, seed=0, windows=win))
    # every non-control AUROC rises by 0.1 over two decades of n_params
    assert by.loc["4-fuzzing", "value"] == pytest.approx(0.05)
    assert by.loc["4-fuzzing", "value_per_latent"] == pytest.approx(0.05)
    assert by.loc["4-fuzzing", "verdict"] == "holds"
    # relative tracking (|S0 - T| - max |v - T|) / |T|: big (8 - 1) / 10 - small (5 - 1) / 10
    assert by.loc["3b-size", "value"] == pytest.approx(0.3)


def per_latent(rho_signs: dict[str, float], n_lat=60, seed=0, hi_auc=None):
    """Per-latent tables whose entropy-AUROC correlation has the sign/strength given per init
    (+1 / -1: perfectly monotone, between: mixed with noise); ``hi_auc[init]``: number of latents
    per layer made high-entropy and high-AUROC."""
    rng = np.random.default_rng(seed)
    sm, lat = [], []
    for init in INITS:
        for layer in LAYERS:
            sm.append({"model": "m", "n_params": 10**6, "init": init, "layer": layer,
                       "explained_variance": 0.9, "cossim": 0.9, "l1": 1.0})  # fmt: skip
            h = rng.uniform(1.0, 3.0, n_lat)
            r = rho_signs.get(init, 0.0)
            z = (h - 2.0) / 0.58
            a = 0.65 + 0.1 * (r * z + np.sqrt(max(0.0, 1 - r * r)) * rng.normal(0, 1, n_lat))
            a = np.clip(a, 0.0, 0.79)  # nobody is "high-AUROC" unless made so below
            k = (hi_auc or {}).get(init, 0)
            h[:k], a[:k] = 3.5, 0.9  # high-entropy, high-AUROC latents
            for i in range(n_lat):
                lat.append({"model": "m", "init": init, "layer": layer, "latent": i,
                            "token_entropy": h[i], "fuzzing_auroc": a[i],
                            "detection_auroc": a[i]})  # fmt: skip
    return pd.DataFrame(sm), pd.DataFrame(lat)


def test_7b_compares_magnitudes_not_signs():
    """rho_trained ~ +1 is a stronger correlation than rho = -0.4, not a weaker one: the claim
    "weaker for trained" is contradicted (a sign test, rho_T - rho_R > 0, says it holds)."""
    sm, lat = per_latent({"trained": 1.0, **dict.fromkeys(RAND, -0.4)})
    by = by_sub(C.claims_table(sm, None, lat, None, n_boot=200, seed=0))
    assert by.loc["7b", "verdict"] == "contradicted", by.loc["7b"].to_dict()
    assert by.loc["7a", "verdict"] == "holds"  # randomized correlations are negative
    (rho_t,) = _rhos(lat, ["trained"])
    assert rho_t > 0.95
    assert by.loc["7b", "value"] == pytest.approx(
        np.mean([abs(x) for x in _rhos(lat, RAND)]) - rho_t, abs=1e-9
    )


def _rhos(lat, inits):
    from randsae.tables.resample import spearman

    out = []
    for init in inits:
        g = lat[lat["init"] == init]
        out.append(
            np.mean(
                [spearman(d["token_entropy"], d["fuzzing_auroc"]) for _, d in g.groupby("layer")]
            )
        )
    return out


def test_7c_compares_trained_with_randomized_rates():
    """3 of 240 trained latents are high-entropy and high-AUROC, but 24 of 240 of each
    randomized variant are: trained does not have more such latents. An existence test ("at
    least one trained latent qualifies") says it holds."""
    sm, lat = per_latent(
        {"trained": 0.0, **dict.fromkeys(RAND, -0.5)},
        hi_auc={"trained": 1, **dict.fromkeys(RAND, 6)},
    )
    qual = (lat["token_entropy"] == 3.5) & (lat["fuzzing_auroc"] == 0.9)
    assert qual[lat["init"] == "trained"].sum() == 4 and qual[lat["init"] == "step0"].sum() == 24
    by = by_sub(C.claims_table(sm, None, lat, None, n_boot=300, seed=0))
    assert by.loc["7c", "verdict"] == "contradicted", by.loc["7c"].to_dict()
    assert by.loc["7c", "value"] == pytest.approx(4 / 240 - 24 / 240)
    # and the other way round it holds
    sm, lat = per_latent(
        {"trained": 0.0, **dict.fromkeys(RAND, -0.5)}, hi_auc={"trained": 10, "step0": 1}
    )
    by = by_sub(C.claims_table(sm, None, lat, None, n_boot=300, seed=0))
    assert by.loc["7c", "value"] == pytest.approx(40 / 240 - 4 / 240)
    assert by.loc["7c", "verdict"] == "holds"


def test_inconclusive_when_the_ci_crosses_the_threshold():
    """No true effect (the statistic's true value is the threshold) and noisy units: the CI
    crosses the threshold."""
    from tests.test_claims import toy_world

    sm, lat = per_latent(
        {"trained": -0.2, **dict.fromkeys(RAND, -0.2)},
        n_lat=25,
        seed=3,
        hi_auc={"trained": 2, **dict.fromkeys(RAND, 2)},
    )
    toy = toy_world(0.0, 0.0, seeds=4)  # true A = 0; seed-to-seed noise of the sparsity:
    noise = np.random.default_rng(0).normal(0, 0.2, (4, 4))  # (arm, seed)
    arm = toy["arm"].map({"plain": 0, "gaussian": 1, "ffn": 2, "gaussian_ffn": 3})
    toy["l0"] *= np.exp(noise[arm.to_numpy(), toy["seed"].to_numpy()])
    by = by_sub(C.claims_table(sm, None, lat, toy, n_boot=300, seed=0))
    for sub in ("7b", "7c", "8a", "8b"):
        row = by.loc[sub]
        assert row["verdict"] == "inconclusive", (sub, row.to_dict())
        assert row["ci_low"] < row["threshold"] < row["ci_high"]


def test_pooled_auroc_pair_counts_match_pooling_the_windows():
    from randsae.autointerp.scoring import auroc
    from randsae.tables.pooled import PairCounts

    rng = np.random.default_rng(0)
    lat = np.repeat([3, 5, 9], [7, 12, 5])
    label = rng.integers(0, 2, len(lat))
    prob = np.round(rng.uniform(0, 1, len(lat)), 1)  # ties
    pc = PairCounts.from_windows(lat, label, prob)
    assert pc.latents.tolist() == [3, 5, 9]
    assert pc.auroc() == pytest.approx(auroc(label, prob))
    # a bootstrap draw (latent 5 twice, 9 once, 3 never) equals pooling the drawn windows
    idx = np.concatenate([np.flatnonzero(lat == 5)] * 2 + [np.flatnonzero(lat == 9)])
    assert pc.auroc(np.array([[0.0, 2.0, 1.0]]))[0] == pytest.approx(auroc(label[idx], prob[idx]))
    # two latents, each perfectly separated, on different scales: per-latent AUROC 1, pooled 3/4
    two = PairCounts.from_windows([0, 0, 1, 1], [1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1])
    assert two.auroc() == pytest.approx(0.75)


def test_pooled_and_per_latent_auroc_can_disagree():
    """Trained's odd latents score on a shifted scale (negatives 10..19, positives 15.5: AUROC
    0.6), its even ones as before (0.8). Per-latent mean 0.7; pooled (0.8 + 0.6 + 1 + 0) / 4 =
    0.6, as the odd positives beat every even negative and the even positives no odd negative."""
    sm, ai, lat, win = exact_world()
    t = (win["init"] == "trained") & (win["latent"] % 2 == 1)
    win.loc[t, "prob"] = np.where(win.loc[t, "label"] == 1, 15.5, win.loc[t, "prob"] + 10)
    lat.loc[(lat["init"] == "trained") & (lat["latent"] % 2 == 1), "fuzzing_auroc"] = 0.6
    by = by_sub(C.claims_table(sm, ai, lat, None, n_boot=20, seed=0, windows=win))
    assert by.loc["1a-fuzzing", "value"] == pytest.approx(abs(0.6 - 0.5) - abs(0.6 - 0.7))
    assert by.loc["1a-fuzzing", "value_per_latent"] == pytest.approx(0.2)


def test_lexical_backend_makes_auroc_claims_circular():
    sm, ai, lat, win = exact_world()
    ai["backend"] = "lexical"
    df = C.claims_table(sm, ai, lat, None, n_boot=50, seed=0, windows=win)
    by = by_sub(df)
    for sub in ("1a-fuzzing", "1b-fuzzing", "1b-detection", "7a"):
        assert by.loc[sub, "verdict"] in ("circular", "not testable"), sub
    assert by.loc["1b-fuzzing", "verdict"] == "circular"
    assert "on the CI alone: holds" in by.loc["1b-fuzzing", "detail"]
    assert by.loc["2b", "verdict"] == "holds"  # SAE metrics are not affected
    assert set(df.loc[df["claim"].isin([1, 4, 7]), "verdict"]) <= {"circular", "not testable"}
    ai["backend"] = "anthropic"
    by = by_sub(C.claims_table(sm, ai, lat, None, n_boot=50, seed=0, windows=win))
    assert by.loc["1b-fuzzing", "verdict"] == "holds"


def test_distinguishability_and_grid_carry_the_ce_flag():
    from randsae.figures.grid import grid_long_table, pool_columns
    from randsae.tables.aggregate import flag_small_denominators
    from randsae.tables.distinguishability import distinguishability_table

    sm, ai, lat, _ = exact_world()
    sm = flag_small_denominators(sm.assign(ce_loss_with_ablation=lambda d: d["ce_loss_without_sae"]
                                           + np.where(d["init"] == "trained", 3.0, 0.01)))  # fmt: skip
    df = distinguishability_table(sm, ai, lat, n_boot=20, n_perm=19, seed=0)
    ce = df[df["metric"] == "ce_loss_score"]
    assert ce["flagged"].all()  # every variant's denominator (0.01) is below the threshold
    assert not df.loc[df["metric"] == "explained_variance", "flagged"].any()
    long = grid_long_table(sm, ai, pd.DataFrame())
    ce_long = long[long["metric"] == "ce_loss_score"].set_index("init")
    assert not ce_long.loc["trained", "flagged"].any() and ce_long.loc["step0", "flagged"].all()
    pooled = pool_columns(long)
    assert pooled.loc[pooled["metric"] == "ce_loss_score", "flagged"].sum() == 4 * 4
