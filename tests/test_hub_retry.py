"""Transient Hub faults (randsae/hub.py) and the loopback Hub's write side (tests/fake_hub.py).

The retry policy and the retrying client are checked in-process on httpx2's MockTransport (no
network, waits recorded instead of slept). The real clients (huggingface_hub's downloads, repo
info, create_repo, upload_file, the LFS and commit endpoints, and randsae's publish of a small
run) then meet the loopback Hub in a fresh interpreter with one injected 503 on each kind of
call, as a user's process would (``HF_ENDPOINT`` and ``HF_HOME`` are read once, at import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx2
import pytest
from fake_hub import FakeHub
from hub_writes import commit, create_repo, git_blob_id

from randsae.hub import RetryPolicy, _client_class, failures_since, parse_retry_after
from randsae.publish.upload import git_blob_id as package_blob_id

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ policy and client, in-process


def test_retry_policy_waits():
    p = RetryPolicy(retries=5, backoff_s=1.0, max_wait_s=10.0)
    assert [p.wait(r, jitter=1.0) for r in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert p.wait(0, jitter=0.5) == 0.5
    assert p.wait(3, retry_after="2") == 2.0  # the server's word beats the backoff
    assert p.wait(0, retry_after="120") == 10.0  # ... up to the cap
    assert 0.5 <= p.wait(0) <= 1.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    env = {
        "RANDSAE_HUB_RETRIES": "2",
        "RANDSAE_HUB_BACKOFF_S": "0.5",
        "RANDSAE_HUB_MAX_WAIT_S": "3",
    }
    assert RetryPolicy.from_env(env) == RetryPolicy(2, 0.5, 3.0)
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(retries=-1)


def _client(answers: list, policy: RetryPolicy):
    """A retrying client whose transport answers from ``answers`` (status, headers) or raises."""
    seen: list[str] = []

    def handler(request):
        seen.append(f"{request.method} {request.url.path}")
        status, headers = answers.pop(0)
        if status == "drop":
            raise httpx2.ConnectError("connection refused", request=request)
        return httpx2.Response(status, headers=headers, content=b"{}")

    client = _client_class()(transport=httpx2.MockTransport(handler))
    client.policy = policy
    waits: list[float] = []
    client.sleep = waits.append
    return client, seen, waits


def test_retrying_client_retries_5xx_and_connection_errors_honouring_retry_after():
    answers = [(503, {"Retry-After": "7"}), ("drop", {}), (502, {}), (200, {})]
    client, seen, waits = _client(answers, RetryPolicy(retries=5, backoff_s=0.25, max_wait_s=30))
    assert client.get("http://hub.test/api/datasets/a/b").status_code == 200
    assert len(seen) == 4 and waits[0] == 7.0
    assert 0.25 <= waits[1] <= 0.5 and 0.5 <= waits[2] <= 1.0  # backoff * 2**retry, jittered
    # a 4xx is an answer, not a fault
    client, seen, waits = _client([(404, {})], RetryPolicy())
    assert client.get("http://hub.test/x").status_code == 404 and waits == []


def test_retrying_client_gives_up_and_records_the_url():
    from randsae.hub import _mark

    mark = _mark()
    client, seen, waits = _client([(503, {})] * 3, RetryPolicy(retries=2, backoff_s=0.0))
    assert client.get("http://hub.test/api/models/a/b").status_code == 503
    assert len(seen) == 3
    (failure,) = failures_since(mark)
    assert failure.url == "http://hub.test/api/models/a/b" and failure.reason == "HTTP 503"
    assert failure.attempts == 3
    client, seen, _ = _client([("drop", {})] * 2, RetryPolicy(retries=1, backoff_s=0.0))
    with pytest.raises(httpx2.ConnectError):
        client.get("http://hub.test/resolve")
    assert len(seen) == 2


def test_retrying_client_leaves_streamed_bodies_to_the_caller():
    """A body that cannot be sent twice (an LFS upload from a file) is not retried here:
    huggingface_hub's own backoff rewinds the file and retries it."""
    client, seen, _ = _client([(503, {}), (200, {})], RetryPolicy(retries=3, backoff_s=0.0))
    resp = client.put("http://hub.test/lfs", content=iter([b"abc"]))
    assert resp.status_code == 503 and len(seen) == 1


def test_git_blob_ids_agree_with_git(tmp_path):
    data = b"hello\nworld\n"
    (tmp_path / "f").write_bytes(data)
    out = subprocess.run(
        ["git", "hash-object", str(tmp_path / "f")], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert package_blob_id(data) == git_blob_id(data) == out


# ------------------------------------------------------------------ the real clients, loopback Hub

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from huggingface_hub import HfApi, hf_hub_download, create_repo
    from randsae.hub import HubUnavailableError, hub_call
    from randsae.publish.runcheck import PublishError
    from randsae.publish.upload import publish_run
    from randsae.sections import check_config

    cfg, run = json.loads(sys.argv[1]), Path(sys.argv[2])
    out = {}
    api = HfApi()
    with hub_call("probe"):
        out["dataset_sha"] = api.dataset_info("org/ds").sha
        out["file"] = Path(hf_hub_download("org/ds", "a.txt", repo_type="dataset")).read_text()
        create_repo("org/up", exist_ok=True)
        api.create_branch("org/up", branch="v1", exist_ok=True)
        api.upload_file(path_or_fileobj=b"w" * 600, path_in_repo="w.safetensors", repo_id="org/up")
        out["tree"] = sorted(f.path for f in api.list_repo_tree("org/up", recursive=True))
    os.chdir(run)
    try:  # the Hub fails every attempt of the first commit: publishing stops, nothing is lost
        publish_run(check_config(cfg), "results/manifest.tsv", ["results/a.txt"])
    except HubUnavailableError as err:
        out["interrupted"] = str(err)
    out["first"] = publish_run(check_config(cfg), "results/manifest.tsv", ["results/a.txt"])["sent"]
    out["second"] = publish_run(check_config(cfg), "results/manifest.tsv", ["results/a.txt"])["sent"]
    cfg["publish"] |= {"repo": "org/absent", "create": False}
    try:
        publish_run(check_config(cfg), "results/manifest.tsv", ["results/a.txt"])
    except PublishError as err:
        out["absent"] = str(err)
    try:
        with hub_call("read org/never-answers"):
            api.model_info("org/never-answers")
    except HubUnavailableError as err:
        out["exhausted"] = str(err)
    print("RESULT " + json.dumps(out))
    """
)


def small_run(root: Path) -> Path:
    """A finished run of two files and its manifest (rows as randsae.tables.manifest writes)."""
    from randsae.io import sha256_file
    from randsae.tables.manifest import COLUMNS, write_manifest

    run = root / "run"
    (run / "results").mkdir(parents=True)
    (run / "results/a.txt").write_text("alpha\n")
    (run / "results/b.safetensors").write_bytes(b"\0" * 700)
    rows = []
    for rel in ("results/a.txt", "results/b.safetensors"):
        row = dict.fromkeys(COLUMNS, "")
        row |= {"path": rel, "size_bytes": (run / rel).stat().st_size}
        row |= {"sha256": sha256_file(run / rel), "rule": "x", "git_commit": "abc123"}
        rows.append(row)
    write_manifest(rows, run / "results/manifest.tsv")
    return run


@pytest.mark.slow  # a fresh interpreter importing huggingface_hub: ~3 s
def test_real_clients_survive_one_503_on_every_kind_of_call(tmp_path):
    import yaml

    root = tmp_path / "hub"
    ds = root / "datasets/org/ds"
    create_repo(ds)
    commit(ds, "main", {"a.txt": b"alpha"}, [], "add a")
    # an earlier, interrupted publish already sent results/a.txt
    pub = root / "models/org/pub"
    create_repo(pub)
    commit(pub, "main", {"results/a.txt": b"alpha\n"}, [], "upload a")
    hub = FakeHub(root).start()
    try:
        routes = (
            "info", "resolve_get", "create_repo", "branch", "preupload", "lfs_batch",
            "lfs_upload", "commit", "tree", "refs",
        )  # fmt: skip
        for route in routes:
            hub.inject(route)
        cfg = yaml.safe_load((ROOT / "configs/smoke.yaml").read_text())
        cfg["publish"] |= {"repo": "org/pub", "create": False, "private": False}
        run = small_run(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
        env |= {
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_TOKEN": "hf_probe_token_0123456789",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "RANDSAE_HUB_RETRIES": "2",
            "RANDSAE_HUB_BACKOFF_S": "0.01",
            "PYTHONPATH": str(ROOT),
        }
        hub.inject("info", times=3, match="org/never-answers")  # more than 2 retries
        hub.inject("commit", times=3, match="org/pub/commit")
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(cfg), str(run)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
    finally:
        hub.stop()
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[7:])
    assert hub.faults_served == dict.fromkeys(routes, 1) | {"info": 4, "commit": 4}
    assert out["file"] == "alpha" and out["tree"] == [".gitattributes", "w.safetensors"]
    assert "/api/models/org/pub/commit/main" in out["interrupted"]
    # resumed: the file the repo holds is not sent again (1 result + config, manifest, card)
    assert out["first"] == 4 and out["second"] == 0
    assert "org/absent does not exist" in out["absent"] and "publish.create" in out["absent"]
    assert "GET " + f"{hub.url}/api/models/org/never-answers" in out["exhausted"]
    assert "HTTP 503" in out["exhausted"]
    assert "3 attempts" in out["exhausted"] and "Run the same command again" in out["exhausted"]
    assert "hf_probe_token" not in proc.stdout + proc.stderr
