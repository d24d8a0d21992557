"""Publish -> reviewer -> figures, end to end: the suite's smoke run published to the loopback Hub
with the real huggingface_hub and sae-lens upload code, read back by sae-lens, published again
(nothing sent), then rebuilt by the reviewer path without training, and refused when a published
file was tampered with. HF_TOKEN is a canary that no file may contain afterwards.

One publish (module fixture) serves every test here; the Snakemake runs are marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from dagtools import ROOT, SMOKE, copy_run, planned_jobs, snakemake
from fake_hub import FakeHub, GitRepo
from hub_writes import commit, create_branch

REPO = "randsae-ci/smoke-run"
CANARY = "hf_CANARY_publish_token_d0_n0t_wr1te_9f2c"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
# Every rule that trains or evaluates: the reviewer path plans none of them.
TRAINING_RULES = {
    "init_model",
    "train_model",
    "build_init",
    "cache_activations",
    "train_sae",
    "train_sae_group",
    "link_sae",
    "eval_key",
    "eval_group",
    "eval_sae",
    "explain",
    "score",
    "toy_sweep",
}
CELL = {"model": "tiny-neox", "init": "rerandomized", "layer": 1}
TAMPERED = "results/metrics/tiny-neox/trained/layer0.json"

pytestmark = pytest.mark.slow


def hub_snakemake(work: Path, hub: FakeHub, *args: str, home: Path | None = None):
    """Snakemake in ``work`` against the loopback Hub, HF_TOKEN = the canary."""
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home or work.parent / "hf-home"),
        "HF_TOKEN": CANARY,
        "HF_HUB_DISABLE_XET": "1",  # the loopback Hub speaks LFS, not Xet
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "RANDSAE_HUB_BACKOFF_S": "0.05",
    }
    return snakemake(work, *args, env_extra=env, env_drop=OFFLINE_VARS)


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def fetch(hub: FakeHub, path: str, revision: str = "main") -> bytes:
    with urllib.request.urlopen(f"{hub.url}/{REPO}/resolve/{revision}/{path}", timeout=30) as r:
        return r.read()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    (root / "models").mkdir()
    srv = FakeHub(root).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def published(smoke_run, hub, tmp_path_factory):
    """The smoke run, copied, published once to the loopback Hub (``snakemake publish``)."""
    work = copy_run(smoke_run, tmp_path_factory.mktemp("publish") / "run")
    cfg = yaml.safe_load(SMOKE.read_text())
    # allow_dirty_code: a developer's checkout may hold uncommitted changes (CI's does not)
    cfg["publish"] |= {"repo": REPO, "create": True, "private": False, "allow_dirty_code": True}
    config = write_config(work.parent / "publish.yaml", cfg)
    hub.reset_counts()
    t0 = time.monotonic()
    proc = hub_snakemake(work, hub, "publish", "--cores", "1", "--configfile", str(config))
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-6000:]
    print(f"\nfirst publish: {wall:.1f} s, hub requests {dict(hub.counts)}")
    return work, config, dict(hub.counts)


def test_publish_sends_every_file_and_sae_lens_loads_the_saes(published, hub):
    from randsae.tables.manifest import read_manifest

    work, _config, counts = published
    rows = read_manifest(work / "results/manifest.tsv")
    saes = [r["path"] for r in rows if r["path"].endswith("sae_weights.safetensors")]
    assert len(saes) == 10
    # every manifest file plus config.yaml, manifest.tsv and README.md, each sent once
    assert counts["commit_files"] == len(rows) + 3
    assert counts["lfs_upload"] == len([r for r in rows if r["path"].endswith(".safetensors")])
    assert counts["commit"] == len(saes) + 2  # one per SAE (sae-lens), results, finals
    published_rows = {r["path"]: r for r in read_manifest_bytes(fetch(hub, "manifest.tsv"))}
    assert set(published_rows) == {r["path"] for r in rows} | {"config.yaml"}
    assert yaml.safe_load(fetch(hub, "config.yaml"))["publish"]["repo"] == REPO
    card = fetch(hub, "README.md").decode()
    assert "library_name: saelens" in card and "| 1 | 1a-detection |" in card
    # sae-lens reads them back through its own loader, bit for bit
    probe = textwrap.dedent(
        """
        import json, sys, torch
        from safetensors.torch import load_file
        from sae_lens import SAE
        out = {}
        for sae_id, local in json.loads(sys.argv[1]).items():
            sae = SAE.from_pretrained(sys.argv[2], sae_id)
            ref = load_file(local)
            out[sae_id] = sorted(ref) == sorted(sae.state_dict()) and all(
                torch.equal(sae.state_dict()[k], ref[k]) for k in ref
            )
        print("RESULT " + json.dumps(out))
        """
    )
    ids = {p.removeprefix("results/saes/").rsplit("/", 1)[0]: str(work / p) for p in saes}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env |= {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(work.parent / "hf-read"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(ids), REPO],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[7:])
    assert result == dict.fromkeys(ids, True)


def read_manifest_bytes(data: bytes) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(data.decode()), delimiter="\t"))


def test_second_publish_sends_nothing(published, hub):
    work, config, _ = published
    hub.reset_counts()
    t0 = time.monotonic()
    proc = hub_snakemake(work, hub, "publish", "--cores", "1", "--configfile", str(config))
    print(f"\nsecond publish: {time.monotonic() - t0:.1f} s, hub requests {dict(hub.counts)}")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert hub.counts["commit_files"] == 0 and hub.counts["lfs_upload"] == 0
    assert hub.counts["commit"] == 0 and hub.counts["create_repo"] == 0
    logs = sorted((work / "logs" / "publish").glob("*.log"))
    assert len(logs) == 2 and "'sent': 0" in logs[-1].read_text()  # each publish keeps its log


@pytest.fixture(scope="module")
def reviewer_config(published, hub, tmp_path_factory):
    """The published run's own config.yaml (from the repo) with artifacts.from and a spot check."""
    cfg = yaml.safe_load(fetch(hub, "config.yaml"))
    cfg["artifacts"] |= {"from": f"hub:{REPO}@main", "recompute": [CELL]}
    return write_config(tmp_path_factory.mktemp("reviewer-cfg") / "reviewer.yaml", cfg)


def test_reviewer_configs_plan_no_training(reviewer_config, tmp_path, hub):
    jobs = planned_jobs(hub_snakemake(tmp_path, hub, "-n", "--configfile", str(reviewer_config)))
    assert not set(jobs) & TRAINING_RULES, jobs
    assert jobs["fetch_artifacts"] == 1 and jobs["fetch_sae"] == jobs["recompute_cell"] == 1
    assert jobs["claims"] == 1 and jobs["plot_fig2_grid"] == 1
    # the shipped reviewer config (the paper grid; no network needed to plan it)
    shipped = ROOT / "configs" / "reviewer.yaml"
    (tmp_path / "paper").mkdir()
    jobs = planned_jobs(snakemake(tmp_path / "paper", "-n", "--configfile", str(shipped)))
    assert not set(jobs) & TRAINING_RULES, jobs
    assert jobs["fetch_artifacts"] == 1 and "recompute_cell" not in jobs and jobs["claims"] == 1


def test_reviewer_rebuilds_the_published_tables_and_figures(
    published, reviewer_config, hub, tmp_path
):
    work = tmp_path / "review"
    t0 = time.monotonic()
    proc = hub_snakemake(work, hub, "--cores", "2", "--configfile", str(reviewer_config))
    print(f"\nreviewer run (one spot-checked cell): {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr[-6000:]
    runs = work / "benchmarks/runs"
    ran = {p.relative_to(runs).parts[0].removesuffix(".tsv") for p in runs.rglob("*.tsv")}
    assert not ran & TRAINING_RULES, ran
    src = published[0]
    compared = [
        *(src / "results/tables").glob("*.csv"),
        *(src / "results/tables").glob("app_j_examples.*"),
        *(src / "results/figures").glob("*.csv"),
        *(src / "results/figures").glob("*.png"),  # PDFs carry their creation date
        *(src / "results/pages").rglob("*.html"),
    ]
    assert len(compared) > 40
    for f in compared:
        rel = f.relative_to(src)
        assert (work / rel).read_bytes() == f.read_bytes(), rel
    import pandas as pd

    check = pd.read_csv(work / "results/tables/recompute.csv")
    assert set(check["metric"]) >= {"explained_variance", "l0", "ce_loss_score", "cossim"}
    assert check["within_tolerance"].all(), check[~check["within_tolerance"]]
    assert (check[["model", "init", "layer"]].drop_duplicates().to_dict("records")) == [CELL]
    # the HTML report of the rebuilt run
    proc = hub_snakemake(
        work, hub, "--report", str(work / "report.html"), "--configfile", str(reviewer_config)
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert b"claims.csv" in (work / "report.html").read_bytes()


def test_tampered_file_stops_the_reviewer_run(published, hub, tmp_path):
    repo = GitRepo(hub.root / "models" / REPO)
    path = repo.path
    create_branch(path, "tampered", repo.resolve("main"))
    record = json.loads(fetch(hub, TAMPERED))
    record["explained_variance"] = 0.99
    commit(path, "tampered", {TAMPERED: json.dumps(record).encode()}, [], "a better number")
    cfg = yaml.safe_load(fetch(hub, "config.yaml"))
    cfg["artifacts"]["from"] = f"hub:{REPO}@tampered"
    config = write_config(tmp_path / "tampered.yaml", cfg)
    proc = hub_snakemake(tmp_path / "review", hub, "--cores", "1", "--configfile", str(config))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert f"{TAMPERED}: the published file" in text and "sha256" in text, text[-3000:]
    assert not (tmp_path / "review/results/tables/claims.csv").exists()


def test_neuronpedia_export_of_the_run(published):
    """`snakemake neuronpedia_export`: one upload batch per cell, every chosen latent a feature."""
    work, config, _ = published
    proc = snakemake(work, "neuronpedia_export", "--cores", "1", "--configfile", str(config))
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = work / "results/neuronpedia"
    index = json.loads((out / "index.json").read_text())
    cfg = yaml.safe_load(config.read_text())
    n_cells = len(cfg["inits"]) * len(cfg["models"]["tiny-neox"]["layers"])
    assert len(index["models"]) == len(cfg["inits"]) and len(index["batches"]) == n_cells
    for rel in index["batches"]:
        batch = json.loads((out / rel).read_text())
        cell = rel.split("/")[1:3]  # features/<model id>/<layer>-<set>/batch-0.json
        assert batch["modelId"] == cell[0] and batch["source"] == cell[1]
        assert len(batch["features"]) == cfg["examples"]["n_latents"]
        for f in batch["features"]:
            assert 0 < f["density"] <= 1 and f["activations"] and f["explanations"]
            assert all(len(a["tokens"]) == len(a["values"]) for a in f["activations"])


def test_the_token_is_written_nowhere(published, hub, tmp_path_factory):
    """Runs with HF_TOKEN = canary: publish twice, reviewer runs; the canary is in no file."""
    roots = [published[0].parent, hub.root, Path(tmp_path_factory.getbasetemp())]
    seen = 0
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                seen += 1
                assert CANARY.encode() not in p.read_bytes(), p
    assert seen > 200
    # the Hub's committed files (git stores them compressed)
    repo = GitRepo(hub.root / "models" / REPO)
    for e in repo.entries(repo.resolve("main")):
        if e["type"] == "file":
            assert CANARY.encode() not in repo.blob(e["oid"]), e["path"]
