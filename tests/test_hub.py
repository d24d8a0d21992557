"""The loopback Hub (tests/fake_hub.py) against the real Hugging Face clients, and the package's
online paths through it: the RedPajama sample read without its loading script, and Pythia's
``step0`` loaded with and without ``HF_TOKEN``.

Client checks run in a fresh interpreter with ``HF_ENDPOINT`` and an empty ``HF_HOME`` (the
libraries read both once, at import), exactly as a user's process would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fake_hub import FakeHub, _parse_range, hub_time
from hub_content import DATA_FILES, DATASET_REPO, MODELS, build_hub, dataset_rows

ROOT = Path(__file__).resolve().parent.parent
M70 = "EleutherAI/pythia-70m-deduped"
HUB_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    commits = build_hub(root)
    return root, commits


@pytest.fixture(scope="module")
def hub(hub_root):
    srv = FakeHub(hub_root[0]).start()
    yield srv
    srv.stop()


def _req(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


# ------------------------------------------------------------------ the server over plain HTTP


def test_range_parser():
    assert _parse_range("bytes=0-9", 100) == (0, 9)
    assert _parse_range("bytes=90-", 100) == (90, 99)
    assert _parse_range("bytes=-10", 100) == (90, 99)
    assert _parse_range("bytes=95-200", 100) == (95, 99)
    assert _parse_range("bytes=100-", 100) is None
    assert _parse_range("bytes=5-2", 100) is None
    assert hub_time(0) == "1970-01-01T00:00:00.000Z"


def test_split_range_matches_datasets_slicing():
    from randsae.data.corpus import split_range

    assert split_range("train[:12%]", 406) == (0, 49)
    assert split_range("train[12%:20%]", 406) == (49, 81)
    assert split_range("train", 10) == (0, 10)
    assert split_range("train[5:7]", 10) == (5, 7)
    for bad in ("validation[:5%]", "train[:12%]+train[50%:]"):
        with pytest.raises(ValueError, match="data.hf_dataset: split"):
            split_range(bad, 100)


def test_hub_content_layout(hub_root):
    root, commits = hub_root
    ds = root / "datasets" / DATASET_REPO
    assert (ds / "RedPajama-Data-1T-Sample.py").exists()
    script = (ds / "RedPajama-Data-1T-Sample.py").read_text()
    # the script lists the jsonl files in DATA_FILES order
    assert [script.index(f'"{f}"') for f in DATA_FILES] == sorted(
        script.index(f'"{f}"') for f in DATA_FILES
    )
    rows = [json.loads(line) for f in DATA_FILES for line in (ds / f).read_text().splitlines()]
    assert rows == [r for rs in dataset_rows_from(ds).values() for r in rs]
    assert {r["meta"]["source"] for r in rows} == {
        f.removesuffix("_sample.jsonl") for f in DATA_FILES
    }
    for name, spec in MODELS.items():
        rotary = 0.25 * spec["d_model"] / spec["n_heads"]
        assert rotary == int(rotary) and int(rotary) % 2 == 0, (name, rotary)
        assert set(commits[name]) == {"main", "step0"}
        assert commits[name]["main"] != commits[name]["step0"]
        cfg = json.loads((root / "models" / name / "config.json").read_text())
        assert cfg["num_hidden_layers"] == spec["n_layers"] and cfg["use_parallel_residual"]
        assert cfg["rotary_pct"] == 0.25 and cfg["architectures"] == ["GPTNeoXForCausalLM"]


def dataset_rows_from(ds: Path) -> dict:
    return {f: [json.loads(x) for x in (ds / f).read_text().splitlines()] for f in DATA_FILES}


def test_dataset_rows_keep_corpus_order():
    docs = [{"id": str(i), "text": f"doc {i}"} for i in range(23)]
    rows = dataset_rows(docs)
    assert list(rows) == DATA_FILES
    flat = [r["text"] for f in DATA_FILES for r in rows[f]]
    assert flat == [d["text"] for d in docs]


def test_resolve_headers_range_and_404s(hub, hub_root):
    _root, commits = hub_root
    main = commits[M70]["main"]
    url = f"{hub.url}/{M70}/resolve/main/config.json"
    status, headers, body = _req(url, "HEAD")
    assert status == 200 and body == b""
    assert headers["X-Repo-Commit"] == main
    assert re.fullmatch(r'"[0-9a-f]{40}"', headers["ETag"])
    size = int(headers["Content-Length"])
    status, headers, full = _req(url)
    assert status == 200 and len(full) == size and json.loads(full)["hidden_size"] == 32
    status, headers, part = _req(url, headers={"Range": "bytes=10-19"})
    assert status == 206 and part == full[10:20]
    assert headers["Content-Range"] == f"bytes 10-19/{size}"
    status, _, tail = _req(url, headers={"Range": "bytes=-7"})
    assert status == 206 and tail == full[-7:]
    status, headers, _ = _req(url, headers={"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    # LFS-tracked weights: the sha256 is the ETag, as the Hub's X-Linked-Etag
    status, headers, _ = _req(f"{hub.url}/{M70}/resolve/step0/model.safetensors", "HEAD")
    assert status == 200 and headers["X-Repo-Commit"] == commits[M70]["step0"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', headers["X-Linked-Etag"])
    # 404s with the Hub's error codes (and the commit, for a missing entry)
    status, headers, _ = _req(f"{hub.url}/{M70}/resolve/main/nope.json", "HEAD")
    assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (
        404,
        "EntryNotFound",
        main,
    )
    status, headers, _ = _req(f"{hub.url}/{M70}/resolve/step999/config.json")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    status, headers, _ = _req(f"{hub.url}/EleutherAI/nope/resolve/main/config.json")
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    status, headers, _ = _req(f"{hub.url}/{DATASET_REPO}/resolve/main/README.md")
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")  # a dataset, not a model
    status, headers, body = _req(f"{hub.url}/datasets/{DATASET_REPO}/resolve/main/README.md")
    assert status == 200 and body.startswith(b"# RedPajama")


def test_api_info_tree_paths_info_refs(hub, hub_root):
    _root, commits = hub_root
    status, _, body = _req(f"{hub.url}/api/models/{M70}")
    info = json.loads(body)
    assert status == 200 and info["id"] == M70 and info["sha"] == commits[M70]["main"]
    assert HUB_TIME.match(info["lastModified"]) and HUB_TIME.match(info["createdAt"])
    assert {s["rfilename"] for s in info["siblings"]} >= {"config.json", "model.safetensors"}
    status, _, body = _req(f"{hub.url}/api/models/{M70}/revision/step0?blobs=true")
    info = json.loads(body)
    assert info["sha"] == commits[M70]["step0"]
    weights = next(s for s in info["siblings"] if s["rfilename"] == "model.safetensors")
    assert weights["size"] > 0 and len(weights["lfs"]["sha256"]) == 64
    status, _, body = _req(f"{hub.url}/api/datasets/{DATASET_REPO}/revision/main")
    assert json.loads(body)["sha"] == commits[DATASET_REPO]["main"]
    status, headers, _ = _req(f"{hub.url}/api/models/{M70}/revision/nope")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    status, _, body = _req(f"{hub.url}/api/datasets/{DATASET_REPO}/tree/main?recursive=false")
    tree = json.loads(body)
    assert {t["path"] for t in tree} == {
        "README.md",
        "RedPajama-Data-1T-Sample.py",
        *DATA_FILES,
    }
    assert all(t["type"] == "file" and len(t["oid"]) == 40 for t in tree)
    status, headers, _ = _req(f"{hub.url}/api/models/{M70}/tree/main/missing-dir")
    assert (status, headers["X-Error-Code"]) == (404, "EntryNotFound")
    form = b"paths=config.json&paths=missing.txt&expand=True"
    status, _, body = _req(
        f"{hub.url}/api/models/{M70}/paths-info/step0",
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    infos = json.loads(body)
    assert [i["path"] for i in infos] == ["config.json"]
    assert infos[0]["lastCommit"]["id"] == commits[M70]["step0"]
    status, _, body = _req(f"{hub.url}/api/models/{M70}/refs")
    refs = json.loads(body)
    assert {b["name"]: b["targetCommit"] for b in refs["branches"]} == commits[M70]
    assert hub.counts["unhandled"] == 0


# ------------------------------------------------------------------ the real clients


CLIENT_PROBE = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError,
    )
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    import datasets

    M70, DS, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = {}
    api = HfApi()
    out["model_sha"] = api.model_info(M70).sha
    out["model_sha_step0"] = api.model_info(M70, revision="step0").sha
    out["dataset_sha"] = api.dataset_info(DS).sha
    out["files"] = sorted(api.list_repo_files(M70))
    out["dataset_files"] = api.list_repo_files(DS, repo_type="dataset")
    path = hf_hub_download(M70, "config.json", revision="step0")
    out["download_in_cache"] = path.startswith(os.environ["HF_HOME"])
    errors = {}
    for key, kwargs in {
        "entry": dict(repo_id=M70, filename="nope.json"),
        "revision": dict(repo_id=M70, filename="config.json", revision="step7"),
        "repo": dict(repo_id="EleutherAI/nope", filename="config.json"),
    }.items():
        try:
            hf_hub_download(**kwargs)
            errors[key] = None
        except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError) as err:
            errors[key] = type(err).__name__
    out["errors"] = errors
    fs = HfFileSystem()
    with fs.open(f"datasets/{DS}/{files[0]}", "rb") as f:
        f.seek(5)
        out["range_read"] = f.read(20).decode()
    out["fs_ls"] = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"datasets/{DS}", detail=False))
    cfg = AutoConfig.from_pretrained(M70, revision="step0")
    out["config"] = [
        cfg.hidden_size, cfg.num_hidden_layers, cfg.rope_parameters["partial_rotary_factor"]
    ]
    tok = AutoTokenizer.from_pretrained(M70)
    out["eos"] = [tok.eos_token, tok.eos_token_id]
    m0 = AutoModelForCausalLM.from_pretrained(M70, revision="step0")
    m1 = AutoModelForCausalLM.from_pretrained(M70)
    out["weights_differ"] = not torch.equal(
        m0.gpt_neox.embed_in.weight, m1.gpt_neox.embed_in.weight
    )
    ds = datasets.load_dataset(
        "json", data_files=f"hf://datasets/{DS}@main/{files[0]}", split="train"
    )
    out["hf_json_rows"] = [len(ds), ds[0]["meta"]["source"]]
    try:
        datasets.load_dataset(DS, "plain_text", split="train")
        out["script_dataset"] = "loaded"
    except Exception as err:
        out["script_dataset"] = str(err)[:300]
    print("RESULT " + json.dumps(out))
    """
)


PACKAGE_PROBE = textwrap.dedent(
    """
    import json, sys
    import datasets
    import torch
    from randsae.data.corpus import hub_jsonl_rows
    from randsae.models.neox import load_pythia

    M70, DS, files, revision = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    out = {}
    step0 = load_pythia(M70, step0=True)
    trained = load_pythia(M70, step0=False, dtype="bfloat16")
    out["shape"] = [step0.cfg.n_layers, step0.cfg.d_model, step0.cfg.rotary_dim]
    out["parallel"] = step0.cfg.parallel_attn_mlp
    out["dtype"] = str(trained.W_E.dtype)
    out["step0_differs"] = not torch.equal(step0.W_E, trained.W_E.float())
    out["tokenizer_eos"] = step0.tokenizer.eos_token_id
    ids = step0.tokenizer("The history of the city", return_tensors="pt")["input_ids"]
    out["loss_finite"] = bool(torch.isfinite(trained(ids, return_type="loss")))
    rows = {}
    for split in ("train[:12%]", "train[12%:20%]"):
        rows[split] = [r["meta"]["id"] for r in hub_jsonl_rows(DS, files, split, revision)]
    out["rows"] = rows
    print("RESULT " + json.dumps(out))
    """
)


OFFLINE_PROBE = textwrap.dedent(
    """
    import json, sys
    from randsae.data.corpus import hub_jsonl_rows

    DS, files, revision = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    rows = {
        split: [r["meta"]["id"] for r in hub_jsonl_rows(DS, files, split, revision)]
        for split in ("train[:12%]", "train[12%:20%]")
    }
    print("RESULT " + json.dumps(rows))
    """
)


def _probe(script: str, hub: FakeHub | None, home: Path, token: str | None, *args: str) -> dict:
    """Run ``script`` in a fresh interpreter against ``hub`` (None: offline, nothing listening)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    if hub is None:
        env |= {"HF_HUB_OFFLINE": "1"}
    env |= {
        "HF_ENDPOINT": hub.url if hub is not None else "http://127.0.0.1:9",
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.slow
def test_real_clients_against_loopback_hub(hub, hub_root, tmp_path):
    """huggingface_hub, transformers and datasets, unpatched, through HF_ENDPOINT."""
    _root, commits = hub_root
    hub.reset_counts()
    out = _probe(
        CLIENT_PROBE, hub, tmp_path / "hf", None, M70, DATASET_REPO, json.dumps(DATA_FILES)
    )
    assert out["model_sha"] == commits[M70]["main"]
    assert out["model_sha_step0"] == commits[M70]["step0"]
    assert out["dataset_sha"] == commits[DATASET_REPO]["main"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(out["files"])
    assert set(out["dataset_files"]) >= set(DATA_FILES)
    assert out["download_in_cache"]
    assert out["errors"] == {
        "entry": "RemoteEntryNotFoundError",
        "revision": "RevisionNotFoundError",
        "repo": "RepositoryNotFoundError",
    }
    first = (hub_root[0] / "datasets" / DATASET_REPO / DATA_FILES[0]).read_bytes()
    assert out["range_read"] == first[5:25].decode()
    assert set(DATA_FILES) <= set(out["fs_ls"])
    assert out["config"] == [32, 2, 0.25]
    assert out["eos"] == ["<|endoftext|>", 0]
    assert out["weights_differ"]
    n_arxiv = len(first.decode().splitlines())
    assert out["hf_json_rows"] == [n_arxiv, "arxiv"]
    # the blocker the jsonl route exists for: datasets 5.x refuses the repo's loading script
    assert "script" in out["script_dataset"].lower(), out["script_dataset"]
    assert hub.counts["resolve_get"] > 0 and hub.counts["info"] > 0 and hub.counts["tree"] > 0
    assert hub.auth["Bearer"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("token", [None, "hf_dummy_token_for_loopback"], ids=["no-token", "token"])
def test_package_online_paths(hub, hub_root, tmp_path, token):
    """step-0 and trained Pythia through the package's loader, with HF_TOKEN unset and set, and
    the RedPajama slices read without the loading script (same rows as datasets' own slicing)."""
    import datasets

    root, commits = hub_root
    hub.reset_counts()
    out = _probe(
        PACKAGE_PROBE,
        hub,
        tmp_path / "hf",
        token,
        M70,
        DATASET_REPO,
        json.dumps(DATA_FILES),
        commits[DATASET_REPO]["main"],
    )
    assert out["shape"] == [2, 32, 2] and out["parallel"]
    assert out["dtype"] == "torch.bfloat16"
    assert out["step0_differs"]
    assert out["tokenizer_eos"] == 0 and out["loss_finite"]
    # reference: datasets' own json builder over the same files in the script's order
    local = [str(root / "datasets" / DATASET_REPO / f) for f in DATA_FILES]
    for split, ids in out["rows"].items():
        ref = datasets.load_dataset(
            "json", data_files=local, split=split, cache_dir=str(tmp_path / "ds")
        )
        assert ids == [r["meta"]["id"] for r in ref], split
        assert ids
    assert set(out["rows"]["train[:12%]"]).isdisjoint(out["rows"]["train[12%:20%]"])
    if token is None:
        # offline afterwards (no server reachable): the same rows from the HF cache
        offline = _probe(
            OFFLINE_PROBE,
            None,
            tmp_path / "hf",
            None,
            DATASET_REPO,
            json.dumps(DATA_FILES),
            commits[DATASET_REPO]["main"],
        )
        assert offline == out["rows"]
    if token is None:
        assert hub.auth["Bearer"] == 0 and hub.auth["none"] > 0
    else:
        assert hub.auth["Bearer"] > 0 and hub.auth["none"] <= 1
