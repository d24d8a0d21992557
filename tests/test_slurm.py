"""Cluster execution on a REAL SLURM cluster (cluster/slurm-up.sh) with profiles/slurm-local.

`configs/smoke.yaml` runs through `--executor slurm` in a temp dir; the test then checks that the
jobs really went through SLURM (slurmctld's job-completion log, JobCompType=jobcomp/filetxt, plus
each job's `--comment rule_<rule>_wildcards_<...>` and the plugin's per-job logs) and that the
tables equal a local `--cores 2` run's exactly (same code, seeds and thread counts -> bit-identical
CPU results; see test body). Skips when no cluster answers. `.ci/run` brings the cluster up around
pytest. Set RANDSAE_SLURM_TIMING=<file> to get the run's wall time written there.

The profile checks at the bottom need no cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagtools import DETERMINISTIC, FAKE_SECRETS, ROOT, SMOKE, TARGETS, job_stats, snakemake
from test_secrets import files_under, leaks

LOCAL_PROFILE = ROOT / "profiles" / "slurm-local"
CLUSTER_PROFILE = ROOT / "profiles" / "slurm" / "profile.yaml"
GPU_RULES = (
    "build_init",
    "cache_activations",
    "train_sae",
    "train_sae_group",
    "eval_group",
)


def cluster_problem() -> str | None:
    """Why no usable SLURM cluster is here, or None."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client tools (sinfo/sbatch) not installed; run cluster/slurm-up.sh"
    if not Path("/etc/slurm/slurm.conf").is_file():
        return "no /etc/slurm/slurm.conf; start the local cluster with cluster/slurm-up.sh"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering"
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(
        s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states
    ):
        return f"no usable SLURM node (sinfo rc={proc.returncode}: {proc.stdout.strip()} {proc.stderr.strip()})"
    return None


def slurm_config() -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
    ).stdout
    return dict(re.findall(r"^(\w+)\s+=\s+(.*?)\s*$", out, flags=re.M))


def jobcomp_records(path: Path, offset: int) -> list[dict[str, str]]:
    """Records appended to the jobcomp/filetxt log after byte `offset` (one `Key=Value ...` line per job)."""
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode()
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)
    conf = slurm_config()
    if conf.get("JobCompType") != "jobcomp/filetxt":
        pytest.fail(
            f"cluster must log job completions (JobCompType=jobcomp/filetxt), has {conf.get('JobCompType')}"
        )
    jobcomp = Path(conf["JobCompLoc"])
    offset = jobcomp.stat().st_size if jobcomp.exists() else 0
    work = tmp_path_factory.mktemp("smoke_slurm")
    profile = ["--workflow-profile", str(LOCAL_PROFILE), *DETERMINISTIC, "--configfile", str(SMOKE)]
    dry = snakemake(work, *TARGETS, "-n", *profile)
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = job_stats(dry.stdout + dry.stderr)
    start = time.monotonic()
    proc = snakemake(work, *TARGETS, *profile)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-8000:]
    if os.environ.get("RANDSAE_SLURM_TIMING"):
        Path(os.environ["RANDSAE_SLURM_TIMING"]).write_text(f"{wall:.0f}\n")
    time.sleep(1)  # slurmctld appends to the jobcomp log when it records the last completion
    records = [r for r in jobcomp_records(jobcomp, offset) if r.get("WorkDir") == str(work)]
    return {"work": work, "planned": planned, "records": records, "log": proc.stderr, "wall": wall}


def local_rules() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    return {"all"} | {
        name
        for block in re.findall(r"^localrules:\n((?:\s+\w+,?\n)+)", text, re.M)
        for name in re.findall(r"\w+", block)
    }


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_ran_through_slurm(slurm_run):
    planned, records, work = slurm_run["planned"], slurm_run["records"], slurm_run["work"]
    local = local_rules()
    remote = Counter({rule: n for rule, n in planned.items() if rule not in local})
    assert sum(remote.values()) >= 40 and ("train_sae" in remote or "train_sae_group" in remote), (
        planned
    )
    # slurmctld's own record: one COMPLETED job per planned non-local job, in our work dir
    states = Counter(r["JobState"] for r in records)
    assert states["COMPLETED"] == sum(remote.values()), (states, remote)
    # which rule each SLURM job ran: the plugin's per-job log .snakemake/slurm_logs/rule_<rule>/.../<jobid>.log
    job_rule = {
        p.stem: p.relative_to(work / ".snakemake/slurm_logs").parts[0].removeprefix("rule_")
        for p in (work / ".snakemake/slurm_logs").rglob("*.log")
    }
    completed = [r["JobId"] for r in records if r["JobState"] == "COMPLETED"]
    assert Counter(job_rule[j] for j in completed) == remote
    # and slurmctld's view of the job comments (kept for MinJobAge after completion)
    squeue = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%k"], capture_output=True, text=True, timeout=30
    ).stdout
    comments = dict(line.split("|", 1) for line in squeue.splitlines() if "|" in line)
    for jobid in completed:
        assert comments[jobid].startswith(f"rule_{job_rule[jobid]}"), (jobid, comments.get(jobid))
    # the workflow's own record of where each output came from
    manifest = pd.read_csv(
        work / "results/manifest.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    remote_rows = manifest[~manifest["rule"].isin(local)]
    assert len(remote_rows) > 0 and (remote_rows["slurm_job"] != "").all(), remote_rows[
        ["rule", "slurm_job"]
    ]
    assert set(remote_rows["slurm_job"]) <= set(completed)
    assert (manifest[manifest["rule"].isin(local)]["slurm_job"] == "").all()
    print(
        f"\nSLURM smoke run: {slurm_run['wall']:.0f} s wall, {len(completed)} SLURM jobs {dict(remote)}"
    )


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_results_equal_local_results(slurm_run, smoke_run):
    """Bit-identical, not approximately equal: each job is seeded from config (stable sha256
    seeds) and runs single-threaded torch in both modes (torch.set_num_threads(smk.threads) via
    randsae.runner.run; train_model forced to 1 thread, see DETERMINISTIC) on the same CPU, so
    every float operation happens in the same order. Only the executor differs. (With train_model
    at its 2 threads, even two local runs differ at ~1e-8 and everything downstream of `trained`
    at up to ~5e-4 in ce_loss_score.)"""
    local = smoke_run
    for table in ("sae_metrics", "autointerp", "abstractness", "density_histograms"):
        a = pd.read_csv(local / f"results/tables/{table}.csv")
        b = pd.read_csv(slurm_run["work"] / f"results/tables/{table}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)
    ma = pd.read_csv(local / "results/manifest.tsv", sep="\t").set_index("path")
    mb = pd.read_csv(slurm_run["work"] / "results/manifest.tsv", sep="\t").set_index("path")
    assert list(ma.index) == list(mb.index)
    same = ma["sha256"] == mb["sha256"]
    weights = ma.index.str.endswith("sae_weights.safetensors")
    assert same[weights].all(), list(ma.index[weights & ~same])


@pytest.mark.slurm
@pytest.mark.slow
def test_no_secret_in_slurm_run(slurm_run):
    files = files_under(slurm_run["work"], "results", "logs", ".snakemake")
    assert any("slurm_logs" in str(p) for p in files)
    assert leaks(files) == []
    assert not any(s in slurm_run["log"] for s in FAKE_SECRETS.values())


# ------------------------------------------------------------------ profiles (no cluster needed)


def test_cluster_profile_holds_only_site_settings():
    """Threads, memory, runtime and GPUs are the rules' (tests/test_policy.py); the profiles add
    the executor, retries, status command and partition/account from the environment."""
    prof = yaml.safe_load(CLUSTER_PROFILE.read_text())
    assert prof["executor"] == "slurm" and int(prof["jobs"]) > 0 and int(prof["retries"]) >= 1
    assert prof["slurm-status-command"] in ("sacct", "squeue")
    assert "$RANDSAE_SLURM_PARTITION" in prof["default-resources"]["slurm_partition"]
    assert "$RANDSAE_SLURM_ACCOUNT" in prof["default-resources"]["slurm_account"]
    local = yaml.safe_load((LOCAL_PROFILE / "profile.yaml").read_text())
    assert local["slurm-status-command"] == "squeue"  # the test cluster has no accounting
    for p in (prof, local):
        assert "set-resources" not in p
        assert set(p["default-resources"]) <= {"slurm_partition", "slurm_account"}


def _dry_run_resources(tmp_path, *args: str, env: dict | None = None) -> dict[str, str]:
    proc = snakemake(
        tmp_path,
        "-n",
        "--workflow-profile",
        str(CLUSTER_PROFILE.parent),
        "--configfile",
        str(SMOKE),
        *args,
        env_extra=env or {},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = re.findall(
        r"^rule (\w+):.*?^\s+resources: (.*?)$", proc.stdout + proc.stderr, flags=re.M | re.S
    )
    assert jobs
    return {rule: res for rule, res in jobs if rule != "all"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "env, partition, account",
    [
        ({}, "", ""),
        (
            {"RANDSAE_SLURM_PARTITION": "gpu-a100", "RANDSAE_SLURM_ACCOUNT": "proj42"},
            "gpu-a100",
            "proj42",
        ),
    ],
)
def test_cluster_profile_resources_in_a_dry_run(tmp_path, monkeypatch, env, partition, account):
    """Snakemake itself evaluates the profile and the rules' resources: partition/account from
    the environment (empty -> the cluster's default partition, no -A), memory and runtime from the
    rules, no GPU with device cpu."""
    for var in ("RANDSAE_SLURM_PARTITION", "RANDSAE_SLURM_ACCOUNT"):
        if var not in env:
            monkeypatch.delenv(var, raising=False)
    for rule, res in _dry_run_resources(tmp_path, env=env).items():
        assert f"slurm_partition={partition}," in res and f"slurm_account={account}" in res, (
            rule,
            res,
        )
        assert re.search(r"mem_mb=\d+", res) and re.search(r"runtime=\d+", res), (rule, res)
        assert "gpu=1" not in res, (rule, res)


@pytest.mark.slow
def test_gpu_rules_ask_for_a_gpu_when_the_device_is_not_cpu(tmp_path):
    jobs = _dry_run_resources(tmp_path, "--config", "device=cuda")
    for rule, res in jobs.items():
        assert ("gpu=1" in res) == (rule in GPU_RULES), (rule, res)


#: The Snakemake release from which a profile directory's file of each name is read (before
#: 9.19 only ``config.yaml``; 9.19 added ``profile.yaml``).
PROFILE_FILE_SINCE = {"config.yaml": (7, 0), "profile.yaml": (9, 19)}


def test_every_profile_is_read_by_the_snakemake_the_snakefile_requires():
    """The Snakefile's min_version admits no Snakemake that would skip a profile's file name."""
    m = re.search(r'min_version\("([\d.]+)"\)', (ROOT / "Snakefile").read_text())
    required = tuple(int(x) for x in m.group(1).split("."))
    names = {p.name for p in (ROOT / "profiles").glob("*/*.yaml")}
    assert names and names <= set(PROFILE_FILE_SINCE), names
    for name in names:
        assert PROFILE_FILE_SINCE[name] <= required, (name, required)


def test_the_default_profile_is_read(monkeypatch):
    """Snakemake's own command-line parser, run in the repository as `snakemake` is, picks up
    profiles/default: its settings are the arguments' values though none is on the command line."""
    from snakemake.cli import parse_args

    monkeypatch.chdir(ROOT)
    prof = yaml.safe_load((ROOT / "profiles" / "default" / "profile.yaml").read_text())
    keys = ("printshellcmds", "show_failed_logs", "rerun_incomplete")
    assert prof["cores"] == "all" and all(prof[k.replace("_", "-")] is True for k in keys)
    _parser, args = parse_args(["--dry-run"])
    _parser, bare = parse_args(["--dry-run", "--workflow-profile", "none"])
    assert isinstance(args.cores, int) and args.cores >= 1 and bare.cores is None  # "all"
    assert all(getattr(args, k) is True for k in keys)
    assert not any(getattr(bare, k) for k in keys)  # the values come from the profile
