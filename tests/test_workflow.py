"""The workflow itself: config errors before any job, DAG shape, and an end-to-end smoke run.

Run: pytest tests/test_workflow.py   (the end-to-end part takes a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagtools import ROOT, SMOKE, planned_jobs, report_job_counts, snakemake

# tables, claims, per-latent/ROC/compute/App-J tables and one rule per figure family
# (rules/tables.smk, rules/figures.smk)
REPORT_RULES = set(report_job_counts(yaml.safe_load(SMOKE.read_text()))) | {"plot_init_sweep"}
PLOT_RULES = {r for r in REPORT_RULES if r.startswith("plot_")}


def write_config(tmp_path: Path, mutate) -> Path:
    cfg = yaml.safe_load(SMOKE.read_text())
    mutate(cfg)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ------------------------------------------------------------------ dry runs and config errors


@pytest.mark.slow
def test_dry_run_default_grid(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--cores", "2"))
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_cells = sum(len(m["layers"]) for m in cfg["models"].values()) * len(cfg["inits"])
    for rule in ("train_sae", "eval_sae", "explain", "score"):
        assert jobs[rule] == n_cells, rule
    n_groups = len(cfg["inits"]) * len(cfg["models"])
    assert jobs["cache_activations"] == jobs["build_init"] == jobs["eval_group"] == n_groups
    assert jobs["train_model"] == 1
    for rule, n in report_job_counts(cfg).items():
        assert jobs[rule] == n, rule
    # publishing, the reviewer path and the Neuronpedia export are targets, never default jobs
    for rule in ("publish", "fetch_artifacts", "fetch_sae", "recompute_cell", "neuronpedia_export"):
        assert rule not in jobs, rule


@pytest.mark.slow
@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda c: c["sae"].__setitem__("kk", 1), "kk"),
        (lambda c: c.__setitem__("extra_section", {}), "extra_section"),
        (lambda c: c["sae"].__setitem__("k", "many"), "many"),
        (lambda c: c["models"]["tiny-neox"].__setitem__("layers", [0, 7]), "layer 7"),
        (lambda c: c.__setitem__("inits", ["trained", "scrambled"]), "scrambled"),
        (lambda c: c["sae"].__setitem__("lr", float("nan")), "sae.lr: must be a finite number"),
        (
            lambda c: c["artifacts"].update(
                {
                    "from": "hub:org/run",
                    "recompute": [{"model": "tiny-neox", "init": "trained", "layer": 9}],
                }
            ),
            "artifacts.recompute[0].layer",
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-section",
        "wrong-type",
        "layer-out-of-range",
        "unknown-init",
        "not-finite",
        "recompute-cell-not-in-grid",
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, mutate, needle):
    cfg = write_config(tmp_path, mutate)
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(cfg))
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert needle in out, out[-2000:]
    assert "rule corpus" not in out and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_lint_is_clean():
    proc = snakemake(None, "--lint", snakefile=None, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# ------------------------------------------------------------------ end to end (smoke config)


@pytest.mark.slow
def test_smoke_outputs_exist_and_are_sane(smoke_run):
    cfg = yaml.safe_load(SMOKE.read_text())
    n_cells = len(cfg["inits"]) * sum(len(m["layers"]) for m in cfg["models"].values())
    sm = pd.read_csv(smoke_run / "results/tables/sae_metrics.csv")
    assert len(sm) == n_cells
    for col in ("model", "n_params", "init", "layer"):
        assert sm[col].notna().all()
    assert set(sm["init"]) == set(cfg["inits"])
    ev = sm["explained_variance"].to_numpy()
    assert np.isfinite(ev).all() and (ev <= 1.0).all() and (ev > 0.0).all()
    assert np.allclose(sm["l0"], cfg["sae"]["k"], atol=0.5)
    assert ((sm["frac_dead"] >= 0) & (sm["frac_dead"] <= 1)).all()
    assert np.isfinite(sm["ce_loss_with_sae"]).all()
    ai = pd.read_csv(smoke_run / "results/tables/autointerp.csv")
    assert set(ai["scorer"]) >= {"detection", "fuzzing"}
    assert len(ai[ai["scorer"] == "detection"]) == n_cells
    ab = pd.read_csv(smoke_run / "results/tables/abstractness.csv")
    summ = ab[ab["row"] == "summary"]
    assert set(summ["measure"]) >= {"entropy_all", "entropy_topN", "token_r2"}
    assert (summ[summ["measure"] == "entropy_all"]["median"] >= 0).all()
    auc = ai["auroc_pooled"].dropna()
    assert len(auc) > 0 and ((auc >= 0) & (auc <= 1)).all()
    figs = smoke_run / "results/figures"
    for name in ("sae_explained_variance_vs_layer", "autointerp_detection_auroc_vs_layer"):
        for ext in ("pdf", "png", "csv"):
            assert (figs / f"{name}.{ext}").stat().st_size > 0
    for name in ("fig2_grid", "roc_fuzzing_tiny-neox", "entropy_vs_fuzzing_auroc_tiny-neox"):
        assert (figs / f"{name}.png").stat().st_size > 0, name
    from randsae.tables.latents import LATENT_COLUMNS

    lat = pd.read_csv(smoke_run / "results/tables/latents.csv")
    assert list(lat.columns[: len(LATENT_COLUMNS)]) == LATENT_COLUMNS
    assert 0 < len(lat) <= n_cells * cfg["examples"]["n_latents"]
    assert (lat["token_entropy"].dropna() >= 0).all() and (lat["n_windows"] > 0).all()
    comp = pd.read_csv(smoke_run / "results/tables/compute.csv")
    assert ((comp["rule"] == "train_sae") & (comp["model"] == "tiny-neox")).any()
    metrics = json.loads((smoke_run / "results/models/tiny-neox/trained/metrics.json").read_text())
    assert metrics["val_loss"] < metrics["val_loss_step0"]
    claims = pd.read_csv(smoke_run / "results/tables/claims.csv")
    assert set(claims["claim"]) == set(range(1, 9))
    assert set(claims["verdict"]) <= {
        "holds", "contradicted", "inconclusive", "not testable", "circular"
    }  # fmt: skip
    assert set(claims["stat_kind"]) <= {"pooled", "per-latent"}
    # the smoke run scores with the lexical backend: its AUROC claims are circular
    auroc = claims[claims["claim"].isin([1, 4, 7])]
    assert set(auroc["verdict"]) <= {"circular", "not testable"}
    assert (auroc["verdict"] == "circular").any()
    dist = pd.read_csv(smoke_run / "results/tables/distinguishability.csv")
    assert set(dist["variant"]) == set(cfg["inits"]) - {"trained"}


@pytest.mark.slow
def test_every_sae_loads_with_sae_lens(smoke_run):
    import torch
    from sae_lens import SAE

    from randsae.sae.topk import TopKSAE

    dirs = sorted((smoke_run / "results/saes").glob("*/*/layer*"))
    assert len(dirs) == 10
    for d in dirs:
        ours = TopKSAE.load(d)
        theirs = SAE.load_from_disk(str(d))
        x = torch.randn(8, ours.W_enc.shape[0])
        feats = theirs.encode(x)
        assert torch.allclose(feats, ours.encode_dense(x), atol=1e-5)
        assert torch.allclose(theirs.decode(feats), ours(x)[0], atol=1e-4)


@pytest.mark.slow
def test_rerun_has_nothing_to_do(smoke_run):
    jobs = planned_jobs(snakemake(smoke_run, "-n", "--cores", "2", "--configfile", str(SMOKE)))
    assert sum(jobs.values()) == 0, jobs


@pytest.mark.slow
def test_sae_hyperparameter_change_reruns_only_sae_and_downstream(smoke_run, tmp_path):
    cfg = write_config(tmp_path, lambda c: c["sae"].__setitem__("k", 8))
    jobs = planned_jobs(snakemake(smoke_run, "-n", "--cores", "2", "--configfile", str(cfg)))
    assert jobs["train_sae"] == 10
    allowed = {
        "train_sae",
        "eval_key",
        "eval_group",
        "eval_sae",
        "explain",
        "score",
        "latent_page",
        "manifest",
        "all",
        *REPORT_RULES,
    }
    assert set(jobs) <= allowed, jobs


@pytest.mark.slow
def test_autointerp_change_reruns_only_autointerp_and_downstream(smoke_run, tmp_path):
    cfg = write_config(tmp_path, lambda c: c["autointerp"].__setitem__("lexical_top_tokens", 3))
    jobs = planned_jobs(snakemake(smoke_run, "-n", "--cores", "2", "--configfile", str(cfg)))
    assert jobs["explain"] == 10
    assert set(jobs) <= {
        "explain",
        "score",
        "latent_page",
        "manifest",
        "all",
        *REPORT_RULES,
    }, jobs


@pytest.mark.slow
def test_adding_a_layer_adds_only_that_layers_jobs(smoke_copy, tmp_path):
    """Layer 0 dropped from a finished run, then added back: only layer-0 jobs are planned.

    (The activation cache spans every layer up to the deepest requested one, so adding a layer
    deeper than the current deepest also re-caches that (model, init); documented in the README.)
    """
    only1 = write_config(tmp_path, lambda c: c["models"]["tiny-neox"].__setitem__("layers", [1]))
    jobs = planned_jobs(snakemake(smoke_copy, "-n", "--cores", "2", "--configfile", str(only1)))
    # the (model, init) groups' layer lists changed: each reruns and finds layer 1 stored
    assert set(jobs) <= {"eval_group", "manifest", "all", *REPORT_RULES}, jobs
    backup = tmp_path / "layer0"
    moved = []
    for pattern in (
        "results/saes/*/*/layer0",
        "results/metrics/*/*/layer0.json",
        "results/metrics/*/*/layer0_latents.csv",
        "results/examples/*/*/layer0.json",
        "results/autointerp/*/*/layer0",
        "results/pages/*/layer0.html",
    ):
        for p in smoke_copy.glob(pattern):
            dest = backup / p.relative_to(smoke_copy)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(p, dest)
            moved.append((dest, p))
    try:
        jobs = planned_jobs(snakemake(smoke_copy, "-n", "--cores", "2", "--configfile", str(SMOKE)))
        per_cell = {"train_sae", "eval_sae", "explain", "score"}
        assert {r: jobs[r] for r in per_cell} == dict.fromkeys(per_cell, 5), jobs
        assert jobs["latent_page"] == 1
        # one eval_group per (model, init) evaluates layer 0 only (the store holds layer 1)
        assert jobs["eval_group"] == jobs["eval_key"] == 5
        allowed = per_cell | {
            "eval_key",
            "eval_group",
            "latent_page",
            "manifest",
            "all",
            *REPORT_RULES,
        }
        assert set(jobs) <= allowed, jobs
    finally:
        for dest, p in moved:
            shutil.move(dest, p)


@pytest.mark.slow
def test_figures_rerender_from_tables_alone(smoke_copy):
    shutil.rmtree(smoke_copy / "results/figures")
    jobs = planned_jobs(
        snakemake(smoke_copy, "figures", "-n", "--cores", "1", "--configfile", str(SMOKE))
    )
    assert set(jobs) <= PLOT_RULES | {"figures"} and jobs["plot_fig2_grid"] == 1, jobs
    proc = snakemake(smoke_copy, "figures", "--cores", "1", "--configfile", str(SMOKE))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("sae_l0_vs_layer", "fig2_grid", "roc_fuzzing_tiny-neox"):
        assert (smoke_copy / f"results/figures/{name}.png").exists(), name


# ------------------------------------------------------------------ Claude backend through the DAG
# (on a copy of the smoke run: it switches the autointerp backend)

SECRET = "sk-ant-test-SECRET-dag-4242"


@pytest.mark.slow
def test_anthropic_backend_through_the_dag(smoke_copy, tmp_path):
    """Explain + score of every smoke cell with the real SDK against the local fake server
    (Message Batches path), then a forced rerun served entirely from the SQLite cache."""
    from fake_anthropic import FakeAnthropic

    fake = FakeAnthropic(batch_polls_before_end=1).start()
    try:

        def mutate(c):
            c["autointerp"]["backend"] = "anthropic"
            c["autointerp"]["anthropic"].update(
                base_url=fake.url, execution="batch", poll_interval_s=0.05
            )

        cfg = write_config(tmp_path, mutate)
        env_extra = {"ANTHROPIC_API_KEY": SECRET, "HF_TOKEN": SECRET + "-hf"}
        proc = snakemake(
            smoke_copy,
            "results/tables/autointerp.csv",
            "--cores",
            "2",
            "--configfile",
            str(cfg),
            env_extra=env_extra,
            timeout=1200,
        )
        assert proc.returncode == 0, proc.stderr[-5000:]
        assert fake.counts["batch_create"] >= 10 and fake.counts["batch_items"] > 0
        ai = pd.read_csv(smoke_copy / "results/tables/autointerp.csv")
        assert set(ai["backend"]) == {"anthropic"}
        assert ai["n_failed"].sum() == 0
        det = ai[ai["scorer"] == "detection"]
        assert det["auroc_pooled"].notna().all()
        expl = [
            json.loads(line)
            for p in (smoke_copy / "results/autointerp").glob("*/*/layer*/explanations.jsonl")
            for line in p.read_text().splitlines()
        ]
        assert expl and all(e["backend"] == "anthropic" and not e["parse_failed"] for e in expl)
        cost = pd.read_csv(smoke_copy / "results/tables/llm_cost.csv")
        assert len(cost) == 10 and (cost["calls"] > 0).all() and (cost["usd"] > 0).all()
        sm = yaml.safe_load(SMOKE.read_text())
        n_win = sm["examples"]["n_test_activating"] + sm["examples"]["n_test_nonactivating"]
        per_scorer = -(-n_win // sm["autointerp"]["anthropic"]["windows_per_prompt"])
        # 1 explain + (detection, fuzzing, and their random-explanation controls) x prompts each,
        # less the controls whose borrowed explanation equals the latent's own: that request is
        # byte-identical to the real one and is answered from the response cache, unbilled
        for row in cost.itertuples():
            cell = smoke_copy / f"results/autointerp/{row.model}/{row.init}/layer{row.layer}"
            own = [
                json.loads(line)["explanation"]
                for line in (cell / "explanations.jsonl").read_text().splitlines()
            ]
            n = len(own)
            distinct = sum(own[i] != own[(i + 1) % n] for i in range(n)) if n > 1 else 0
            want = (n + 2 * per_scorer * (n + distinct)) / n
            assert row.calls_per_latent == pytest.approx(want), (row, own)

        # forced rerun: every request is answered by the response cache, zero API traffic
        fake.reset_counts()
        before = dict(fake.counts)
        proc = snakemake(
            smoke_copy,
            "results/tables/autointerp.csv",
            "--cores",
            "2",
            "--configfile",
            str(cfg),
            "--forcerun",
            "explain",
            "score",
            env_extra=env_extra,
            timeout=1200,
        )
        assert proc.returncode == 0, proc.stderr[-5000:]
        assert before == {} and fake.counts["messages"] == 0 and fake.counts["batch_create"] == 0, (
            fake.counts
        )

        # the secrets never reach results, logs or Snakemake's metadata
        for sub in ("results", "logs", ".snakemake"):
            for p in (smoke_copy / sub).rglob("*"):
                if p.is_file() and p.stat().st_size < 50_000_000:
                    data = p.read_bytes()
                    assert SECRET.encode() not in data, p
    finally:
        fake.stop()
