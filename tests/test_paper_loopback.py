"""configs/paper.yaml end to end on its online paths, through the loopback Hub and the loopback
Anthropic API, shrunk by the scale overlay configs/overlays/paper-loopback.yaml.

- The overlay changes scale keys only (SCALE_KEYS below, defined here on purpose, not imported),
  plus the two named NON_SCALE_OVERRIDES; `models:` is paper.yaml's list restricted to the sizes
  the loopback Hub has, with only `layers` (inside the tiny depth) changed.
- One full run with HF_TOKEN unset, through one injected HTTP 503 on a file download and one on
  a repo-info call (retried by randsae.hub): RedPajama download + tokenize, `trained` and `step0` from the
  Hub, all five inits, stream-mode SAE training, eval, examples, explain/score with the anthropic
  backend (Message Batches) against tests/fake_anthropic.py, tables, figures, manifest.
- A second, cheaper run with a dummy HF_TOKEN through the jobs that read each Hub revision
  (tokenize: dataset + tokenizer; the `trained` and `step0` model builds), checked to give the
  same tokens and weights as the run without a token, and the token written nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fake_anthropic import FakeAnthropic
from fake_hub import FakeHub
from hub_content import DATASET_REPO, MODELS, build_hub

from randsae.configfile import apply_overlay
from randsae.configfile import main as overlay_main
from randsae.errors import ConfigError
from randsae.sections import check_config

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "configs" / "paper.yaml"
OVERLAY = ROOT / "configs" / "overlays" / "paper-loopback.yaml"
FAKE_KEY = "sk-ant-loopback-test-key"
DUMMY_HF_TOKEN = "hf_loopback_dummy_token"

# Keys that set how much is computed, not what: token counts, widths, batch sizes, window and
# latent counts, schedule lengths that scale with the run, resampling counts.
SCALE_KEYS = {
    "data.hf_dataset.max_train_tokens",
    "activations.n_train_tokens",
    "activations.context_size",
    "activations.batch_size",
    "activations.shard_tokens",
    "sae.expansion_factor",
    "sae.n_tokens",
    "sae.batch_size",
    "sae.warmup_steps",
    "sae.shuffle_buffer_tokens",
    "sae.checkpoint_every_steps",
    "sae.layer_group_size",
    "eval.n_tokens",
    "eval.batch_size",
    "examples.n_tokens",
    "examples.context_size",
    "examples.n_latents",
    "examples.min_activating_windows",
    "examples.n_explain",
    "examples.n_test_activating",
    "examples.n_test_nonactivating",
    "autointerp.bootstrap",
}
# Per model: the layers studied (within the tiny depth) and how many share a streaming job.
MODEL_SCALE_KEYS = {"layers", "layer_group_size"}
# The only other overrides, each with its reason in the overlay's header.
NON_SCALE_OVERRIDES = {"device": "cpu", "toy.enabled": False}


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        else:
            out[key] = v
    return out


def merged_config() -> dict:
    return apply_overlay(yaml.safe_load(PAPER.read_text()), yaml.safe_load(OVERLAY.read_text()))


# ------------------------------------------------------------------ fast checks


def test_apply_overlay_merges_and_replaces_models():
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "models": {"m1": {"l": [0]}, "m2": {"l": [1]}}}
    over = {"a": {"y": {"q": 3}}, "models": {"m2": {"l": [0]}}, "b": 5}
    out = apply_overlay(base, over)
    assert out == {"a": {"x": 1, "y": {"p": 1, "q": 3}}, "models": {"m2": {"l": [0]}}, "b": 5}
    assert base["a"]["y"]["q"] == 2 and "m1" in base["models"]  # inputs untouched


def test_overlay_cli_writes_once(tmp_path):
    out = tmp_path / "merged.yaml"
    overlay_main([str(PAPER), str(OVERLAY), str(out)])
    assert yaml.safe_load(out.read_text()) == merged_config()
    with pytest.raises(SystemExit, match="not overwriting"):
        overlay_main([str(PAPER), str(OVERLAY), str(out)])


def test_overlay_changes_scale_keys_only():
    paper = yaml.safe_load(PAPER.read_text())
    merged = merged_config()
    flat_p = flatten({k: v for k, v in paper.items() if k != "models"})
    flat_m = flatten({k: v for k, v in merged.items() if k != "models"})
    assert flat_p.keys() == flat_m.keys(), "the overlay adds or drops keys"
    changed = {k for k in flat_p if flat_p[k] != flat_m[k]}
    assert changed <= SCALE_KEYS | set(NON_SCALE_OVERRIDES), changed - SCALE_KEYS
    for key, value in NON_SCALE_OVERRIDES.items():
        assert flat_m[key] == value
    # models: paper.yaml's own entries (the sizes the loopback Hub serves), only layers changed
    assert merged["models"], "no model left"
    for name, mcfg in merged["models"].items():
        assert name in paper["models"], name
        ref = paper["models"][name]
        assert {k: v for k, v in mcfg.items() if k not in MODEL_SCALE_KEYS} == {
            k: v for k, v in ref.items() if k not in MODEL_SCALE_KEYS
        }, name
        depth = MODELS[mcfg["hf_name"]]["n_layers"]
        assert all(0 <= layer < depth for layer in mcfg["layers"]), (name, depth)
    hub_models = {m["hf_name"] for m in merged["models"].values()}
    assert hub_models and hub_models <= set(MODELS)  # one Hub model keeps the CI run short


def test_merged_config_passes_the_workflow_checks():
    import jsonschema

    merged = merged_config()
    schema = yaml.safe_load((ROOT / "config.schema.yaml").read_text())
    jsonschema.validate(merged, schema)
    check_config(merged)
    broken = merged_config()
    broken["data"]["hf_dataset"].pop("data_files")
    with pytest.raises(ConfigError, match="data.hf_dataset.data_files"):
        check_config(broken)


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    commits = build_hub(root)
    hub = FakeHub(root).start()
    anthropic = FakeAnthropic(batch_polls_before_end=0).start()
    yield hub, anthropic, commits
    hub.stop()
    anthropic.stop()


def run_workflow(work: Path, hub: FakeHub, anthropic: FakeAnthropic, token, *targets):
    config = work / "merged.yaml"
    if not config.exists():
        overlay_main([str(PAPER), str(OVERLAY), str(config)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.pop("ANTHROPIC_BASE_URL", None)
    env |= {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(work / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANTHROPIC_BASE_URL": anthropic.url,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    # targets first: --configfile takes every value after it
    cmd += [*targets, "--cores", "2", "--configfile", str(config)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    return proc, time.time() - t0


@pytest.fixture(scope="module")
def paper_run(servers, tmp_path_factory):
    hub, anthropic, commits = servers
    work = tmp_path_factory.mktemp("paper-no-token")
    hub.reset_counts()
    # One transient HTTP 503 on a file download (the tokenizer) and one on a repo-info call
    # (HfApi().dataset_info): randsae.hub retries both, the run goes on.
    hub.inject("resolve_get", match="tokenizer.json")
    hub.inject("info", match="/api/datasets/")
    proc, wall = run_workflow(work, hub, anthropic, None)
    print(f"\npaper.yaml + overlay, HF_TOKEN unset: {wall:.0f} s; hub requests {dict(hub.counts)}")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert dict(hub.faults_served) == {"resolve_get": 1, "info": 1}
    assert "HF_TOKEN" not in (work / "merged.yaml").read_text()
    return work, dict(hub.counts), dict(hub.auth), dict(anthropic.counts)


@pytest.mark.slow
def test_paper_config_end_to_end_without_token(paper_run, servers):
    work, counts, auth, api_counts = paper_run
    # no Authorization header was ever sent (the step-0 blocker was an empty "Bearer ")
    assert auth.get("Bearer", 0) == 0
    assert counts["resolve_get"] > 0 and counts.get("info", 0) > 0
    assert api_counts.get("batch_create", 0) > 0
    check_full_run(work, servers[2])


def check_full_run(work: Path, commits: dict) -> None:
    """What a finished paper.yaml + overlay run in ``work`` must hold (files only)."""
    import numpy as np

    cfg = yaml.safe_load((work / "merged.yaml").read_text())
    n_cells = len(cfg["inits"]) * sum(len(m["layers"]) for m in cfg["models"].values())
    assert len(cfg["inits"]) == 5
    # the dataset came from the Hub at the resolved commit, into the HF cache
    snap = work / "hf-home" / "hub" / f"datasets--{DATASET_REPO.replace('/', '--')}" / "snapshots"
    assert [p.name for p in snap.iterdir()] == [commits[DATASET_REPO]["main"]]
    for name, mcfg in cfg["models"].items():
        train = np.load(work / f"results/data/tokens/{name}/train.npy")
        assert len(train) == cfg["data"]["hf_dataset"]["max_train_tokens"]
        recs = {
            i: json.loads((work / f"results/models/{name}/inits/{i}.json").read_text())
            for i in cfg["inits"]
        }
        assert recs["trained"]["d_model"] == MODELS[mcfg["hf_name"]]["d_model"]
        digests = {i: r["weights_sha256"] for i, r in recs.items()}
        # step0 and the rerandomized variants differ from trained; noise_control keeps its weights
        assert len({digests[i] for i in ("trained", "step0", "rerandomized")}) == 3
        assert (
            digests["noise_control"] == digests["trained"] and recs["noise_control"]["noise_hook"]
        )
    sm = pd.read_csv(work / "results/tables/sae_metrics.csv")
    assert len(sm) == n_cells and set(sm["init"]) == set(cfg["inits"])
    assert set(sm["model"]) == set(cfg["models"])
    ai = pd.read_csv(work / "results/tables/autointerp.csv")
    assert set(ai["backend"]) == {"anthropic"} and ai["n_failed"].sum() == 0
    scorers = cfg["autointerp"]["scorers"]
    assert set(ai["scorer"]) == {*scorers, *(f"{s}_random_explanation" for s in scorers)}
    cost = pd.read_csv(work / "results/tables/llm_cost.csv")
    assert len(cost) == n_cells and (cost["usd"] > 0).all()
    for fig in ("sae_explained_variance_vs_layer", "autointerp_detection_auroc_vs_layer"):
        for fmt in cfg["figures"]["formats"]:
            assert (work / f"results/figures/{fig}.{fmt}").stat().st_size > 0
    manifest = pd.read_csv(work / "results/manifest.tsv", sep="\t")
    assert len(manifest) > n_cells
    # streamed training: no activation cache on disk
    assert not (work / "results" / "activations").exists()
    for name in cfg["models"]:
        assert (work / f"results/sae_groups/{name}").is_dir()


def check_token_run(work: Path, reference: Path, targets: list[str], token: str) -> None:
    """The Hub jobs of a run with ``token`` reproduce the reference run; the token is nowhere."""
    for target in targets:
        new, old = work / target, reference / target
        if target.endswith(".json"):
            a, b = json.loads(new.read_text()), json.loads(old.read_text())
            assert a["weights_sha256"] == b["weights_sha256"], target
        else:
            assert new.read_bytes() == old.read_bytes(), target
    for d in (work / "results", work / "logs", work / ".snakemake"):
        for p in d.rglob("*"):
            if p.is_file():
                assert token.encode() not in p.read_bytes(), p


def hub_targets(cfg: dict) -> list[str]:
    """Outputs of the jobs that read each Hub revision: token ids (dataset + tokenizer) and the
    ``trained`` (main) and ``step0`` model builds. The other inits load ``main`` again."""
    return [
        f"results/models/{m}/inits/{i}.json" for m in cfg["models"] for i in ("trained", "step0")
    ] + [f"results/data/tokens/{m}/train.npy" for m in cfg["models"]]


@pytest.mark.slow
def test_paper_config_hub_jobs_with_dummy_token(paper_run, servers, tmp_path):
    """Every Hub-touching job again with HF_TOKEN set: same tokens, same weights."""
    hub, anthropic, _commits = servers
    work0 = paper_run[0]
    targets = hub_targets(yaml.safe_load((work0 / "merged.yaml").read_text()))
    hub.reset_counts()
    proc, wall = run_workflow(tmp_path, hub, anthropic, DUMMY_HF_TOKEN, *targets)
    print(f"\nHub jobs with a dummy HF_TOKEN: {wall:.0f} s; hub requests {dict(hub.counts)}")
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert hub.auth["Bearer"] > 0
    check_token_run(tmp_path, work0, targets, DUMMY_HF_TOKEN)
