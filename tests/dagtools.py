"""Helpers shared by the workflow tests (not a test module): the one snakemake runner.

Every test that runs Snakemake goes through :func:`snakemake` (offline Hub, fake secrets in the
environment so that leak checks see them). The end-to-end tests share ONE smoke run
(``smoke_run`` in conftest.py, made once per session); tests that change it work on a copy
(``smoke_copy``, :func:`copy_run`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke.yaml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
FAKE_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-FAKE-d3adb33f-c0ffee-SECRET-7f1e",
    "HF_TOKEN": "hf_FAKEt0kenNEVERtoBEwrittenQz9x",
}
TARGETS = ("all", "results/manifest.tsv")  # positional: pass them before --configfile (nargs="+")
# train_model runs 2 torch threads; multi-threaded CPU training is not bit-reproducible run to run
# (measured: two 2-thread runs differ at ~1e-8, 1-thread runs are identical), so the runs compared
# across executors use one thread everywhere.
DETERMINISTIC = ("--set-threads", "train_model=1")


def snakemake(
    workdir: Path | None,
    *args: str,
    timeout: int = 3000,
    env_extra: dict[str, str] | None = None,
    env_drop: tuple[str, ...] = (),
    snakefile: Path | None = ROOT / "Snakefile",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake`` (``-s snakefile -d workdir`` when given) and capture output."""
    env = {**os.environ, **OFFLINE, **FAKE_SECRETS, **(env_extra or {})}
    for key in env_drop:
        env.pop(key, None)
    cmd = [sys.executable, "-m", "snakemake"]
    if snakefile is not None:
        cmd += ["-s", str(snakefile)]
    if workdir is not None:
        cmd += ["-d", str(workdir)]
    cmd += list(args)
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd or ROOT
    )


def job_stats(text: str) -> Counter:
    """Job counts per rule from the first 'Job stats' table of snakemake's output (empty if none)."""
    if "Job stats:" not in text:
        return Counter()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts: Counter = Counter()
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def planned_jobs(proc: subprocess.CompletedProcess) -> Counter:
    """Job counts per rule from a dry run's 'Job stats' table."""
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return Counter()
    return job_stats(text)


def copy_run(src: Path, dst: Path) -> Path:
    """A copy of a finished run (results, logs, Snakemake metadata; mtimes kept) to change freely."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return dst


def rule_blocks() -> dict[str, dict[str, str]]:
    """Each rule of the workflow (Snakefile + rules/*.smk) as ``{directive: text}``, from the
    snakefmt-formatted sources: a rule's directives are the lines indented one level below it."""
    out: dict[str, dict[str, str]] = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)rule (\w+):\s*$", line)
            if not m:
                continue
            indent = len(m.group(1))
            block: dict[str, list[str]] = {}
            current = None
            for body in lines[i + 1 :]:
                if body.strip() and len(body) - len(body.lstrip()) <= indent:
                    break
                d = re.match(rf"^\s{{{indent + 4}}}(\w+):\s*(.*)$", body)
                if d:
                    current = d.group(1)
                    block[current] = [d.group(2)] if d.group(2) else []
                elif current and body.strip():
                    block[current].append(body.strip())
            out[m.group(2)] = {k: "\n".join(v) for k, v in block.items()} | {"file": path.name}
    return out


def script_target(rule: str, block: dict[str, str]) -> str:
    """``randsae.<package>.<module>.<function>`` that a rule's script runs through runner.run."""
    script = ROOT / "rules" / block["script"].strip('"')
    text = script.resolve().read_text()
    imports = dict(
        (alias, f"randsae.{pkg}.{alias}")
        for pkg, alias in re.findall(r"^from randsae\.(\w+) import (\w+)$", text, re.M)
    )
    m = re.search(r"run(?:_light)?\(\s*(\w+)\.(\w+),", text)
    assert m and m.group(1) in imports, (rule, script)
    return f"{imports[m.group(1)]}.{m.group(2)}"


def first_output(block: dict[str, str]) -> str:
    out = block.get("output", "")
    if "SAE_FILES" in out:
        return "results/saes/{model}/{init}/layer{layer}/ (SAE_FILES)"
    if "figure_targets" in out:
        return "results/figures/*.{pdf,png,csv} (figure_targets)"
    if "FETCHED" in out:
        return "results/... (run_results: the per-cell results a published run holds)"
    if not out:
        return "(no output: uploads the run to the Hub)"
    m = re.search(r'"((?:results|benchmarks)/[^"]+)"', out)
    assert m, block
    return m.group(1)


def house_table() -> str:
    """The rule file -> rule -> stage function -> first output table of docs/architecture.md."""
    lines = [
        "| rule file | rule | stage function (`scripts/<rule>.py` → `runner.run`) | writes |",
        "|---|---|---|---|",
    ]
    for rule, block in sorted(rule_blocks().items(), key=lambda kv: (kv[1]["file"], kv[0])):
        if "script" not in block:
            continue
        lines.append(
            f"| `{block['file']}` | `{rule}` | `{script_target(rule, block)}` "
            f"| `{first_output(block)}` |"
        )
    return "\n".join(lines)


def report_job_counts(cfg: dict) -> Counter:
    """Jobs of the report rules (tables and one rule per figure family) for a fresh run."""
    from randsae.autointerp.measures import ROC_SCORERS

    models, scorers = cfg["models"], cfg["autointerp"]["scorers"]
    jobs = Counter(
        tables=1,
        claims=1,
        latent_table=1,
        compute_table=1,
        app_j_examples=1,
        plot_sae_metrics=1,
        plot_density_histograms=1,
        plot_abstractness=1,
        plot_autointerp_auroc=1,
        plot_init_sweep=int(any("-" in i for i in cfg["inits"])),
        plot_roc_curves=len(models) * int(bool(set(scorers) & set(ROC_SCORERS))),
        plot_entropy_vs_auroc=len(models) * int("fuzzing" in scorers),
        plot_fig2_grid=1,
    )
    return +jobs
