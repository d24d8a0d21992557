"""benchmarks/rule_times.py: per-rule breakdown from benchmark files. Run: pytest tests/test_rule_times.py"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from randsae.tables.rule_times import read_benchmarks, rule_table, wall_span

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(run, rel, s, rss, cpu, end):
    p = run / "benchmarks" / "runs" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(HEADER + f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    os.utime(p, (end, end))


def test_rule_table_and_wall_span(tmp_path):
    _bench(tmp_path, "eval_sae/m/trained/layer0.tsv", 10.0, 300.0, 9.0, 1000.0)
    _bench(tmp_path, "eval_sae/m/trained/layer1.tsv", 12.0, 320.0, 11.0, 1005.0)
    _bench(tmp_path, "tables.tsv", 2.0, 100.0, 1.5, 1010.0)
    jobs = read_benchmarks(tmp_path)
    assert sorted(jobs["rule"]) == ["eval_sae", "eval_sae", "tables"]
    t = rule_table(jobs).set_index("rule")
    assert t.loc["eval_sae", "jobs"] == 2 and t.loc["eval_sae", "total_s"] == 22.0
    assert t.loc["eval_sae", "max_s"] == 12.0 and t.loc["eval_sae", "cpu_s"] == 20.0
    assert t.loc["eval_sae", "max_rss_mb"] == 320.0
    assert t["share"].sum() == pytest.approx(1.0) and list(t.index) == ["eval_sae", "tables"]
    assert wall_span(jobs) == pytest.approx(1010.0 - 990.0)  # first start 1000-10


def test_script_prints_the_breakdown(tmp_path):
    _bench(tmp_path, "train_model/m.tsv", 5.0, 200.0, 4.0, 2000.0)
    out = tmp_path / "t.csv"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "rule_times.py"),
            str(tmp_path),
            "--csv",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train_model" in proc.stdout and "wall span 5.0 s" in proc.stdout
    assert pd.read_csv(out)["rule"].tolist() == ["train_model"]
    with pytest.raises(ValueError, match="no benchmark files"):
        read_benchmarks(tmp_path / "empty")
