"""One process per (model, init) in the evaluation stage (randsae/evaluate/group.py): the group
job's per-layer results are those of the per-cell stage, and a changed layer is the only one
evaluated again; and the real Snakemake rerun of the smoke run (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import test_faithfulness as tf
import yaml
from test_faithfulness import _random_sae, cell_of, run_of

from randsae.evaluate.group import ENTRY_FILES, GroupSettings, eval_group, serve_layer, write_key

VAL = "results/data/tokens/tiny/val.npy"
TOKENIZER = "results/data/tokenizer"
# the tiny project and config of tests/test_faithfulness.py
project, cfg = tf.project, tf.cfg


def _kwargs(cfg, init: str) -> dict:
    """The (model, init)'s settings as keywords of eval_cell (the per-cell stage)."""
    run = run_of(cfg)
    return dict(
        **cell_of(cfg, init),
        eval_cfg=run.eval,
        examples_cfg=run.examples,
        context_size=run.activations.context_size,
        seed=run.seed,
        tokens_val=VAL,
        tokenizer_path=TOKENIZER,
        device="cpu",
    )


def _settings(cfg, init: str) -> GroupSettings:
    return GroupSettings(**_kwargs(cfg, init))


def _keys(cfg, init: str, sae_dirs: list[str]) -> list[str]:
    """The eval_key jobs of the layers."""
    keys = []
    for layer, sae_dir in enumerate(sae_dirs):
        keys.append(f"keys/{init}/layer{layer}.key")
        write_key(settings=_settings(cfg, init), layer=layer, sae_dir=sae_dir, out_key=keys[-1])
    return keys


def _group(cfg, init: str, sae_dirs: list[str], manifest: str) -> dict:
    eval_group(
        settings=_settings(cfg, init),
        layers=[0, 1],
        sae_dirs=sae_dirs,
        key_files=_keys(cfg, init, sae_dirs),
        store_dir=f"store/{init}",
        out_manifest=manifest,
    )
    return json.loads(Path(manifest).read_text())["layers"]


@pytest.mark.parametrize("init", ["trained", "noise_control"])
def test_group_evaluates_each_layer_as_its_own_job_did(project, cfg, monkeypatch, init):
    """Byte for byte the files of the per-cell stage (eval_cell: one process per layer), noise
    control included (each layer gets fresh eval/examples noise streams); a rerun reuses every
    stored layer; a changed SAE re-evaluates that layer only."""
    from randsae.evaluate.steps import eval_cell

    monkeypatch.chdir(project)
    cfg["examples"].update(max_activating_windows=8)
    saes = [str(_random_sae(Path(f"results/saes/g_{init}/layer{i}"), seed=10 + i)) for i in (0, 1)]
    layers = _group(cfg, init, saes, "g1.json")
    assert [v["computed"] for v in layers.values()] == [True, True]
    for layer, sae_dir in enumerate(saes):
        apart = [f"apart{layer}_{name}" for name in ENTRY_FILES]
        eval_cell(
            **_kwargs(cfg, init),
            layer=layer,
            sae_dir=sae_dir,
            out_json=apart[0],
            out_latents=apart[1],
            out_examples=apart[2],
        )
        served = [f"served{layer}_{name}" for name in ENTRY_FILES]
        serve_layer(
            layer=layer,
            key_file=f"keys/{init}/layer{layer}.key",
            store_dir=f"store/{init}",
            out_files=served,
            group_manifest="g1.json",
        )
        for a, s in zip(apart, served, strict=True):
            assert Path(a).read_bytes() == Path(s).read_bytes(), (layer, a)

    entry0 = Path(f"store/{init}/layer0/metrics.json")
    before = entry0.stat().st_mtime_ns
    assert [v["computed"] for v in _group(cfg, init, saes, "g2.json").values()] == [False, False]
    shutil.rmtree(saes[1])
    _random_sae(Path(saes[1]), seed=99)
    again = _group(cfg, init, saes, "g3.json")
    assert [v["computed"] for v in again.values()] == [False, True]
    assert again["1"]["key"] != layers["1"]["key"] and again["0"]["key"] == layers["0"]["key"]
    assert entry0.stat().st_mtime_ns == before


def test_a_layer_is_served_only_for_the_inputs_it_was_evaluated_on(project, cfg, monkeypatch):
    monkeypatch.chdir(project)
    saes = [str(_random_sae(Path(f"results/saes/s/layer{i}"), seed=20 + i)) for i in (0, 1)]
    _group(cfg, "trained", saes, "s.json")
    cfg["eval"]["n_tokens"] = 1024  # settings changed since the group ran
    (key,) = _keys(cfg, "trained", saes[:1])
    with pytest.raises(RuntimeError, match=r"layer 0 .*--forcerun s\.json"):
        serve_layer(
            layer=0,
            key_file=key,
            store_dir="store/trained",
            out_files=["a", "b", "c"],
            group_manifest="s.json",
        )
    assert not Path("a").exists()


# -- the real workflow: a changed layer reruns only its own jobs ---------------------------------

CHANGED = ("trained", 1)  # (init, layer) whose SAE changes


def _per_layer_files(run: Path) -> list[Path]:
    """Every per-layer target of the smoke run except the changed cell's: SAEs, metrics,
    examples, auto-interp results and the other (model, init)s' group manifests."""
    init, layer = CHANGED
    files = []
    for pattern in (
        "results/saes/*/*/layer*/*",
        "results/metrics/*/*/layer*",
        "results/examples/*/*/layer*.json",
        "results/autointerp/*/*/layer*/*",
        "results/eval_groups/*/*.json",
    ):
        files += run.glob(pattern)
    changed = (f"/{init}/layer{layer}", f"/{init}/layer{layer}_", f"eval_groups/tiny-neox/{init}")
    return sorted(p for p in files if not any(c in str(p) for c in changed))


@pytest.mark.slow
def test_a_changed_layer_reruns_only_that_layers_jobs(smoke_copy):
    """One layer's SAE of one (model, init) changes (as a retrain with other settings would leave
    it); the rerun evaluates that layer only, in its group job, and every other layer's targets
    keep their bytes and mtimes."""
    from dagtools import SMOKE, TARGETS, job_stats, planned_jobs, snakemake
    from safetensors.torch import load_file, save_file

    init, layer = CHANGED
    weights = smoke_copy / f"results/saes/tiny-neox/{init}/layer{layer}/sae_weights.safetensors"
    tensors = load_file(str(weights))
    tensors["W_dec"] = tensors["W_dec"] * 0.5
    save_file(tensors, str(weights), metadata={"format": "pt"})
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in _per_layer_files(smoke_copy)}
    assert len(before) > 40

    args = ("--cores", "2", "--configfile", str(SMOKE))
    # an eval setting reaches every layer's key, so every per-layer job (the masked downstream
    # jobs of a rerun group see their own key change, not only the ancient manifest)
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["eval"]["n_tokens"] //= 2
    (smoke_copy.parent / "eval.yaml").write_text(yaml.safe_dump(cfg))
    eval_changed = planned_jobs(
        snakemake(
            smoke_copy, "-n", "--cores", "2", "--configfile", str(smoke_copy.parent / "eval.yaml")
        )
    )
    assert (eval_changed["eval_key"], eval_changed["eval_group"], eval_changed["eval_sae"]) == (
        10,
        5,
        10,
    ), eval_changed
    planned = planned_jobs(snakemake(smoke_copy, "-n", *args))
    per_layer = {"eval_key": 1, "eval_group": 1, "eval_sae": 1, "explain": 1, "score": 1}
    per_layer["latent_page"] = 1
    assert {r: planned[r] for r in per_layer} == per_layer, planned
    assert "train_sae" not in planned and "cache_activations" not in planned, planned
    proc = snakemake(smoke_copy, *TARGETS, *args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert job_stats(proc.stdout + proc.stderr) == planned

    manifest = json.loads((smoke_copy / f"results/eval_groups/tiny-neox/{init}.json").read_text())
    computed = {int(k): v["computed"] for k, v in manifest["layers"].items()}
    assert computed == {0: layer == 0, 1: layer == 1}, computed
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in _per_layer_files(smoke_copy)}
    assert after == before
