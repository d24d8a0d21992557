"""The README is a front door (at most 200 lines, the authors' code cited, every document it
points to present) and docs/results.md holds claims tables as benchmarks/claims_summary.py
writes them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from randsae.tables.verdicts import VERDICTS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SUMMARY = ROOT / "benchmarks" / "claims_summary.py"


def test_readme_is_a_front_door():
    assert len(README.splitlines()) <= 200
    for repo in ("ThomasHeap/random_sae", "ThomasHeap/sae", "tim-lawson/superposition"):
        assert f"https://github.com/{repo}" in README, repo
    # the two commands of a fresh machine come first
    first = README.index("```bash")
    assert "pip install -r requirements.txt && snakemake --cores all" in README[first:][:200]
    assert "\npytest" in README[first:][:300]


def test_every_linked_document_exists():
    for path in re.findall(r"\]\((docs/[^)#]+)\)", README):
        assert (ROOT / path).is_file(), path
    for path in ("docs/results.md", "docs/testing.md"):
        assert (ROOT / path).is_file(), path


def _blocks(text: str) -> dict[str, str]:
    return dict(re.findall(r"<!-- claims: (.+?) -->\n(.*?)<!-- claims: end -->", text, re.S))


def test_results_blocks_agree_with_their_tables():
    """Each generated block's count line equals the verdicts of its own table, and names its run."""
    blocks = _blocks((ROOT / "docs" / "results.md").read_text())
    assert "config.yaml (embedded default)" in blocks
    for title, block in blocks.items():
        assert block.startswith(f"### {title}\n"), title
        assert re.search(r"^From commit `[0-9a-f]{7}`", block, re.M), title
        rows = [r for r in block.splitlines() if r.startswith("| ") and not r.startswith("| claim")]
        verdicts = [r.rstrip(" |").rsplit("| ", 1)[1] for r in rows]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS) + "."
        assert counts in block, (title, counts)


def _run(tmp_path: Path, claims: pd.DataFrame) -> Path:
    run = tmp_path / "run"
    (run / "results" / "tables").mkdir(parents=True)
    claims.to_csv(run / "results" / "tables" / "claims.csv", index=False)
    subprocess.run(["git", "init", "-q", str(run)], check=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "-C", str(run), *env, "commit", "-q", "--allow-empty", "-m", "x"])
    log = run / ".snakemake" / "log"
    log.mkdir(parents=True)
    (log / "2026-01-01T000000.000000.snakemake.log").write_text(
        "12 of 12 steps (100%) done\nElapsed time: 0:07:41.123\n"
    )
    return run


def test_claims_summary_writes_its_block_in_place(tmp_path, paper_claims):
    run = _run(tmp_path, paper_claims)
    doc = tmp_path / "results.md"
    title = "config.yaml (embedded default)"
    doc.write_text(f"# R\n\nintro\n\n<!-- claims: {title} -->\nold\n<!-- claims: end -->\n\ntail\n")
    cmd = [sys.executable, str(SUMMARY), str(run), "--title", title, "--write", str(doc)]
    subprocess.run(cmd, check=True)
    text = doc.read_text()
    assert (
        text.startswith("# R\n\nintro\n\n")
        and text.endswith("\n\ntail\n")
        and "\nold\n" not in text
    )
    block = _blocks(text)[title]
    assert re.search(r"From commit `[0-9a-f]{7}`, 12 jobs, 0:07:41 elapsed", block)
    assert block.count("\n| ") == len(paper_claims) + 1
    subprocess.run(cmd, check=True)  # idempotent
    assert doc.read_text() == text
    # a title without its markers is an error, never a second table
    bad = subprocess.run([*cmd[:4], "no such title", *cmd[5:]], capture_output=True, text=True)
    assert bad.returncode != 0 and "no block" in bad.stderr
    assert doc.read_text() == text


@pytest.fixture
def paper_claims():
    rows = [
        ("1a-detection", "m", "s", "pooled", 0.1, 0.05, 0.2, VERDICTS[0]),
        ("2b", "m", "s", "pooled", -0.1, -0.2, -0.05, VERDICTS[1]),
        ("6b", "m", "s", "per-latent", 0.0, -0.1, 0.1, VERDICTS[2]),
        ("8a", "toy", "s", "pooled", float("nan"), float("nan"), float("nan"), VERDICTS[3]),
    ]
    cols = ["sub", "model", "statistic", "stat_kind", "value", "ci_low", "ci_high", "verdict"]
    df = pd.DataFrame(rows, columns=cols)
    df["value_per_latent"] = df["ci_low_per_latent"] = df["ci_high_per_latent"] = float("nan")
    return df
