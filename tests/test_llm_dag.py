"""Failed explanations through the DAG: Claude backend (real SDK, Message Batches path) against
the loopback fake, which refuses the explanation of some latents in every cell. The same run
has an OpenAI-compatible second judge (real ``openai`` SDK against its loopback fake) that also
simulates two latents per cell: judge_agreement.csv and the simulation rows come out of it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke.yaml"
SECRET = "sk-ant-test-SECRET-dag-failures-77"


def refused(token: str) -> bool:
    """The fake refuses to explain a latent whose top token hashes to 0 mod 3 (deterministic)."""
    return hashlib.sha256(token.encode()).digest()[0] % 3 == 0


@pytest.mark.slow
def test_failed_explanations_through_the_dag(tmp_path):
    from fake_anthropic import EXPLAIN_TOOL, FakeAnthropic, _user_text, fake_explanation_token
    from fake_openai import FakeOpenAI

    fake = FakeAnthropic(batch_polls_before_end=1).start()
    oai = FakeOpenAI().start()
    fake.behaviour = lambda body: (
        "refusal"
        if body["tools"][0]["name"] == EXPLAIN_TOOL
        and refused(fake_explanation_token(_user_text(body)))
        else None
    )
    try:
        cfg = yaml.safe_load(SMOKE.read_text())
        cfg["inits"] = ["step0"]  # two cells (layers 0 and 1), no model training: a short run
        cfg["toy"]["enabled"] = False
        cfg["autointerp"]["backend"] = "anthropic"
        cfg["autointerp"]["max_failure_rate"] = None  # warn only: the run must finish
        cfg["autointerp"]["second_judge"] = "openai"
        cfg["autointerp"]["simulation"] = {"n_latents": 2}
        cfg["autointerp"]["openai"].update(base_url=oai.url, model="llama-test")
        cfg["autointerp"]["anthropic"].update(
            base_url=fake.url, execution="batch", poll_interval_s=0.05, max_parse_retries=1
        )
        cfg_path = tmp_path / "cfg.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        work = tmp_path / "work"
        env = dict(
            os.environ,
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            OMP_NUM_THREADS="1",
            ANTHROPIC_API_KEY=SECRET,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
            + ["results/tables/autointerp.csv", "--cores", "1"]
            + ["--configfile", str(cfg_path)],
            capture_output=True,
            text=True,
            timeout=1200,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr[-5000:]
    finally:
        fake.stop()
        oai.stop()

    n_windows_per_latent = (
        cfg["examples"]["n_test_activating"] + cfg["examples"]["n_test_nonactivating"]
    )
    ai = pd.read_csv(work / "results/tables/autointerp.csv")
    assert "n_failed_explanations" in ai.columns
    total_failed = 0
    for cell_dir in sorted((work / "results/autointerp").glob("*/*/layer*")):
        model, init, layer = cell_dir.parts[-3], cell_dir.parts[-2], int(cell_dir.name[5:])
        expl = [json.loads(x) for x in (cell_dir / "explanations.jsonl").read_text().splitlines()]
        failed = {e["latent"] for e in expl if e["parse_failed"] or e["error"]}
        assert all("refusal" in e["error"] for e in expl if e["latent"] in failed)
        total_failed += len(failed)
        cell = ai[(ai["model"] == model) & (ai["init"] == init) & (ai["layer"] == layer)]
        assert (cell["n_failed_explanations"] == len(failed)).all()
        rows = cell[cell["scorer"] != "simulation"]
        assert set(rows["scorer"]) == {
            "detection",
            "fuzzing",
            "detection_random_explanation",
            "fuzzing_random_explanation",
        }
        assert (rows["n_failed_explanations"] == len(failed)).all(), (cell_dir, rows)
        scored = len(expl) - len(failed)
        assert (rows["n_latents"] == scored).all()
        assert (rows["n_windows"] == scored * n_windows_per_latent).all()  # their windows: absent
        preds = [json.loads(x) for x in (cell_dir / "predictions.jsonl").read_text().splitlines()]
        assert not failed & {p["latent"] for p in preds}
        log = (work / f"logs/score/{model}/{init}/layer{layer}.log").read_text()
        if failed:
            assert f"explanations: {len(failed)} of {len(expl)} failed" in log
    # the injected failures happened, and each one is counted exactly once
    assert total_failed == len(fake.refused_explanations) > 0
    assert total_failed == int(
        ai.drop_duplicates(["model", "init", "layer"])["n_failed_explanations"].sum()
    )
    assert "LLM failures" in proc.stderr  # on the console too

    # the second judge scored the same scored latents; simulation rows in autointerp.csv
    agree = pd.read_csv(work / "results/tables/judge_agreement.csv")
    assert len(agree) == 2 * len(ai.drop_duplicates(["model", "init", "layer"]))
    assert set(agree["judge_a"]) == {"anthropic"} and set(agree["judge_b"]) == {"openai"}
    scored = ai[ai["scorer"] == "detection"].set_index(["model", "init", "layer"])["n_latents"]
    for _, row in agree.iterrows():
        assert row["n_latents"] == scored[(row["model"], row["init"], row["layer"])]
    sim = ai[ai["scorer"] == "simulation"]
    assert len(sim) == len(scored) and (sim["n_latents"] + sim["n_failed"] == 2).all()
    assert sim["simulation_correlation"].notna().all()
    assert oai.counts["chat_ok"] > 0 and fake.counts["batch_create"] > 0
