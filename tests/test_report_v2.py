"""The v2 report pieces: style, ROC curves and bootstrap AUC, per-latent table and v2 token
entropy, the Fig-2 grid, the Fig-20 scatter, Table 1 and App J.
Run: pytest tests/test_report_v2.py
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from randsae.autointerp import measures
from randsae.autointerp.scoring import auroc
from randsae.figures import grid, style
from randsae.figures import latents as latent_figures
from randsae.figures import roc as roc_figures
from randsae.tables import compute, latents, roc
from randsae.tables.app_j import mark_window, pick_examples, write_app_j


def test_style_has_the_paper_colours():
    assert style.init_color("trained") == "tab:gray"
    assert style.init_color("noise_control") == "black"
    assert style.init_color("step0") == "tab:green"
    assert style.init_color("rerandomized") == "tab:blue"
    assert style.init_color("rerandomized_embeddings") == "tab:orange"
    assert style.init_color("rerandomized-x2-uniform") == "tab:blue"
    assert style.CHANCE_STYLE["linestyle"] == ":"
    assert style.ordered_inits(["noise_control", "x", "trained"]) == [
        "trained",
        "noise_control",
        "x",
    ]


def test_roc_curve_area_equals_auroc_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # many ties
    fpr, tpr = measures.roc_curve(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(y, s), abs=1e-12)


def windows_frame(n_lat=8, n_win=20, sep=1.0, seed=0, **keys):
    rng = np.random.default_rng(seed)
    rows = []
    for lat in range(n_lat):
        for i in range(n_win):
            label = i % 2
            rows.append({**keys, "latent": lat, "label": label, "prob": rng.normal() + sep * label})
    return pd.DataFrame(rows)


def test_bootstrap_auroc_ci_brackets_the_estimate_and_is_seeded():
    w = windows_frame()
    auc, lo, hi = roc.bootstrap_auroc(w, 200, seed=1)
    assert lo < auc < hi
    assert roc.bootstrap_auroc(w, 200, seed=1) == (auc, lo, hi)
    assert math.isnan(roc.bootstrap_auroc(w, 0, seed=1)[1])


def write_windows(path, w):
    with open(path, "w") as f:
        for r in w.to_dict("records"):
            f.write(json.dumps({"scorer": r["scorer"], "id": "x", "latent": r["latent"],
                                "label": r["label"], "prob": r["prob"], "error": None}) + "\n")  # fmt: skip


def test_read_windows_drops_failed_and_roc_table(tmp_path):
    w = pd.concat(
        [windows_frame(scorer="fuzzing"), windows_frame(sep=0.0, seed=3, scorer="detection")],
        ignore_index=True,
    )
    w.loc[w.index[:3], "prob"] = None
    write_windows(tmp_path / "p.jsonl", w)
    got = roc.read_windows([("m", "trained", 2, tmp_path / "p.jsonl")])
    assert len(got) == len(w) - 3 and set(got["layer"]) == {2}
    table = roc.roc_table(got, 50, seed=0)
    fz = table[table["scorer"] == "fuzzing"]
    assert fz["auc"].iloc[0] > 0.7 and fz["n_latents"].iloc[0] == 8
    fig = roc_figures.plot_roc_curves(
        table[table["scorer"] == "fuzzing"], tmp_path / "roc", formats=["png"]
    )
    assert (tmp_path / "roc.png").exists() and (tmp_path / "roc.csv").exists()
    assert "AUC" in fig._suptitle.get_text()
    assert "trained" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_token_entropy_v2_definition():
    # activation mass: token 1 -> 3, token 2 -> 1 (inactive positions ignored)
    windows = [{"tokens": [1, 2, 3], "acts": [2.0, 1.0, 0.0]}, {"tokens": [1], "acts": [1.0]}]
    p = np.array([0.75, 0.25])
    assert measures.token_entropy(windows) == pytest.approx(float(-(p * np.log(p)).sum()))
    assert measures.token_entropy([{"tokens": [5, 5], "acts": [1.0, 3.0]}]) == 0.0
    assert math.isnan(measures.token_entropy([{"tokens": [1], "acts": [0.0]}]))


def test_latent_table_columns_and_values(tmp_path):
    ex = {
        "latents": [
            {"latent": 3, "n_activating_windows": 9, "max_act": 2.0,
             "explain": [{"tokens": [1, 2], "acts": [1.0, 1.0]}]},
            {"latent": 7, "n_activating_windows": 5, "max_act": 1.0,
             "explain": [{"tokens": [4, 4], "acts": [1.0, 0.5]}]},
        ]
    }  # fmt: skip
    (tmp_path / "ex.json").write_text(json.dumps(ex))
    w = pd.DataFrame(
        [dict(model="m", init="trained", layer=0, scorer="fuzzing", latent=3, label=lab, prob=p)
         for lab, p in ((1, 0.9), (0, 0.1), (1, 0.8), (0, 0.2))]
        + [dict(model="m", init="trained", layer=0, scorer="fuzzing", latent=7, label=1, prob=0.5)]
    )  # fmt: skip
    pd.DataFrame({"entropy_all": [0.1] * 10, "token_r2": [0.5] * 10}).to_csv(
        tmp_path / "held.csv", index=False
    )
    t = latents.latent_table(
        [("m", "trained", 0)], [tmp_path / "ex.json"], w, [tmp_path / "held.csv"]
    )
    assert list(t.columns[: len(latents.LATENT_COLUMNS)]) == latents.LATENT_COLUMNS
    r3, r7 = t.set_index("latent").loc[3], t.set_index("latent").loc[7]
    assert r3["token_entropy"] == pytest.approx(math.log(2)) and r7["token_entropy"] == 0.0
    assert r3["fuzzing_auroc"] == 1.0 and r3["n_windows"] == 4
    assert math.isnan(r7["fuzzing_auroc"])  # one class only
    assert math.isnan(r3["detection_auroc"]) and r3["n_detection_windows"] == 0
    assert r3["entropy_all"] == 0.1 and r7["token_r2"] == 0.5
    s = latents.entropy_summary(t, 100, 0)
    assert s["token_entropy"].iloc[0] == pytest.approx(t["token_entropy"].mean())


def test_spearman_and_scatter(tmp_path):
    x = np.arange(10.0)
    assert latent_figures.spearman(x, -(x**3)) == pytest.approx(-1.0)
    assert math.isnan(latent_figures.spearman([1, 2], [1, 2]))
    rng = np.random.default_rng(0)
    lat = pd.DataFrame(
        dict(model="m", init=np.repeat(["trained", "rerandomized"], 20), layer=0,
             latent=np.tile(np.arange(20), 2), token_entropy=rng.uniform(0, 3, 40))
    )  # fmt: skip
    lat["fuzzing_auroc"] = 1 - lat["token_entropy"] / 4
    fig = latent_figures.plot_entropy_vs_auroc(lat, tmp_path / "f20", formats=["png"])
    data = pd.read_csv(tmp_path / "f20.csv")
    assert np.allclose(data["spearman_rho"], -1.0)
    assert "ρ=-1.00" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_grid_long_table_pool_and_plot(tmp_path):
    keys = dict(model=["a", "a-s1"], init="trained", layer=0)
    sm = pd.DataFrame(dict(**keys, explained_variance=[0.8, 0.6], cossim=0.9, l1=5.0,
                           ce_loss_score=0.7))  # fmt: skip
    ai = pd.DataFrame(dict(**keys, scorer="fuzzing", auroc_pooled=[0.7, 0.9],
                           auroc_pooled_ci_low=0.6, auroc_pooled_ci_high=0.95))  # fmt: skip
    ent = pd.DataFrame(dict(**keys, token_entropy=[2.0, 3.0], token_entropy_ci_low=1.5,
                            token_entropy_ci_high=3.5))  # fmt: skip
    long = grid.grid_long_table(sm, ai, ent)
    assert set(long["metric"]) == {"explained_variance", "cossim", "l1", "ce_loss_score",
                                   "fuzzing_auroc", "token_entropy"}  # fmt: skip
    cols = grid.variant_columns({"a": {}, "a-s1": {"variant_of": "a"}})
    assert cols == {"a": "a", "a-s1": "a"}
    pooled = grid.pool_columns(long, cols)
    ev = pooled[pooled["metric"] == "explained_variance"].iloc[0]
    assert (ev["value"], ev["band_low"], ev["band_high"], ev["n_pooled"]) == pytest.approx(
        (0.7, 0.6, 0.8, 2)
    )
    single = grid.pool_columns(long)
    fz = single[(single["metric"] == "fuzzing_auroc") & (single["column"] == "a")].iloc[0]
    assert (fz["band_low"], fz["band_high"]) == (0.6, 0.95)  # a lone model keeps its CI
    fig = grid.plot_grid(long, tmp_path / "g", columns=cols, formats=["png"])
    assert len(fig.axes) == len(grid.GRID_ROWS)  # seven rows, one column
    labels = grid.variant_columns(
        {"p": {"sae": {"k": 32, "expansion_factor": 64}},
         "p-2": {"variant_of": "p", "sae": {"k": 4, "expansion_factor": 2}},
         "p-t": {"variant_of": "p", "sae": {"n_tokens": 10**9}}}
    )  # fmt: skip
    assert labels == {"p": "p R=64 k=32", "p-2": "p R=2 k=4", "p-t": "p tokens=1B"}


def test_compute_table_from_benchmark_files(tmp_path):
    root = tmp_path / "benchmarks/runs"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rule, model, parts, s in (
        ("train_sae", "pythia-70m-deduped", ("trained", "layer0"), 3600.0),
        ("train_sae", "pythia-70m-deduped", ("step0", "layer0"), 1800.0),
        ("eval_sae", "pythia-70m-deduped", ("trained", "layer0"), 360.0),
        ("latent_table", None, (), 2.0),
    ):
        p = root / rule / (model or "") / "/".join(parts)
        p = p.with_suffix(".tsv") if parts else root / f"{rule}.tsv"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(header + f"{s}\t0:00:01\t100.5\t1\t1\t1\t0\t0\t50\t{s / 2}\n")
    paths = sorted(root.rglob("*.tsv"))
    bench = compute.read_benchmarks(paths, root, ["pythia-70m-deduped"])
    t = compute.compute_table(bench, n_variants=2)
    ts = t[(t["rule"] == "train_sae")].iloc[0]
    assert (ts["n_jobs"], ts["wall_s"], ts["cpu_s"], ts["max_rss_mb"]) == (2, 5400.0, 2700.0, 100.5)
    tot = t[t["rule"] == "total"].iloc[0]
    assert tot["wall_h_per_variant"] == pytest.approx(5760 / 3600 / 2)
    assert tot["paper_h_per_variant"] == 1.0
    assert (t[t["rule"] == "latent_table"]["model"] == "-").all()
    assert compute.paper_hours("pythia-6.9b") == 70.0 and math.isnan(compute.paper_hours("tiny"))


def test_app_j_picks_three_seeded_latents(tmp_path):
    win = lambda a: {"text": ["x", "y"], "tokens": [1, 2], "acts": a}  # noqa: E731
    ex = {"latents": [{"latent": i, "max_act": 1.0, "explain": [win([0.0, 1.0]), win([0.5, 0.0])]}
                      for i in range(6)]}  # fmt: skip
    expl = [{"latent": i, "explanation": f"e{i}"} for i in range(6)]
    assert mark_window(win([0.0, 1.0])) == "x[[y]]"
    assert mark_window({"text": ["a\n", "b"], "acts": [0.0, 1.0]}) == "a⏎[[b]]"
    df, w = pick_examples([("m", "trained", 0)], [ex], [expl], seed=1)
    df2, _ = pick_examples([("m", "trained", 0)], [ex], [expl], seed=1)
    assert len(df) == 3 and df.equals(df2)
    assert all(r["explanation"] == f"e{r['latent']}" for r in df.to_dict("records"))
    assert df["top_windows"].iloc[0].split("\n")[0] == "x[[y]]"  # strongest window first
    (tmp_path / "ex.json").write_text(json.dumps(ex))
    (tmp_path / "e.jsonl").write_text("\n".join(json.dumps(e) for e in expl))
    out = [str(tmp_path / f) for f in ("j.csv", "j.md", "j.html")]
    write_app_j([("m", "trained", 0)], [tmp_path / "ex.json"], [tmp_path / "e.jsonl"], 1, *out)
    assert (
        "latent" in (tmp_path / "j.md").read_text() and "<html" in (tmp_path / "j.html").read_text()
    )


def test_run_logs_to_the_rule_log_and_sets_threads_without_torch(tmp_path):
    """The adapter writes the stage's log lines to the rule log and hands the rule's thread count
    to the BLAS/OpenMP runtimes through their variables, without importing torch itself (a
    figure job in a fresh interpreter must not pay torch's import)."""
    import subprocess
    import sys

    code = f"""
import logging, os, sys
from types import SimpleNamespace
from randsae.runner import run

def stage(x):
    logging.getLogger("randsae").info("stage got %s", x)
    return x * 2

smk = SimpleNamespace(log=[{str(tmp_path / "r.log")!r}], rule="plot_x", threads=1,
                      wildcards=SimpleNamespace(items=lambda: []))
assert run(stage, smk, x=21) == 42
assert "torch" not in sys.modules
assert os.environ["OMP_NUM_THREADS"] == "1"
import torch
print(torch.get_num_threads())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "1"  # below the 2 cores torch would take
    text = (tmp_path / "r.log").read_text()
    assert "rule plot_x" in text and "stage got 21" in text
