"""The paper grid (configs/paper.yaml) builds its full DAG offline, with the expected job counts.

Nothing is downloaded at DAG-build time (Pythia weights, RedPajama and the Anthropic API are only
touched by the jobs), so `snakemake -n` runs here. Expected counts are computed from the config
for both activation sources (`cache`: cache_activations + train_sae per layer; `stream`:
train_sae_group per layer group + link_sae per layer), so the test follows config edits.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from dagtools import ROOT, job_stats, report_job_counts, snakemake

PAPER = ROOT / "configs" / "paper.yaml"


def dry_run(workdir: Path, configfile: Path, *args: str) -> str:
    proc = snakemake(
        workdir,
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(configfile),
        *args,
        timeout=600,
        env_drop=("ANTHROPIC_API_KEY",),  # the DAG must not need the key
    )
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
        eval_key=n_cells,
        eval_group=len(models) * n_inits,
        eval_sae=n_cells,
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
    # v2's grid (shared notes paper-v2.md): Pythia 70m, 160m, 410m, 1b, 6.9b; every layer of the
    # three smallest, every 2nd of 1b, every 4th of 6.9b: 58 layers x 5 inits = 290 cells
    cfg = yaml.safe_load(PAPER.read_text())
    layers = {name.split("-")[1]: m["layers"] for name, m in cfg["models"].items()}
    assert layers == {
        "70m": list(range(6)),
        "160m": list(range(12)),
        "410m": list(range(24)),
        "1b": list(range(0, 16, 2)),
        "6.9b": list(range(0, 32, 4)),
    }
    assert all(m["hf_name"].endswith("-deduped") for m in cfg["models"].values())
    assert len(cfg["inits"]) == 5 and sum(len(v) for v in layers.values()) == 58
    jobs = expected_jobs(cfg)
    assert jobs["eval_sae"] == jobs["score"] == 290
    assert jobs["build_init"] == 25


def test_paper_protocol_is_the_authors():
    cfg = yaml.safe_load(PAPER.read_text())
    ex, ai = cfg["examples"], cfg["autointerp"]
    assert (ex["n_latents"], ex["n_explain"], ex["n_test_activating"]) == (100, 40, 100)
    assert ex["n_test_nonactivating"] == 100 and ex["window"] == 32
    assert ai["anthropic"]["windows_per_prompt"] == 5
    assert cfg["sae"]["batch_size"] == 65536 and cfg["sae"]["micro_batch_size"] == 8192


def test_paper_budget_covers_the_random_explanation_controls():
    from randsae.autointerp.llm.claude import calls_per_latent

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from autointerp_budget import estimate

    cfg = yaml.safe_load(PAPER.read_text())
    per = estimate(cfg, n_latents=2)
    assert per["calls_per_latent"] == calls_per_latent(200, 5, n_scorers=4) == 161
    assert per["calls_per_latent_without_controls"] == 81
    upper_cell = per["upper_usd_per_latent"] * cfg["examples"]["n_latents"]
    assert cfg["autointerp"]["anthropic"]["budget_usd"] >= upper_cell


def test_extra_sizes_config_differs_from_paper_in_models_only():
    paper = yaml.safe_load(PAPER.read_text())
    extra = yaml.safe_load((ROOT / "configs" / "paper-extra-sizes.yaml").read_text())
    # the toy part (its embeddings sweep reads paper.yaml's models) runs with paper.yaml
    assert extra["toy"] == {**paper["toy"], "enabled": False}
    assert {k: v for k, v in extra.items() if k not in ("models", "toy")} == {
        k: v for k, v in paper.items() if k not in ("models", "toy")
    }
    assert [m["hf_name"] for m in extra["models"].values()] == [
        "EleutherAI/pythia-1.4b-deduped",
        "EleutherAI/pythia-2.8b-deduped",
    ]
    assert [len(m["layers"]) for m in extra["models"].values()] == [24, 32]
    assert not set(extra["models"]) & set(paper["models"])


@pytest.mark.slow  # a dry run of the whole paper grid: a DAG of thousands of jobs
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
