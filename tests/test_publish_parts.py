"""The parts of randsae/publish/ on synthetic inputs with known answers: config sections, repo
layout, run checks, model card, spot-check comparison and the Neuronpedia export format.

The end-to-end publish -> reviewer path through Snakemake and the loopback Hub is in
tests/test_publish.py; the Hub clients and retries in tests/test_hub_retry.py.
"""

from __future__ import annotations

import base64
import copy
import json
import math
from pathlib import Path

import pytest
import yaml

from randsae.errors import ConfigError
from randsae.publish import layout
from randsae.publish.card import claims_table, model_card
from randsae.publish.neuronpedia import cell_features, export, np_model_id, set_name
from randsae.publish.runcheck import PublishError, check_run
from randsae.publish.settings import config_sha256, run_config
from randsae.publish.spotcheck import compare_cell, spot_check_table
from randsae.publish.upload import config_yaml, published_manifest, unchanged
from randsae.sections import ArtifactsConfig, check_config, models_from_dict

ROOT = Path(__file__).resolve().parent.parent


def smoke_config() -> dict:
    return yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())


def check_sections(config: dict):
    """The publish and artifacts sections of a config, checked as the Snakefile checks it."""
    run = check_config(config, ROOT / "config.schema.yaml")
    return run.publish, run.artifacts


# ------------------------------------------------------------------ config sections


def test_sections_parse_and_name_bad_keys():
    cfg = smoke_config()
    pub, art = check_sections(cfg)
    assert pub.repo is None and pub.revision == "main" and not pub.create and not art.reviewer
    art = ArtifactsConfig.from_dict(
        {"from": "hub:org/run", "recompute": [], "rtol": 0.1, "atol": 0}
    )
    assert (art.repo, art.revision, art.reviewer) == ("org/run", "main", True)
    art = ArtifactsConfig.from_dict(
        {"from": "hub:org/run@v2", "recompute": [], "rtol": 0, "atol": 0}
    )
    assert art.revision == "v2"
    bad = [
        (lambda c: c["publish"].__setitem__("repo", "no-namespace"), "publish.repo"),
        (lambda c: c["publish"].__setitem__("repo", "a/b/c"), "publish.repo"),
        (lambda c: c["publish"].__setitem__("revision", "two words"), "publish.revision"),
        (lambda c: c["artifacts"].__setitem__("from", "org/run"), "artifacts.from"),
        (lambda c: c["artifacts"].__setitem__("from", "hub:run"), "artifacts.from"),
        (lambda c: c["artifacts"].__setitem__("rtol", -1), "artifacts.rtol"),
        (
            lambda c: c["artifacts"].__setitem__(
                "recompute", [{"model": "tiny-neox", "init": "trained", "layer": 0}]
            ),
            "artifacts.recompute: needs artifacts.from",
        ),
    ]
    for mutate, needle in bad:
        c = copy.deepcopy(cfg)
        mutate(c)
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            check_sections(c)
    cell = {"model": "tiny-neox", "init": "trained", "layer": 0}
    for key, value, needle in [
        ("model", "pythia", r"recompute\[0\]\.model"),
        ("init", "scrambled", r"recompute\[0\]\.init"),
        ("layer", 5, r"recompute\[0\]\.layer: 5 is not a layer of models\.tiny-neox"),
    ]:
        c = copy.deepcopy(cfg)
        c["artifacts"] |= {"from": "hub:org/run", "recompute": [cell | {key: value}]}
        with pytest.raises(ConfigError, match=needle):
            check_sections(c)
    c = copy.deepcopy(cfg)
    c["artifacts"] |= {"from": "hub:org/run", "recompute": [cell, dict(cell)]}
    with pytest.raises(ConfigError, match="listed twice"):
        check_sections(c)


def test_config_digest_leaves_out_where_results_go():
    cfg = smoke_config()
    other = copy.deepcopy(cfg)
    other["publish"]["repo"] = "org/run"
    other["artifacts"]["from"] = "hub:org/run"
    assert config_sha256(cfg) == config_sha256(other)
    assert "publish" not in run_config(cfg) and "seed" in run_config(cfg)
    other["seed"] += 1
    assert config_sha256(cfg) != config_sha256(other)


def test_repo_layout():
    assert (
        layout.repo_path("results/saes/m-1/trained/layer3/cfg.json")
        == "m-1/trained/layer3/cfg.json"
    )
    assert layout.repo_path("results/tables/claims.csv") == "results/tables/claims.csv"
    paths = [
        "results/saes/m/step0/layer1/sae_weights.safetensors",
        "results/saes/m/step0/layer1/cfg.json",
        "results/saes/m/trained/layer0/cfg.json",
        "results/metrics/m/trained/layer0.json",
    ]
    assert layout.sae_dirs(paths) == {
        "m/step0/layer1": "results/saes/m/step0/layer1",
        "m/trained/layer0": "results/saes/m/trained/layer0",
    }


# ------------------------------------------------------------------ run checks


def finished_run(root: Path, git: str = "abc123") -> list[str]:
    from randsae.io import sha256_file
    from randsae.tables.manifest import COLUMNS, write_manifest

    files = {"results/a.csv": "x,y\n1,2\n", "results/b/c.json": '{"k": 1}'}
    rows = []
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        row = dict.fromkeys(COLUMNS, "") | {"path": rel, "git_commit": git, "rule": "r"}
        rows.append(row | {"size_bytes": len(text), "sha256": sha256_file(root / rel)})
    write_manifest(rows, root / "results/manifest.tsv")
    return list(files)


def test_run_checks_each_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PublishError, match="incomplete run: results/manifest.tsv is missing"):
        check_run("results/manifest.tsv", [])
    files = finished_run(tmp_path)
    assert [r["path"] for r in check_run("results/manifest.tsv", files)] == files
    with pytest.raises(PublishError, match=r"incomplete run: 1 artifacts .*results/d\.csv"):
        check_run("results/manifest.tsv", [*files, "results/d.csv"])
    marker = tmp_path / ".snakemake/incomplete"
    marker.mkdir(parents=True)
    (marker / base64.urlsafe_b64encode(b"results/e.csv").decode()).write_text("")
    with pytest.raises(PublishError, match="outputs incomplete .*results/e.csv"):
        check_run("results/manifest.tsv", files)
    (marker / base64.urlsafe_b64encode(b"results/e.csv").decode()).unlink()
    Path("results/a.csv").write_text("x,y\n1,3\n")
    with pytest.raises(
        PublishError, match=r"dirty run: 1 files differ .*results/a\.csv \(changed\)"
    ):
        check_run("results/manifest.tsv", files)
    finished_run(tmp_path, git="abc123-dirty")
    with pytest.raises(PublishError, match="uncommitted changes .*allow_dirty_code"):
        check_run("results/manifest.tsv", files)
    assert check_run("results/manifest.tsv", files, allow_dirty_code=True)


def test_publish_stops_before_the_hub_without_repo_or_token(tmp_path, monkeypatch):
    from randsae.publish.upload import publish_run
    from randsae.sections import RunConfig

    monkeypatch.chdir(tmp_path)
    run = RunConfig.from_dict(smoke_config())
    with pytest.raises(PublishError, match="publish.repo is not set"):
        publish_run(run, "results/manifest.tsv", [])
    reviewer = run.replace(artifacts=run.artifacts.replace(source="hub:org/run"))
    with pytest.raises(PublishError, match="artifacts.from is set"):
        publish_run(reviewer, "results/manifest.tsv", [])
    run = run.replace(publish=run.publish.replace(repo="org/run"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PublishError, match="HF_TOKEN is not set: .*org/run"):
        publish_run(run, "results/manifest.tsv", [])
    monkeypatch.setenv("HF_TOKEN", "hf_not_used_by_this_test_0000")
    with pytest.raises(PublishError, match="incomplete run"):  # still before any Hub call
        publish_run(run, "results/manifest.tsv", [])


def test_unchanged_by_content_hash():
    from randsae.publish.upload import git_blob_id

    data = b"abc"
    remote = {"small.csv": (None, git_blob_id(data)), "big.bin": ("f" * 64, "0" * 40)}
    assert unchanged(remote, "small.csv", "ignored", data)
    assert not unchanged(remote, "small.csv", "ignored", b"abd")
    assert unchanged(remote, "big.bin", "f" * 64, None)
    assert not unchanged(remote, "big.bin", "e" * 64, None)
    assert not unchanged(remote, "new.csv", "f" * 64, data)


def test_published_manifest_adds_the_config_row(tmp_path):
    from randsae.tables.manifest import read_manifest

    finished_run(tmp_path)
    cfg = config_yaml(smoke_config())
    assert config_yaml(smoke_config()) == cfg  # stable bytes
    out = tmp_path / "published.tsv"
    out.write_bytes(published_manifest(tmp_path / "results/manifest.tsv", cfg))
    rows = read_manifest(out)
    assert [r["path"] for r in rows] == ["results/a.csv", "results/b/c.json", "config.yaml"]
    import hashlib

    assert rows[-1]["sha256"] == hashlib.sha256(cfg).hexdigest() and rows[-1]["rule"] == "publish"


# ------------------------------------------------------------------ model card


def test_model_card_from_the_run(tmp_path):
    cfg = smoke_config()
    cfg["publish"]["repo"] = "org/run"
    claims = tmp_path / "claims.csv"
    claims.write_text(
        "claim,sub,model,statistic,value,ci_low,ci_high,verdict\n"
        "1,1a,tiny,a|b,0.123456,0.1,0.2,holds\n2,2b,tiny,slope,nan,nan,nan,not testable\n"
    )
    rows = [
        {"path": f"results/saes/tiny-neox/{i}/layer{layer}/cfg.json"}
        for i in cfg["inits"]
        for layer in (0, 1)
    ]
    card = model_card(cfg, rows, claims)
    assert card == model_card(cfg, rows, claims)  # no timestamps: republishing sends nothing
    assert card.startswith("---\nlibrary_name: saelens\n")
    assert 'SAE.from_pretrained("org/run", "tiny-neox/trained/layer0")' in card
    assert config_sha256(cfg) in card and "arxiv.org/abs/2501.17727" in card
    assert "| 1 | 1a | tiny | a\\|b | 0.123 | [0.1, 0.2] | holds |" in card
    assert "| 2 | 2b | tiny | slope |  |  | not testable |" in card
    assert 'from: "hub:org/run@main"' in card and "10 SAEs in all" in card
    cfg["publish"]["revision"] = "v1"
    assert 'revision="v1"' in model_card(cfg, rows, claims)
    assert "no claims.csv" in claims_table(tmp_path / "absent.csv")


# ------------------------------------------------------------------ spot check


def test_spot_check_comparison_with_tolerances(tmp_path):
    pub = {
        "model": "m",
        "layer": 0,
        "fvu": 0.5,
        "l0": 32.0,
        "mse": 1.0,
        "dead": math.nan,
        "ok": True,
    }
    new = {
        "model": "m",
        "layer": 0,
        "fvu": 0.5004,
        "l0": 32.0,
        "mse": 1.2,
        "dead": math.nan,
        "ok": True,
    }
    rows = {r["metric"]: r for r in compare_cell(pub, new, rtol=1e-3, atol=1e-6)}
    assert set(rows) == {"fvu", "l0", "mse", "dead"}  # numbers only; layer identifies the cell
    assert rows["fvu"]["within_tolerance"] and rows["l0"]["within_tolerance"]
    assert not rows["mse"]["within_tolerance"] and rows["mse"]["abs_diff"] == pytest.approx(0.2)
    assert rows["dead"]["within_tolerance"]  # NaN on both sides agrees
    (tmp_path / "p.json").write_text(json.dumps(pub | {"dead": None}))
    (tmp_path / "n.json").write_text(json.dumps(new | {"dead": None}))
    df = spot_check_table(
        [("m", "trained", 0)], [str(tmp_path / "p.json")], [str(tmp_path / "n.json")],
        1e-3, 1e-6, str(tmp_path / "t.csv"),
    )  # fmt: skip
    assert list(df["metric"]) == ["fvu", "l0", "mse"] and df["within_tolerance"].sum() == 2
    assert (tmp_path / "t.csv").read_text().startswith("model,init,layer,metric,published")


# ------------------------------------------------------------------ Neuronpedia export

# The request bodies of the neuronpedia package 1.2.1 (requests/feature_request.py upload_batch,
# source_set_request.py new, model_request.py new), field for field.
FEATURE_KEYS = {"index", "density", "activations", "explanations", "topLogits", "bottomLogits"}
ACTIVATION_KEYS = {"tokens", "values", "quantileMax", "quantileMin", "quantileFraction"}
EXPLANATION_KEYS = {"text", "methodName", "modelName"}


def _window(wid: int, q: int, acts: list[float]) -> dict:
    return {
        "window_id": wid,
        "tokens": [1, 2, 3],
        "text": ["a", "b", "c"],
        "acts": acts,
        "quantile": q,
    }


def test_neuronpedia_features_and_batches(tmp_path):
    examples = {
        "latents": [
            {
                "latent": lat,
                "explain": [_window(1, 0, [0, 5.0, 1]), _window(2, 1, [0, 1.0, 0])],
                "test_activating": [_window(3, 0, [4.0, 0, 0]), _window(4, 1, [0.5, 0, 0])],
                "test_nonactivating": [_window(5, None, [0, 0, 0])],
            }
            for lat in range(130)
        ]
    }
    feats = cell_features(examples, {0: "dogs"}, {0: 0.25}, n_quantiles=2, explainer="judge-1")
    f0 = feats[0]
    assert set(f0) == FEATURE_KEYS and f0["index"] == 0 and f0["density"] == 0.25
    assert [set(a) for a in f0["activations"]] == [ACTIVATION_KEYS] * 4  # no non-activating window
    qs = [(a["quantileMax"], a["quantileMin"], a["values"][:2]) for a in f0["activations"]]
    assert qs == [
        (5.0, 4.0, [0, 5.0]),
        (5.0, 4.0, [4.0, 0]),
        (1.0, 0.5, [0, 1.0]),
        (1.0, 0.5, [0.5, 0]),
    ]
    assert all(a["quantileFraction"] == 0.5 for a in f0["activations"])
    assert f0["explanations"] == [{"text": "dogs", "methodName": None, "modelName": "judge-1"}]
    assert set(f0["explanations"][0]) == EXPLANATION_KEYS and feats[1]["explanations"] == []

    cfg = smoke_config()
    cell_dir = tmp_path / "in"
    cell_dir.mkdir()
    (cell_dir / "ex.json").write_text(json.dumps(examples))
    (cell_dir / "expl.jsonl").write_text(json.dumps({"latent": 3, "explanation": "cats"}) + "\n")
    (cell_dir / "lat.csv").write_text("latent,n_active\n3,20\n")
    (cell_dir / "m.json").write_text(json.dumps({"n_tokens": 100}))
    inputs = {k: [str(cell_dir / f)] for k, f in
              [("examples", "ex.json"), ("explanations", "expl.jsonl"), ("latents", "lat.csv"), ("metrics", "m.json")]}  # fmt: skip
    models = models_from_dict(cfg["models"])
    n_quantiles = cfg["examples"]["n_quantiles"]
    cells = [("tiny-neox", "rerandomized_embeddings", 1)]
    index = export(cells, inputs, models, None, n_quantiles, None, tmp_path / "out")
    mid, name = "tiny-neox-rerandomized-embeddings", "randsae-rerandomized-embeddings"
    assert np_model_id("tiny-neox", None, "rerandomized_embeddings") == mid
    assert set_name("rerandomized_embeddings") == name
    assert np_model_id("p", "EleutherAI/pythia-70m-deduped", "trained") == "pythia-70m-deduped"
    assert index["batches"] == [
        f"features/{mid}/1-{name}/batch-0.json",
        f"features/{mid}/1-{name}/batch-1.json",
    ]
    b0 = json.loads((tmp_path / "out" / index["batches"][0]).read_text())
    b1 = json.loads((tmp_path / "out" / index["batches"][1]).read_text())
    assert set(b0) == {"modelId", "source", "features"} and b0["source"] == f"1-{name}"
    assert len(b0["features"]) == 128 and len(b1["features"]) == 2  # MAX_FEATURES_PER_BATCH
    assert (
        b0["features"][3]["density"] == 0.2
        and b0["features"][3]["explanations"][0]["text"] == "cats"
    )
    model = json.loads((tmp_path / "out" / index["models"][0]).read_text())
    assert model == {
        "id": mid,
        "layers": 2,
        "displayName": "tiny-neox (rerandomized_embeddings)",
        "url": None,
    }
    sset = json.loads((tmp_path / "out" / index["source_sets"][0]).read_text())
    assert set(sset) == {"name", "modelId", "description", "url"} and sset["name"] == name
