"""Claims and distinguishability tables (randsae/tables/claims.py) on synthetic tables where each
claim holds, fails or cannot be tested."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from randsae.tables import claim_stats as S
from randsae.tables import claims as C
from randsae.tables import distinguishability as D
from randsae.tables import resample as R
from randsae.tables import toy_claims as T
from randsae.tables import verdicts as V

INITS = ["trained", "step0", "rerandomized", "rerandomized_embeddings", "noise_control"]
RAND = ["step0", "rerandomized", "rerandomized_embeddings"]


def world(paper: bool = True, layers=(0, 1, 2, 3), model="m", n_params=1_000_000, n_lat=40,
          auroc_shift=0.0, seed=0):  # fmt: skip
    """Synthetic (sae_metrics, autointerp, latents) of one model.

    ``paper=True`` follows every claim of the paper; ``paper=False`` contradicts each one.
    """
    rng = np.random.default_rng(seed)
    cells, lat_rows, ai_rows = [], [], []
    for init in INITS:
        for layer in layers:
            ctrl, tr = init == "noise_control", init == "trained"
            if paper:
                ev = 0.4 - 0.05 * layer if ctrl else 0.85 + 0.02 * layer
                cos = 0.5 if ctrl else 0.95
                l1 = {"trained": 10.0, "step0": 4.0}.get(init, 9.8) if not ctrl else 6.0
                ce_clean = 4.0 if tr else 8.0
                ce_abl = 7.0 if tr else 8.05
                auc = 0.5 if ctrl else 0.8 + auroc_shift
                ent = 4.0 if ctrl else (2.0 + 0.4 * layer if tr else 1.2)
            else:
                ev = 0.9 if ctrl else 0.8 - 0.03 * layer
                cos = 0.97 if ctrl else 0.9
                l1 = {"trained": 10.0, "step0": 9.9}.get(init, 5.0)
                ce_clean, ce_abl = 4.0, 7.0
                auc = {"trained": 0.9, "noise_control": 0.85}.get(init, 0.55) + auroc_shift
                ent = 1.0 if ctrl else (3.0 - 0.3 * layer if tr else 2.0 + 0.4 * layer)
            cells.append(
                {
                    "model": model,
                    "n_params": n_params,
                    "init": init,
                    "layer": layer,
                    "explained_variance": ev,
                    "cossim": cos,
                    "l1": l1 + 0.01 * layer,
                    "ce_loss_score": 0.9,
                    "ce_loss_without_sae": ce_clean,
                    "ce_loss_with_ablation": ce_abl,
                }
            )
            h = ent + rng.normal(0, 0.3, n_lat)
            if paper and not tr and not ctrl:
                a = auc + 0.15 * (ent - h) + rng.normal(0, 0.02, n_lat)  # negative correlation
            elif paper and tr:
                a = auc + rng.normal(0, 0.05, n_lat)
                a[:3], h[:3] = 0.95, ent + 3.0  # a few high-entropy, high-AUROC latents
            else:  # positive correlation, stronger for trained than for randomized variants
                a = auc + 0.15 * (h - ent) + rng.normal(0, 0.02 if tr or ctrl else 0.06, n_lat)
            a = np.clip(a, 0, 1)
            for i in range(n_lat):
                lat_rows.append(
                    {
                        "model": model,
                        "init": init,
                        "layer": layer,
                        "latent": i,
                        "token_entropy": h[i],
                        "fuzzing_auroc": a[i],
                        "detection_auroc": np.clip(a[i] + rng.normal(0, 0.02), 0, 1),
                        "n_windows": 200,
                    }
                )
            for s in ("fuzzing", "detection"):
                ai_rows.append(
                    {
                        "model": model,
                        "n_params": n_params,
                        "init": init,
                        "layer": layer,
                        "scorer": s,
                        "auroc_pooled": float(np.mean(a)),
                    }
                )
    return pd.DataFrame(cells), pd.DataFrame(ai_rows), pd.DataFrame(lat_rows)


def windows_for(lat: pd.DataFrame, n: int = 10, seed: int = 0) -> pd.DataFrame:
    """Per-window score rows whose per-latent AUROC is about each latent's ``<scorer>_auroc``:
    ``n`` positive windows ~ N(d, 1) and ``n`` negative ones ~ N(0, 1), d = sqrt(2) Phi^-1(a)."""
    from statistics import NormalDist

    rng = np.random.default_rng(seed)
    rows = []
    for r in lat.itertuples(index=False):
        for s in ("fuzzing", "detection"):
            a = float(np.clip(getattr(r, f"{s}_auroc"), 0.01, 0.99))
            d = np.sqrt(2) * NormalDist().inv_cdf(a)
            for label, scores in ((1, rng.normal(d, 1, n)), (0, rng.normal(0, 1, n))):
                rows += [(r.model, r.init, r.layer, s, r.latent, label, p) for p in scores]
    return pd.DataFrame(
        rows, columns=["model", "init", "layer", "scorer", "latent", "label", "prob"]
    )


def toy_world(superposed_advantage: float, ffn_gap: float, seeds=3, dataset="sharkey"):
    """Toy sweep rows: each arm's EV rises with L0 along ``L0 = base * exp(3 * EV)``."""
    base = {
        "plain": 1.0,
        "gaussian": float(np.exp(superposed_advantage)),
        "ffn": 1.0,
        "gaussian_ffn": float(np.exp(ffn_gap)),
    }
    rng = np.random.default_rng(1)
    rows = []
    for arm, b in base.items():
        for seed in range(seeds):
            for coef, ev in zip([1e-3, 1e-2, 1e-1, 1.0], [0.95, 0.8, 0.6, 0.4], strict=True):
                rows.append(
                    {
                        "dataset": dataset,
                        "arm": arm,
                        "n_latents": 64,
                        "l1_coef": coef,
                        "seed": seed,
                        "fvu": 1 - ev + rng.normal(0, 0.002),
                        "l0": b * np.exp(3 * ev) * (1 + rng.normal(0, 0.01)),
                    }
                )
    return pd.DataFrame(rows)


def verdicts(df: pd.DataFrame) -> dict[str, str]:
    return dict(zip(df["sub"], df["verdict"], strict=True))


@pytest.fixture(scope="module")
def paper_claims():
    sm, ai, lat = world(paper=True)
    win = windows_for(lat)
    return C.claims_table(sm, ai, lat, toy_world(1.0, 0.3), n_boot=200, seed=1, windows=win)


@pytest.fixture(scope="module")
def contrary_claims():
    sm, ai, lat = world(paper=False)
    win = windows_for(lat)
    return C.claims_table(sm, ai, lat, toy_world(-0.5, 0.3), n_boot=200, seed=1, windows=win)


def test_claims_hold_on_a_paper_like_run(paper_claims):
    v = verdicts(paper_claims)
    for sub in [
        "1a-fuzzing",
        "1a-detection",
        "1b-fuzzing",
        "1b-detection",
        "2a-cossim",
        "2a-explained_variance",
        "2b",
        "2c",
        "3a-l1",
        "5",
        "6a",
        "6b",
        "6c",
        "6d",
        "7a",
        "7b",
        "7c",
        "8a",
        "8b",
    ]:
        assert v[sub] == V.HOLDS, (sub, paper_claims.set_index("sub").loc[sub].to_dict())
    # one model, no word vectors: size claims and 8c cannot be tested
    assert v["4-fuzzing"] == v["4-detection"] == v["3b-size"] == V.UNTESTABLE
    assert v["8c-data"] == v["8c-gaussian"] == V.UNTESTABLE
    assert set(paper_claims["claim"]) == set(range(1, 9))
    assert list(paper_claims.columns) == V.COLUMNS
    by = paper_claims.set_index("sub")
    # the AUROC claims use the pooled AUROC (as Fig 2 and the paper) and keep the per-latent mean
    assert by.loc["1a-fuzzing", "statistic"].startswith("fuzzing_auroc_pooled")
    assert by.loc["1a-fuzzing", "stat_kind"] == "pooled"
    assert np.isfinite(by.loc["1a-fuzzing", "value_per_latent"])
    assert by.loc["6a", "stat_kind"] == by.loc["7a", "stat_kind"] == "per-latent"
    assert np.isnan(by.loc["2b", "value_per_latent"]) and by.loc["2b", "stat_kind"] == "pooled"


def test_claims_fail_on_a_contrary_run(contrary_claims):
    v = verdicts(contrary_claims)
    for sub in [
        "1a-fuzzing",
        "1b-fuzzing",
        "2a-cossim",
        "2a-explained_variance",
        "2b",
        "2c",
        "3a-l1",
        "5",
        "6a",
        "6b",
        "6c",
        "6d",
        "7a",
        "7b",
        "8a",
        "8b",
    ]:
        assert v[sub] == V.CONTRADICTED, (sub, contrary_claims.set_index("sub").loc[sub].to_dict())
    row = contrary_claims.set_index("sub").loc["1a-fuzzing"]
    assert row["detail"] == "95% CI on the other side of the threshold"


def test_claim7c_is_contradicted_without_high_auroc_trained_latents():
    sm, ai, lat = world(paper=True)
    lat.loc[lat["init"] == "trained", "fuzzing_auroc"] = 0.7
    by = C.claims_table(sm, ai, lat, None, n_boot=50, seed=0).set_index("sub")
    assert by.loc["7c", "verdict"] in (V.CONTRADICTED, V.INCONCLUSIVE)
    assert by.loc["7c", "value"] <= 0.0
    assert by.loc["7c", "ci_high"] <= 0.0
    assert "trained 0/160" in by.loc["7c", "detail"]


def test_rank_rows_average_ties():
    r = R.rank_rows(np.array([[3.0, 1.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0]]))
    assert r.tolist() == [[3.5, 1.0, 3.5, 2.0], [2.5, 2.5, 2.5, 2.5]]


def test_ci_brackets_the_value_and_resampling_units(paper_claims):
    ok = paper_claims[np.isfinite(paper_claims["ci_low"])]
    assert len(ok) > 15
    assert (ok["ci_low"] <= ok["value"] + 1e-9).all() and (
        ok["value"] <= ok["ci_high"] + 1e-9
    ).all()
    by = paper_claims.set_index("sub")
    assert by.loc["1a-fuzzing", "resampled"] == "latents within cells"
    assert by.loc["1a-fuzzing", "n_units"] == 5 * 4 * 40
    assert by.loc["2b", "resampled"] == "layers within models"
    assert by.loc["8a", "resampled"] == "seeds"


def test_claims_are_deterministic():
    sm, ai, lat = world(paper=True)
    a = C.claims_table(sm, ai, lat, None, n_boot=50, seed=3)
    b = C.claims_table(sm, ai, lat, None, n_boot=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = C.claims_table(sm, ai, lat, None, n_boot=50, seed=4)
    assert not np.allclose(a["ci_low"].fillna(0), c["ci_low"].fillna(0))


def test_without_windows_auroc_uses_the_tables_pooled_auroc_and_entropy_is_untestable():
    sm, ai, _ = world(paper=True)
    df = C.claims_table(sm, ai, None, None, n_boot=100, seed=0)
    v = verdicts(df)
    by = df.set_index("sub")
    assert by.loc["1a-fuzzing", "statistic"].startswith("fuzzing_auroc_pooled")
    assert by.loc["1a-fuzzing", "resampled"] == "layers within models"
    assert v["1a-fuzzing"] == V.HOLDS
    for sub in ["6a", "6b", "6c", "6d", "7a", "7b", "7c"]:
        assert v[sub] == V.UNTESTABLE
    for sub in ["8a", "8b", "8c-data", "8c-gaussian"]:
        assert v[sub] == V.UNTESTABLE
        assert by.loc[sub, "detail"] == "no toy sweep tables"


def test_too_few_layers_is_untestable():
    sm, ai, lat = world(paper=True, layers=(0,))
    v = verdicts(C.claims_table(sm, ai, lat, None, n_boot=50, seed=0))
    assert v["2b"] == v["2c"] == v["6b"] == v["6d"] == v["3a-l1"] == V.UNTESTABLE
    assert v["1a-fuzzing"] == V.HOLDS  # a one-layer claim is still testable


def test_missing_variant_is_untestable():
    sm, ai, lat = world(paper=True)
    keep = ["trained", "noise_control"]
    v = verdicts(
        C.claims_table(
            sm[sm["init"].isin(keep)], ai[ai["init"].isin(keep)], lat[lat["init"].isin(keep)],
            n_boot=50,
        )
    )  # fmt: skip
    assert v["1a-fuzzing"] == v["3a-l1"] == v["5"] == v["7a"] == V.UNTESTABLE
    assert v["2a-cossim"] == V.HOLDS


@pytest.mark.parametrize("shift, expect", [(0.1, V.HOLDS), (-0.1, V.CONTRADICTED)])
def test_claim4_auroc_rises_with_size(shift, expect):
    parts = [world(True, model="small", n_params=10**6, seed=0)]
    parts.append(world(True, model="big", n_params=10**8, auroc_shift=shift, seed=1))
    sm, ai, lat = (pd.concat([p[i] for p in parts], ignore_index=True) for i in range(3))
    df = C.claims_table(sm, ai, lat, None, n_boot=100, seed=0)
    v = verdicts(df.drop_duplicates("sub"))
    # the control stays at 0.5 in both models and is excluded from the claim
    assert v["4-fuzzing"] == expect
    assert v["3b-size"] in V.VERDICTS
    assert (df[df["claim"] == 1]["model"].unique().tolist()) == ["big", "small"]


def test_claim8_word_vectors():
    toy = pd.concat(
        [toy_world(1.0, 0.2), toy_world(0.0, 0.0, dataset="word2vec50")], ignore_index=True
    )
    # on the word data make the ffn arm sparser than plain at equal EV
    w = toy["dataset"] == "word2vec50"
    toy.loc[w & (toy["arm"] == "ffn"), "l0"] *= np.exp(-0.5)
    toy.loc[w & (toy["arm"] == "gaussian_ffn"), "l0"] *= np.exp(-0.3)
    by = C.claims_table(world()[0], None, None, toy, n_boot=100, seed=0).set_index("sub")
    assert by.loc["8c-data", "verdict"] == by.loc["8c-gaussian", "verdict"] == V.HOLDS
    assert by.loc["8c-data", "value"] == pytest.approx(0.5, abs=0.05)
    assert by.loc["8c-gaussian", "value"] == pytest.approx(0.3, abs=0.05)
    # 8c tests both arms: the Gaussian control's frontier not moving is no evidence
    toy.loc[w & (toy["arm"] == "gaussian_ffn"), "l0"] *= np.exp(0.6)
    by = C.claims_table(world()[0], None, None, toy, n_boot=100, seed=0).set_index("sub")
    assert by.loc["8c-data", "verdict"] == V.HOLDS
    assert by.loc["8c-gaussian", "verdict"] == V.CONTRADICTED
    assert by.loc["8a", "value"] == pytest.approx(1.0, abs=0.05)
    assert by.loc["8b", "value"] == pytest.approx(0.8, abs=0.05)


def test_pareto_frontier_and_advantage():
    ev, sp = T.pareto_frontier(np.array([0.5, 0.6, 0.55, 0.9, 0.0]), np.array([2, 3, 4, 10, 1]))
    assert ev.tolist() == [0.5, 0.6, 0.9] and sp.tolist() == [2, 3, 10]
    a = (np.array([0.2, 0.8]), np.array([1.0, np.e]))
    b = (np.array([0.5, 0.9]), np.array([np.e, np.e**2]))
    # overlap [0.5, 0.8]: log b - log a is linear from 1 - 0.5 to 1.75 - 1
    assert T.frontier_advantage(a, b) == pytest.approx(0.625, abs=1e-9)
    assert np.isnan(T.frontier_advantage(a, (np.array([0.85, 0.9]), np.array([1.0, 2.0]))))


def test_slope_spearman_verdict():
    assert R.slope(np.array([0, 1, 2]), np.array([1.0, 3.0, 5.0])) == pytest.approx(2.0)
    assert np.isnan(R.slope(np.array([1, 1]), np.array([1.0, 2.0])))
    assert R.spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 20, 40])) == pytest.approx(
        0.9486833, abs=1e-6
    )
    assert np.isnan(R.spearman(np.array([1, 2, 3]), np.array([1, 1, 1])))
    assert V.verdict(1.0, 0.5, 1.5, ">", 0.0)[0] == V.HOLDS
    assert V.verdict(1.0, -0.5, 1.5, ">", 0.0) == (
        V.INCONCLUSIVE,
        "95% CI crosses the threshold (point estimate agrees with the claim)",
    )
    assert V.verdict(-1.0, -1.5, -0.5, ">", 0.0)[0] == V.CONTRADICTED
    assert V.verdict(0.0, 0.0, 0.0, ">", 0.0)[0] == V.CONTRADICTED  # equality is not ">"
    assert V.verdict(0.05, 0.01, 0.09, "<", 0.1)[0] == V.HOLDS
    assert V.verdict(0.15, 0.11, 0.2, "<", 0.1)[0] == V.CONTRADICTED
    assert V.verdict(float("nan"), 0, 0, ">", 0)[0] == V.UNTESTABLE
    # a statistic without a CI is never "holds", whichever side its point estimate is on
    for value in (1.0, -1.0):
        assert V.verdict(value, float("nan"), float("nan"), ">", 0.0)[0] == V.UNTESTABLE
    assert S.init_kind("rerandomized-x0.5") == "rerandomized"
    assert S.init_kind("noise_control") == "control"


def test_permutation_pvalues():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    p_same = R.permutation_pvalue(x, y, 999, np.random.default_rng(1))
    p_diff = R.permutation_pvalue(x + 1.5, y, 999, np.random.default_rng(1))
    assert p_same > 0.05 and p_diff == pytest.approx(1 / 1000)
    strata = [(x + 1.0, y), (x[:20] + 1.0, y[:30])]
    assert R.stratified_permutation_pvalue(strata, 499, rng) == pytest.approx(1 / 500)
    assert R.stratified_permutation_pvalue([(x, y)], 499, rng) > 0.05


def test_distinguishability_table():
    sm, ai, lat = world(paper=True, layers=(0, 1, 2))
    df = D.distinguishability_table(sm, ai, lat, n_boot=200, n_perm=199, seed=0)
    metrics = set(df["metric"])
    assert metrics == set(C.CELL_METRICS) | set(C.LATENT_METRICS) | {
        "fuzzing_auroc_pooled",
        "detection_auroc_pooled",
    }
    # every metric x layer (3 + "all") x 4 variants
    assert len(df) == len(metrics) * 4 * 4
    assert set(df["variant"]) == set(INITS) - {"trained"}
    ent = df[(df["metric"] == "token_entropy") & (df["layer"] == "2")].set_index("variant")
    assert ent.loc["noise_control", "diff"] == pytest.approx(
        lat.query("init=='trained' & layer==2").token_entropy.mean()
        - lat.query("init=='noise_control' & layer==2").token_entropy.mean()
    )
    assert ent.loc["noise_control", "p_permutation"] == pytest.approx(1 / 200)
    assert ent.loc["noise_control", "ci_high"] < 0
    assert ent.loc["noise_control", "n_trained"] == 40
    ev = df[(df["metric"] == "explained_variance")].set_index(["variant", "layer"])
    assert np.isnan(ev.loc[("step0", "1"), "ci_low"])
    assert ev.loc[("noise_control", "all"), "resampled"] == "layers"
    assert ev.loc[("noise_control", "all"), "ci_low"] > 0
    allrow = df[(df["metric"] == "fuzzing_auroc") & (df["layer"] == "all")].set_index("variant")
    assert allrow.loc["noise_control", "p_permutation"] == pytest.approx(1 / 200)
    assert allrow.loc["noise_control", "resampled"] == "latents within layers"
    assert allrow.loc["noise_control", "n_trained"] == 3 * 40


def test_markdown_table(paper_claims):
    md = C.markdown_table(paper_claims)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| claim |") and len(lines) == len(paper_claims) + 2
    assert "holds" in md and "not testable" in md and "\\|" in md
    assert "| pooled |" in md and "| per-latent |" in md


def test_claims_step_reads_and_writes_tables(tmp_path):
    from randsae.tables.steps import claims

    sm, ai, lat = world(paper=True, layers=(0, 1, 2), n_lat=12)
    paths = {n: tmp_path / f"{n}.csv" for n in ("sm", "ai", "lat", "toy")}
    sm.to_csv(paths["sm"], index=False)
    ai.to_csv(paths["ai"], index=False)
    lat.to_csv(paths["lat"], index=False)
    toy_world(1.0, 0.3).to_csv(paths["toy"], index=False)
    out_c, out_d = tmp_path / "t" / "claims.csv", tmp_path / "t" / "dist.csv"
    kw = dict(out_claims=str(out_c), out_distinguishability=str(out_d), n_boot=30, seed=0)
    claims(str(paths["sm"]), str(paths["ai"]), str(paths["lat"]), [str(paths["toy"])], **kw)
    c = pd.read_csv(out_c)
    assert list(c.columns) == V.COLUMNS and set(c["claim"]) == set(range(1, 9))
    assert c.set_index("sub").loc["2a-cossim", "verdict"] == V.HOLDS
    assert len(pd.read_csv(out_d)) > 0
    assert sorted(p.name for p in out_c.parent.iterdir()) == ["claims.csv", "dist.csv"]
    # without the per-latent table and the toy part
    claims(str(paths["sm"]), str(paths["ai"]), None, [], **kw)
    c = pd.read_csv(out_c).set_index("sub")
    assert c.loc["6b", "verdict"] == c.loc["8a", "verdict"] == V.UNTESTABLE


def test_claims_summary_script(tmp_path, paper_claims):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "results" / "tables").mkdir(parents=True)
    paper_claims.to_csv(tmp_path / "results" / "tables" / "claims.csv", index=False)
    mdir = tmp_path / "results" / "models" / "tiny" / "trained"
    mdir.mkdir(parents=True)
    rec = {"val_loss": 4.5, "unigram_val_loss": 6.9, "n_params": 2_000_000, "train_tokens": 10**6}
    (mdir / "metrics.json").write_text(json.dumps(rec))
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "claims_summary.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = proc.stdout
    assert "validation loss 4.50 nats (unigram 6.90)" in out and "`tiny`" in out
    counts = paper_claims["verdict"].value_counts()
    line = ", ".join(f"{counts.get(v, 0)} {v}" for v in V.VERDICTS)
    assert line + "." in out
    assert out.count("\n| ") == len(paper_claims) + 1


@pytest.mark.slow
def test_claims_rule_reads_the_per_latent_table(tmp_path):
    """`claims` reads results/tables/latents.csv, written by the `latent_table` rule."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path)]
    cmd += ["results/tables/claims.csv", "-n", "--cores", "1"]
    cmd += ["--configfile", str(root / "configs" / "smoke.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    block = out.split("rule claims:", 1)[1].split("\n\n", 1)[0]
    assert "results/tables/latents.csv" in block.split("output:")[0]
    assert "rule latent_table:" in out
