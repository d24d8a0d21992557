"""Secrets never leak into results, logs, Snakemake's metadata or the report.

The suite's one smoke run (``smoke_run`` in conftest.py: configs/smoke.yaml, default targets +
results/manifest.tsv, ANTHROPIC_API_KEY and HF_TOKEN set to distinctive fake values) is shared by
this module, tests/test_workflow.py and tests/test_slurm.py (its local reference run), so the
suite pays for it once. The report is built from a copy of it with `snakemake --report
report.zip` and checked to hold every figure and table with its caption.
"""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import pytest
import yaml
from dagtools import FAKE_SECRETS, SMOKE, TARGETS, copy_run, snakemake


def encodings(secret: str) -> list[bytes]:
    """The secret as raw bytes and as it would appear inside base64 text (3 alignments), e.g. in
    Snakemake's metadata or a self-contained report.html."""
    out = [secret.encode()]
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + secret.encode())
        core = enc[4 * ((shift + 2) // 3) :][: 4 * ((len(secret) - (3 - shift) % 3) // 3)]
        out.append(core.rstrip(b"="))
    return [e for e in out if len(e) >= 12]


def test_encodings_find_base64_embedded_secrets():
    secret = FAKE_SECRETS["HF_TOKEN"]
    for prefix in (b"", b"x", b"xy", b"xyz"):
        blob = base64.b64encode(prefix + secret.encode() + b"tail")
        assert any(e in blob for e in encodings(secret)), prefix


def leaks(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [
            f"{path}: {name}"
            for name, secret in FAKE_SECRETS.items()
            if any(e in data for e in encodings(secret))
        ]
    return found


def files_under(work: Path, *dirs: str) -> list[Path]:
    return [p for d in dirs for p in (work / d).rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def smoke(smoke_run):
    return smoke_run


@pytest.fixture(scope="module")
def report_zip(smoke_run, tmp_path_factory):
    work = copy_run(smoke_run, tmp_path_factory.mktemp("report") / "run")
    proc = snakemake(work, *TARGETS, "--report", "report.zip", "--configfile", str(SMOKE))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work / "report.zip"


@pytest.mark.slow
def test_no_secret_in_results_logs_metadata_or_report(smoke, report_zip, tmp_path):
    with zipfile.ZipFile(report_zip) as z:
        z.extractall(tmp_path / "report")
    files = files_under(smoke, "results", "logs", ".snakemake") + files_under(tmp_path, "report")
    files.append(report_zip)
    assert len(files) > 100, "the scan must cover the whole run"
    assert leaks(files) == []


def test_secret_scan_detects_a_planted_leak(tmp_path):
    # the scan itself works: a file with the key (plain or base64-embedded) is reported
    (tmp_path / "a.log").write_text(f"key={FAKE_SECRETS['ANTHROPIC_API_KEY']}\n")
    (tmp_path / "b.html").write_bytes(
        b"data:" + base64.b64encode(b"Z" + FAKE_SECRETS["HF_TOKEN"].encode())
    )
    assert len(leaks([tmp_path / "a.log", tmp_path / "b.html"])) == 2


@pytest.mark.slow
def test_report_holds_every_table_and_figure_with_a_caption(smoke, report_zip, tmp_path):
    from randsae.figures.targets import figure_targets

    cfg = yaml.safe_load(SMOKE.read_text())
    with zipfile.ZipFile(report_zip) as z:
        names = z.namelist()
        html = z.read("report/report.html").decode() if "report/report.html" in names else ""
    assert html, names[:20]
    figures = figure_targets(
        "results/figures",
        cfg["autointerp"]["scorers"],
        cfg["figures"]["formats"],
        any("-" in i for i in cfg["inits"]),
    )
    tables = [
        f"results/tables/{t}.csv"
        for t in (
            "sae_metrics",
            "autointerp",
            "abstractness",
            "density_histograms",
            "claims",
            "distinguishability",
        )
    ]
    expected = {Path(p).name for p in [*figures, *tables, "results/manifest.tsv"]}
    embedded = {Path(n).name for n in names if "/data/raw/" in n}
    assert expected <= embedded, sorted(expected - embedded)
    # captions were rendered: config named, and a per-figure sentence present
    assert "smoke.yaml" in html
    assert "Explained variance of the SAE reconstruction" in html
    assert "Control for the detection scorer" in html
    assert "every final artifact" in html.lower()


@pytest.mark.slow
def test_manifest_of_the_smoke_run(smoke):
    from randsae.tables.manifest import read_manifest, verify_manifest

    rows = {r["path"]: r for r in read_manifest(smoke / "results/manifest.tsv")}
    assert "results/tables/sae_metrics.csv" in rows and "results/manifest.tsv" not in rows
    weights = [r for p, r in rows.items() if p.endswith("sae_weights.safetensors")]
    cfg = yaml.safe_load(SMOKE.read_text())
    assert len(weights) == len(cfg["inits"]) * sum(len(m["layers"]) for m in cfg["models"].values())
    w = rows["results/saes/tiny-neox/step0/layer1/sae_weights.safetensors"]
    assert w["rule"] in {"train_sae", "link_sae"}
    assert w["wildcards"] == "init=step0;layer=1;model=tiny-neox"
    assert len(w["params_sha256"]) == 64 and "torch=" in w["packages"]
    assert all(r["rule"] != "unknown" and len(r["sha256"]) == 64 for r in rows.values())
    assert all(r["git_commit"] not in ("", "unknown") for r in rows.values())
    assert rows["results/tables/sae_metrics.csv"]["rule"] == "tables"
    assert verify_manifest(smoke / "results/manifest.tsv", root=smoke) == []


# -- a judge's key is checked before any job starts ---------------------------------------------


def test_missing_judge_keys_reads_the_environment_only():
    from randsae.secrets import missing_judge_keys

    judges = ("anthropic", "openai")  # autointerp.backend, autointerp.second_judge
    assert missing_judge_keys(judges, {}) == ["ANTHROPIC_API_KEY"]
    assert missing_judge_keys(judges, {"ANTHROPIC_API_KEY": "k"}) == []
    assert missing_judge_keys(judges, {"ANTHROPIC_AUTH_TOKEN": "t"}) == []
    assert missing_judge_keys(("lexical", "anthropic"), {}) == ["ANTHROPIC_API_KEY"]
    # OpenAI-compatible endpoints get a placeholder key (vLLM accepts any): never missing
    assert missing_judge_keys(("openai", None), {}) == []
    assert missing_judge_keys(("lexical", None), {}) == []


def test_judge_key_error_only_while_cells_lack_scores(tmp_path, monkeypatch):
    from randsae.secrets import judge_key_error
    from randsae.sections import check_config

    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["autointerp"]["backend"] = "anthropic"
    run = check_config(cfg)
    monkeypatch.chdir(tmp_path)
    err = judge_key_error(run, {})
    n_cells = len(cfg["inits"]) * sum(len(m["layers"]) for m in cfg["models"].values())
    assert err and "ANTHROPIC_API_KEY" in err and f"{n_cells} cells" in err
    assert judge_key_error(run, {"ANTHROPIC_API_KEY": "k"}) is None
    for m, mcfg in cfg["models"].items():  # a finished run re-renders figures without the key
        for init in cfg["inits"]:
            for layer in mcfg["layers"]:
                p = tmp_path / f"results/autointerp/{m}/{init}/layer{layer}/scores.json"
                p.parent.mkdir(parents=True)
                p.write_text("{}")
    assert judge_key_error(run, {}) is None


@pytest.mark.slow
def test_run_without_the_judge_key_stops_before_any_job(tmp_path):
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["autointerp"]["backend"] = "anthropic"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(
        tmp_path,
        "--cores",
        "1",
        "--configfile",
        str(tmp_path / "c.yaml"),
        env_drop=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "needs ANTHROPIC_API_KEY in the environment" in out or "need ANTHROPIC_API_KEY" in out
    assert not (tmp_path / "results").exists(), "no job may start"
    # a dry run plans the DAG without the key (reviewers inspect the grid first)
    dry = snakemake(
        tmp_path,
        "-n",
        "--configfile",
        str(tmp_path / "c.yaml"),
        env_drop=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
        timeout=600,
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
