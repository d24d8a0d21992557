"""randsae.tables.manifest: decoding Snakemake's metadata, recovering wildcards, hashing artifacts.

The integration tests run a real two-rule Snakemake workflow (seconds) and read the metadata it
wrote; the manifest of the real smoke run is checked in tests/test_secrets.py's shared run.
"""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from dagtools import snakemake

from randsae.tables.manifest import (
    COLUMNS,
    decode_record_name,
    manifest_rows,
    match_wildcards,
    params_sha256,
    pattern_regex,
    read_manifest,
    read_snakemake_metadata,
    sha256_file,
    slurm_job_ids,
    verify_manifest,
    write_manifest,
)


def test_decode_record_name_inverts_snakemakes_split_encoding():
    path = (
        "results/saes/pythia-1.4b-deduped/rerandomized_embeddings/layer23/sae_weights.safetensors"
    )
    enc = base64.urlsafe_b64encode(path.encode()).decode()
    max_len = 17  # Snakemake splits at NAME_MAX - 1 characters and prefixes directories with '@'
    parts = [enc[i : i + max_len - 1] for i in range(0, len(enc), max_len - 1)]
    rel = Path(*["@" + p for p in parts[:-1]], parts[-1])
    assert len(parts) > 3
    assert decode_record_name(rel) == path
    assert decode_record_name(enc) == path


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        (
            "results/saes/{model}/{init}/layer{layer}/cfg.json",
            "results/saes/pythia-70m-deduped/step0/layer3/cfg.json",
            {"model": "pythia-70m-deduped", "init": "step0", "layer": "3"},
        ),
        (
            "results/metrics/{model}/{init}/layer{layer}_latents.csv",
            "results/metrics/tiny-neox/rerandomized-x0.5-uniform/layer12_latents.csv",
            {"model": "tiny-neox", "init": "rerandomized-x0.5-uniform", "layer": "12"},
        ),
        ("results/x/{a,\\d+}.txt", "results/x/17.txt", {"a": "17"}),
        ("results/x/{a,\\d+}.txt", "results/x/ab.txt", None),
        ("results/{a}/{a}.txt", "results/p/q.txt", None),
        ("results/{a}/{a}.txt", "results/p/p.txt", {"a": "p"}),
        ("results/tables/sae_metrics.csv", "results/tables/sae_metrics.csv", {}),
        (
            "results/saes/{model}/{init}/layer{layer}/cfg.json",
            "results/saes/m/i/layer3/x/cfg.json",
            None,
        ),
        ("results/x/{a,[a-z]{2}}.txt", "results/x/ab.txt", {"a": "ab"}),
    ],
)
def test_match_wildcards(pattern, path, expected):
    assert match_wildcards(path, [pattern]) == expected


def test_pattern_regex_escapes_literal_parts():
    assert pattern_regex("a.b/{x}.c").fullmatch("aXb/1.c") is None


def test_params_sha256_changes_with_params_only():
    a = {"rule": "r", "params": ["1", "{'k': 2}"], "starttime": 1.0}
    b = dict(a, starttime=2.0)
    c = dict(a, params=["1", "{'k': 3}"])
    assert params_sha256(a) == params_sha256(b) != params_sha256(c)
    assert params_sha256(None) == "" == params_sha256({"rule": "r"})


TOY_SNAKEFILE = textwrap.dedent("""
    rule all:
        input: expand("out/{sample}/x{n}.txt", sample=["s1", "s-2"], n=[1, 2]), "out/merged.txt"

    rule make:
        output: "out/{sample}/x{n}.txt"
        params: scale=config.get("scale", 1)
        shell: "echo {wildcards.sample} {wildcards.n} {params.scale} > {output}"

    rule merge:
        input: expand("out/{sample}/x{n}.txt", sample=["s1", "s-2"], n=[1, 2])
        output: "out/merged.txt"
        shell: "cat {input} > {output}"
""")


def run_toy(work: Path, *args: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "Snakefile").write_text(TOY_SNAKEFILE)
    proc = snakemake(
        None,
        "--cores",
        "1",
        "--workflow-profile",
        "none",
        *args,
        snakefile=None,
        cwd=work,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def toy_rows(work: Path):
    meta = read_snakemake_metadata(work / ".snakemake" / "metadata")
    patterns = {"make": ["out/{sample}/x{n}.txt"], "merge": ["out/merged.txt"]}
    paths = sorted(str(p.relative_to(work)) for p in (work / "out").rglob("*.txt"))
    return manifest_rows(
        paths, meta, patterns, git="abc123", packages={"torch": "2.13.0"}, root=work
    )


@pytest.mark.slow
def test_manifest_rows_from_a_real_snakemake_run(tmp_path):
    run_toy(tmp_path)
    rows = toy_rows(tmp_path)
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == 5
    assert by_path["out/s-2/x1.txt"]["rule"] == "make"
    assert by_path["out/s-2/x1.txt"]["wildcards"] == "n=1;sample=s-2"
    assert (
        by_path["out/merged.txt"]["rule"] == "merge"
        and by_path["out/merged.txt"]["wildcards"] == ""
    )
    assert by_path["out/s1/x2.txt"]["sha256"] == sha256_file(tmp_path / "out/s1/x2.txt")
    assert by_path["out/s1/x2.txt"]["size_bytes"] == len(b"s1 2 1\n")
    assert all(r["git_commit"] == "abc123" and r["git_from"] == "manifest" for r in rows)
    assert all(r["packages"] == "torch=2.13.0" and r["slurm_job"] == "" for r in rows)
    make_hashes = {by_path[p]["params_sha256"] for p in by_path if p != "out/merged.txt"}
    assert len(make_hashes) == 1 and "" not in make_hashes

    # a params change reruns `make` and changes its recorded params hash (not merge's)
    run_toy(tmp_path, "--config", "scale=2")
    rows2 = {r["path"]: r for r in toy_rows(tmp_path)}
    assert rows2["out/s1/x1.txt"]["params_sha256"] != by_path["out/s1/x1.txt"]["params_sha256"]
    assert rows2["out/s1/x1.txt"]["sha256"] != by_path["out/s1/x1.txt"]["sha256"]
    assert rows2["out/merged.txt"]["params_sha256"] == by_path["out/merged.txt"]["params_sha256"]


def test_write_read_verify_roundtrip(tmp_path):
    run_toy(tmp_path)
    rows = toy_rows(tmp_path)
    out = tmp_path / "results" / "manifest.tsv"
    write_manifest(rows, out)
    back = read_manifest(out)
    assert tuple(back[0]) == COLUMNS and len(back) == len(rows)
    assert [r["path"] for r in back] == sorted(r["path"] for r in rows)
    assert verify_manifest(out, root=tmp_path) == []
    (tmp_path / "out/s1/x1.txt").write_text("tampered\n")
    (tmp_path / "out/merged.txt").unlink()
    assert verify_manifest(out, root=tmp_path) == [
        "out/merged.txt: missing",
        "out/s1/x1.txt: changed",
    ]


def test_artifact_provenance_git_wins_and_missing_metadata_is_marked(tmp_path):
    (tmp_path / "sae").mkdir()
    (tmp_path / "sae" / "cfg.json").write_text("{}")
    (tmp_path / "sae" / "meta.json").write_text('{"git": "deadbee-dirty"}')
    rows = manifest_rows(["sae/cfg.json"], {}, {}, git="abc123", packages={}, root=tmp_path)
    assert rows[0]["git_commit"] == "deadbee-dirty" and rows[0]["git_from"] == "artifact"
    assert rows[0]["rule"] == "unknown" and rows[0]["params_sha256"] == ""
    with pytest.raises(FileNotFoundError):
        manifest_rows(["nope.txt"], {}, {}, git="x", packages={}, root=tmp_path)


def test_slurm_job_ids_from_plugin_logs(tmp_path):
    logs = tmp_path / "slurm_logs"
    for rel in (
        "rule_eval_sae/tiny-neox_step0_1/130.log",
        "rule_eval_sae/tiny-neox_step0_1/97.log",
        "rule_corpus/12.log",
        "rule_corpus/notes.txt",
    ):
        (logs / rel).parent.mkdir(parents=True, exist_ok=True)
        (logs / rel).write_text("")
    jobs = slurm_job_ids(logs)
    assert jobs == {("eval_sae", "tiny-neox_step0_1"): "130", ("corpus", ""): "12"}
    (tmp_path / "results/metrics/tiny-neox/step0").mkdir(parents=True)
    (tmp_path / "results/metrics/tiny-neox/step0/layer1.json").write_text("{}")
    meta = {
        "results/metrics/tiny-neox/step0/layer1.json": {
            "rule": "eval_sae",
            "params": [],
            "external_jobid": None,
        }
    }
    rows = manifest_rows(
        ["results/metrics/tiny-neox/step0/layer1.json"],
        meta,
        {"eval_sae": ["results/metrics/{model}/{init}/layer{layer}.json"]},
        git="g",
        packages={},
        root=tmp_path,
        slurm_jobs=jobs,
    )
    assert (
        rows[0]["slurm_job"] == "130"
        and rows[0]["wildcards"] == "init=step0;layer=1;model=tiny-neox"
    )
    assert slurm_job_ids(tmp_path / "nope") == {}


# -- the persistence backend: the manifest reads the file backend's records only -----------------


def test_other_persistence_backends_are_named_and_refused(tmp_path, monkeypatch):
    from randsae.tables.manifest import persistence_error
    from randsae.tables.steps import manifest

    assert persistence_error("file") is None
    err = persistence_error("db")
    assert "--persistence-backend db" in err and ".snakemake/metadata" in err
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(RuntimeError, match="--persistence-backend db"):
        manifest(["a.txt"], {}, "manifest.tsv", persistence="db")
    assert not (tmp_path / "manifest.tsv").exists()


@pytest.mark.slow
def test_db_backend_writes_no_metadata_files(tmp_path):
    """Why the manifest refuses the db backend: a real run under it leaves .snakemake/metadata
    empty (the records the manifest reads are in an SQL database instead)."""
    run_toy(tmp_path, "--persistence-backend", "db")
    meta = tmp_path / ".snakemake" / "metadata"
    assert not meta.is_dir() or not any(meta.rglob("*"))
    assert read_snakemake_metadata(meta) == {}
    run_toy(tmp_path / "file")
    assert read_snakemake_metadata(tmp_path / "file" / ".snakemake" / "metadata")


@pytest.mark.slow
def test_workflow_stops_before_any_job_under_the_db_backend(tmp_path):
    """The default target includes the manifest: with --persistence-backend db the run stops
    before its first job, naming the backend; without the manifest among the targets it would run."""
    from dagtools import SMOKE

    work = tmp_path / "w"
    proc = snakemake(
        work, "--cores", "1", "--persistence-backend", "db", "--configfile", str(SMOKE)
    )
    assert proc.returncode != 0
    assert "manifest.tsv cannot be built with --persistence-backend db" in proc.stderr + proc.stdout
    assert not (work / "results").exists()  # no job ran
