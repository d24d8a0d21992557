"""The paper grid (configs/paper.yaml) builds its full DAG offline, with the expected job counts.

Nothing is downloaded at DAG-build time (Pythia weights, RedPajama and the Anthropic API are only
touched by the jobs), so `snakemake -n` runs here. Expected counts are computed from the config
for both activation sources (`cache`: cache_activations + train_sae per layer; `stream`:
train_sae_group per layer group + link_sae per layer), so the test follows config edits.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from dagtools import job_stats, report_job_counts

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "configs" / "paper.yaml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def dry_run(workdir: Path, configfile: Path, *args: str) -> str:
    env = dict(os.environ, **OFFLINE)
    env.pop("ANTHROPIC_API_KEY", None)  # the DAG must not need the key
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(configfile),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    return proc.stdout + proc.stderr


def expected_jobs(cfg: dict) -> Counter:
    """Jobs per rule for a fresh run of `cfg`, derived from the config alone."""
    models = cfg["models"]
    n_inits = len(cfg["inits"])
    n_cells = n_inits * sum(len(m["layers"]) for m in models.values())
    embedded = [name for name, m in models.items() if m["source"] == "embedded"]
    default_group = cfg["sae"]["layer_group_size"]
    n_groups = n_inits * sum(
        math.ceil(len(m["layers"]) / m.get("layer_group_size", default_group))
        for m in models.values()
    )
    jobs = Counter(
        corpus=1,
        tokenizer=1 if embedded else 0,
        tokenize_corpus=len(models),
        init_model=len(embedded),
        train_model=len(embedded),
        build_init=len(models) * n_inits,
        eval_sae=n_cells,
        latent_examples=n_cells,
        explain=n_cells,
        score=n_cells,
        all=1,
    )
    jobs.update(report_job_counts(cfg))
    rules_text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    if re.search(r"^\s*rule latent_page:", rules_text, re.M):
        jobs["latent_page"] = sum(
            len(m["layers"]) for m in models.values()
        )  # one page per (model, layer)
    if "results/manifest.tsv" in (ROOT / "rules" / "common.smk").read_text():
        jobs["manifest"] = 1  # once the default target includes the manifest (rules/provenance.smk)
    if cfg["activations"]["source"] == "cache":
        jobs.update(cache_activations=len(models) * n_inits, train_sae=n_cells)
    else:
        jobs.update(train_sae_group=n_groups, link_sae=n_cells)
    return +jobs  # drop zero counts


def markdown_table(counts: Counter) -> str:
    rows = ["| rule | jobs |", "|---|---:|"]
    rows += [f"| `{rule}` | {n} |" for rule, n in counts.items()]
    rows.append(f"| **total** | **{sum(counts.values())}** |")
    return "\n".join(rows)


def test_expected_jobs_counts_the_paper_grid():
    # the numbers the paper grid stands for (paper.md §2): 7 Pythia models, 146 layers, 5 inits
    cfg = yaml.safe_load(PAPER.read_text())
    assert len(cfg["models"]) == 7 and sum(len(m["layers"]) for m in cfg["models"].values()) == 146
    jobs = expected_jobs(cfg)
    assert jobs["eval_sae"] == jobs["score"] == 730
    assert jobs["build_init"] == 35


@pytest.mark.parametrize("source", ["stream", "cache"])
def test_paper_grid_dry_run_job_counts(tmp_path, source):
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["activations"]["source"] = source  # the paper config streams; `cache` is the alternative
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = dry_run(tmp_path / "work", path)
    jobs = job_stats(out)
    expected = expected_jobs(cfg)
    # the toy-model experiments (rules/toy.smk, paper Section 4) have their own grid and tests
    toy_rules = set(re.findall(r"^rule (\w+):", (ROOT / "rules" / "toy.smk").read_text(), re.M))
    main = Counter({r: n for r, n in jobs.items() if r not in toy_rules})
    assert dict(main) == dict(expected), markdown_table(jobs)
    # nothing was fetched or written while building the DAG
    assert not (tmp_path / "work" / "results").exists()
    print(f"\npaper grid, activations.source={source}:\n{markdown_table(jobs)}")
