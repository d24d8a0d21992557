"""The Claude backend through the DAG, against a hostile loopback fake of the API (real SDK,
Message Batches path), with its explain and score jobs running in parallel.

The fake refuses the explanation of some latents in every cell, loses the reply of some batch
creates (the batch is made), answers others with 529 (nothing is made), stamps every batch with
the same whole second and holds each batch until another job's batch runs beside it. The same
run has an OpenAI-compatible second judge (real ``openai`` SDK against its loopback fake) that
also simulates two latents per cell: judge_agreement.csv and the simulation rows come out of it.
One run (module fixture) serves both tests.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
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


class HostileCreates:
    """Create faults. The first create of the run gets a 529. A create whose batch would have the
    size of another batch (of another job, or of another stage) loses its reply: with frozen
    stamps that is the tie a closest-in-time guess gets wrong. Otherwise about one create in four
    loses its reply and one in six gets a 529. A request set whose creates failed twice in a row
    goes through (within max_retries)."""

    def __init__(self, fake, seed: int = 7):
        self.fake = fake
        self.rng = random.Random(seed)
        self.streak: collections.Counter = collections.Counter()
        self.lock = threading.Lock()

    def same_size_elsewhere(self, ids: set[str]) -> bool:
        batches = list(self.fake.batches.values())
        return any(
            len(b["items"]) == len(ids) and not ids & {it["custom_id"] for it in b["items"]}
            for b in batches
        )

    def __call__(self, body: dict) -> str | None:
        ids = {r["custom_id"] for r in body["requests"]}
        key = hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()
        with self.lock:
            r = self.rng.random()
            if not self.fake.counts["batch_create_fault_529"]:
                fault = "529"
            elif self.streak[key] >= 2:
                fault = None
            elif self.same_size_elsewhere(ids) or r < 0.25:
                fault = "lost"
            else:
                fault = "529" if r < 0.42 else None
            self.streak[key] = self.streak[key] + 1 if fault else 0
        return fault


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    from fake_anthropic import EXPLAIN_TOOL, FakeAnthropic, _user_text, fake_explanation_token
    from fake_openai import FakeOpenAI

    tmp_path = tmp_path_factory.mktemp("llm_dag")
    fake = FakeAnthropic(batch_polls_before_end=1).start()
    oai = FakeOpenAI().start()
    fake.behaviour = lambda body: (
        "refusal"
        if body["tools"][0]["name"] == EXPLAIN_TOOL
        and refused(fake_explanation_token(_user_text(body)))
        else None
    )
    t0 = float(int(time.time()))
    fake.clock = lambda: t0  # whole seconds, and all the same one: every same-size batch ties
    fake.whole_seconds = True
    fake.create_behaviour = HostileCreates(fake)
    fake.rendezvous = (2, 2.0)  # a batch runs beside another job's batch (or waits 2 s)
    fake.track_pids = True
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
            + ["results/tables/autointerp.csv", "results/tables/llm_cost.csv", "--cores", "4"]
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
    return work, cfg, fake, oai, proc


@pytest.mark.slow
def test_parallel_jobs_pay_once_and_cancel_only_their_own(hostile_run):
    """Lost create replies and 529s while same-size batches of parallel jobs tie on their
    stamps: no request body is billed twice, no job cancels a batch it did not create, and
    every billed item is a ledger line (and a call in llm_cost.csv)."""
    work, _, fake, _, _ = hostile_run
    assert fake.counts["batch_create_fault_lost"] > 0 and fake.counts["batch_create_fault_529"] > 0
    assert fake.job_overlap() >= 2  # the jobs did run side by side
    ledgers = sorted((work / "results/autointerp").glob("*/*/layer*/state/ledger.jsonl"))
    books = {
        "bodies paid twice": fake.paid_twice(),
        "batches cancelled by another process": fake.foreign_cancels(),
        "paid items": len(fake.paid_items()),
        "ledger lines": sum(len(p.read_text().splitlines()) for p in ledgers),
        "llm_cost.csv calls": int(pd.read_csv(work / "results/tables/llm_cost.csv")["calls"].sum()),
    }
    said = f"{books}"  # a string: pytest would shorten the dict
    assert books["bodies paid twice"] == 0, said
    assert books["batches cancelled by another process"] == [], said
    assert books["ledger lines"] == books["paid items"] == books["llm_cost.csv calls"] > 0, said


@pytest.mark.slow
def test_failed_explanations_through_the_dag(hostile_run):
    work, cfg, fake, oai, proc = hostile_run
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
