"""LLM engine: SQLite cache, retries, budget cap, batches (re-attach, resubmit), ledger, secrets."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_anthropic import FAKE_KEY, fake_backend, hot_records, make_items, wait_until

from randsae.autointerp.llm import (
    LEDGER_COLUMNS,
    AnthropicSettings,
    BudgetExceededError,
    CostLedger,
    ResponseCache,
    aggregate_costs,
    cost_usd,
    read_ledger,
    request_key,
)
from randsae.autointerp.llm.claude import AnthropicBackend

TESTS_DIR = Path(__file__).resolve().parent
backend = fake_backend
recs = hot_records


# ----------------------------------------------------------------------------------------------
# Response cache
# ----------------------------------------------------------------------------------------------


def _writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(path, busy_timeout_ms=30_000)
    for i in range(n):
        params = {"model": "m", "messages": [{"role": "user", "content": f"w{worker}-{i}"}]}
        cache.put(request_key(params), params, {"id": f"msg_{worker}_{i}", "worker": worker})
        cache.get(request_key(params))
    cache.close()


def test_cache_concurrent_writers_from_several_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 240
    params = {"model": "m", "messages": [{"role": "user", "content": "w3-59"}]}
    assert cache.get(request_key(params)) == {"id": "msg_3_59", "worker": 3}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


def test_request_key_covers_model_and_full_request():
    a = {"model": "m1", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    assert request_key(a) == request_key(dict(reversed(list(a.items()))))  # canonical JSON
    assert request_key(a) != request_key({**a, "model": "m2"})
    assert request_key(a) != request_key({**a, "max_tokens": 11})


# ----------------------------------------------------------------------------------------------
# Retries and failures (real-time path)
# ----------------------------------------------------------------------------------------------


def test_rate_limit_and_overload_are_retried_by_the_sdk(fake, tmp_path):
    fake.script(["429", "529", "ok"])
    with backend(fake, tmp_path) as b:
        out = b.explain(recs(1))
    assert out[1]["explanation"] == 'The token "zebra".' and out[1]["error"] is None
    assert fake.counts["messages"] == 3 and fake.counts["messages_ok"] == 1


def test_server_errors_bounded_and_reported(fake, tmp_path):
    fake.behaviour = lambda body: "500"
    with backend(fake, tmp_path, max_retries=2) as b:
        out = b.explain(recs(2))
    assert fake.counts["messages"] == 2 * 3  # (1 + max_retries) attempts per request, no more
    for row in out.values():
        assert row["explanation"] == "" and not row["parse_failed"]
        assert "InternalServerError 500" in row["error"]
    assert read_ledger(tmp_path / "ledger.jsonl") == []  # nothing billed
    assert len(ResponseCache(tmp_path / "cache" / "llm.sqlite")) == 0  # errors are not cached


def test_timeout_is_retried(fake, tmp_path):
    fake.timeout_sleep_s = 1.5
    fake.script(["timeout"])
    with backend(fake, tmp_path, timeout_s=0.4) as b:
        out = b.explain(recs(1))
    assert out[1]["error"] is None and out[1]["explanation"]
    assert fake.counts["messages"] == 2


def test_malformed_http_body_is_retried_a_bounded_number_of_times(fake, tmp_path):
    fake.script(["bad_json"])
    with backend(fake, tmp_path) as b:
        assert b.explain(recs(1))[1]["error"] is None
    assert fake.counts["messages"] == 2
    fake.behaviour = lambda body: "bad_json"
    with backend(fake, tmp_path / "again", max_retries=1) as b:
        row = b.explain(recs(2)[1:])[2]
    assert "malformed response body" in row["error"]
    assert fake.counts["messages"] == 2 + 2


# ----------------------------------------------------------------------------------------------
# Budget cap
# ----------------------------------------------------------------------------------------------


def test_budget_cap_stops_before_any_call(fake, tmp_path):
    with (
        backend(fake, tmp_path, budget_usd=1e-6) as b,
        pytest.raises(BudgetExceededError, match="budget_usd"),
    ):
        b.explain(recs(2))
    assert fake.counts["messages"] == 0
    assert read_ledger(tmp_path / "ledger.jsonl") == []


@pytest.mark.parametrize("execution", ["realtime", "batch"])
def test_budget_cap_keeps_partial_results_and_resumes(fake, tmp_path, execution):
    records = recs(3)
    with backend(fake, tmp_path, execution=execution, max_tokens=400) as b:
        one = b.estimate(records[:1])["estimated_usd_upper"]
    budget = 1.2 * one
    with (
        backend(fake, tmp_path, execution=execution, max_tokens=400, budget_usd=budget) as b,
        pytest.raises(BudgetExceededError) as info,
    ):
        b.explain(records)
    ledger = read_ledger(tmp_path / "ledger.jsonl")
    spent = sum(r["usd"] for r in ledger)
    assert 1 <= len(ledger) < 3 and spent <= budget  # stopped before exceeding
    partial = info.value.partial
    assert {k for k, v in partial.items() if v["explanation"]} == {
        lat for r in ledger for lat in r["latents"]
    }
    calls_before = fake.counts["messages"] + fake.counts["batch_items"]
    with backend(fake, tmp_path, execution=execution, max_tokens=400, budget_usd=10.0) as b:
        out = b.explain(records)
    assert all(v["explanation"] for v in out.values())
    new_calls = fake.counts["messages"] + fake.counts["batch_items"] - calls_before
    assert new_calls == 3 - len(ledger)  # paid results were not paid again


# ----------------------------------------------------------------------------------------------
# Message Batches
# ----------------------------------------------------------------------------------------------


def test_batch_resubmits_only_errored_and_expired_items(fake, tmp_path):
    fake.fail_batch_items(["errored", "expired"])
    with backend(fake, tmp_path, execution="batch") as b:
        out = b.explain(recs(3))
    assert all(v["explanation"] and v["error"] is None for v in out.values())
    assert fake.counts["batch_create"] == 2
    sizes = [len(body["requests"]) for kind, body in fake.bodies if kind == "batch"]
    assert sizes == [3, 2]
    state = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())
    assert [len(r["custom_ids"]) for r in state["batches"]] == [3, 2]
    assert all(r["collected"] for r in state["batches"])


def test_batch_item_failures_are_bounded_and_reported(fake, tmp_path):
    fake.fail_batch_items(["errored"] * 10)
    with backend(fake, tmp_path, execution="batch", max_batch_resubmits=1) as b:
        row = b.explain(recs(1))[1]
    assert fake.counts["batch_create"] == 2
    assert row["explanation"] == "" and "batch item errored" in row["error"]


CRASHING_JOB = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from randsae.autointerp.llm.claude import AnthropicBackend
    tmp = sys.argv[2]
    records = json.load(open(tmp + "/records.json"))
    b = AnthropicBackend({"execution": "batch", "poll_interval_s": 0.05},
                         cache_path=tmp + "/cache/llm.sqlite", state_dir=tmp + "/state",
                         ledger_path=tmp + "/ledger.jsonl",
                         cell={"model": "tiny-neox", "init": "trained", "layer": 2})
    b.explain(records)  # blocks polling: the fake holds the batch in_progress
""")


def test_killed_batch_job_reattaches_instead_of_paying_twice(fake, tmp_path):
    records = recs(3)
    (tmp_path / "records.json").write_text(json.dumps(records))
    fake.hold_batches.set()
    env = {**os.environ, "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": FAKE_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_JOB, str(TESTS_DIR.parent), str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        state = tmp_path / "state" / "anthropic_batches.json"
        assert wait_until(lambda: state.exists() and fake.counts["batch_retrieve"] >= 1, 30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert fake.counts["batch_create"] == 1
    persisted = json.loads(state.read_text())["batches"]
    assert len(persisted) == 1 and not persisted[0]["collected"]
    fake.hold_batches.clear()  # the batch finishes while no job is running
    with backend(fake, tmp_path, execution="batch") as b:
        out = b.explain(records)
    assert fake.counts["batch_create"] == 1  # re-attached, no second batch for the same requests
    assert fake.counts["batch_results"] == 1
    assert {k: v["explanation"] for k, v in out.items()} == {
        1: 'The token "zebra".',
        2: 'The token "quartz".',
        4: 'The token "violin".',
    }
    assert json.loads(state.read_text())["batches"][0]["collected"]


def test_batch_rerun_makes_zero_calls(fake, tmp_path):
    records = recs(2)
    with backend(fake, tmp_path, execution="batch") as b:
        expl = b.explain(records)
        b.score(
            "detection",
            {
                r["latent"]: (expl[r["latent"]]["explanation"], make_items(r, "detection"))
                for r in records
            },
        )
    before = sum(fake.counts.values())
    with backend(fake, tmp_path, execution="batch") as b:
        expl2 = b.explain(records)
        b.score(
            "detection",
            {
                r["latent"]: (expl2[r["latent"]]["explanation"], make_items(r, "detection"))
                for r in records
            },
        )
    assert sum(fake.counts.values()) == before  # not a single HTTP request


# ----------------------------------------------------------------------------------------------
# Ledger, costs, settings, secrets
# ----------------------------------------------------------------------------------------------


def test_cost_arithmetic():
    price = {
        "input": 1.0,
        "output": 5.0,
        "cache_write": 1.25,
        "cache_write_1h": 2.0,
        "cache_read": 0.1,
    }
    u = {
        "input_tokens": 10**6,
        "output_tokens": 10**6,
        "cache_creation_input_tokens": 10**6,
        "cache_read_input_tokens": 10**6,
    }
    assert cost_usd(u, price, batch=False) == pytest.approx(7.35)
    assert cost_usd(u, price, batch=True) == pytest.approx(3.675)
    u1h = {
        **u,
        "cache_creation": {"ephemeral_1h_input_tokens": 10**6, "ephemeral_5m_input_tokens": 0},
    }
    assert cost_usd(u1h, price, batch=False) == pytest.approx(8.1)


def test_aggregate_costs_table(tmp_path):
    a = CostLedger(tmp_path / "a.jsonl", {"model": "m", "init": "trained", "layer": 0})
    b = CostLedger(tmp_path / "b.jsonl", {"model": "m", "init": "step0", "layer": 0})
    for lat in (1, 1, 2):
        a.record(
            stage="explain",
            llm_model="x",
            execution="batch",
            custom_id="c",
            latents=[lat],
            usage={
                "input_tokens": 100,
                "output_tokens": 10,
                "cache_read_input_tokens": 50,
                "cache_creation_input_tokens": 5,
            },
            usd=0.25,
        )
    b.record(
        stage="detection",
        llm_model="x",
        execution="realtime",
        custom_id="c",
        latents=[7],
        usage={"input_tokens": 1, "output_tokens": 1},
        usd=0.5,
    )
    df = aggregate_costs([tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "missing.jsonl"])
    assert list(df.columns) == LEDGER_COLUMNS
    row = df[df["init"] == "trained"].iloc[0]
    assert (
        row["calls"],
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_creation_tokens"],
    ) == (3, 300, 150, 15)
    assert row["usd"] == pytest.approx(0.75) and row["calls_per_latent"] == pytest.approx(1.5)
    assert aggregate_costs([]).empty


def test_settings_validation():
    with pytest.raises(ValueError, match="unknown"):
        AnthropicSettings.from_config({"modle": "x"})
    with pytest.raises(ValueError, match="price"):
        AnthropicSettings.from_config({"model": "claude-unknown-20990101"})
    s = AnthropicSettings.from_config(
        {
            "model": "claude-x-1",
            "prices": {
                "claude-x-1": {
                    "input": 1,
                    "output": 2,
                    "cache_write": 1.25,
                    "cache_write_1h": 2,
                    "cache_read": 0.1,
                }
            },
        }
    )
    assert s.execution == "batch" and s.prices["claude-x-1"]["output"] == 2
    with pytest.raises(ValueError, match="prompt_version"):
        AnthropicBackend(
            {"prompt_version": "v0"},
            cache_path=":memory:",
            state_dir="/nonexistent-dir",
            ledger_path="x.jsonl",
        )


def test_api_key_never_written(fake, tmp_path):
    fake.script(["429", "wrong_count", "refusal"])
    fake.fail_batch_items(["errored"])
    records = recs(2)
    with backend(fake, tmp_path, estimate_method="count_tokens") as b:
        expl = b.explain(records)
        b.score(
            "fuzzing",
            {
                r["latent"]: (expl[r["latent"]]["explanation"], make_items(r, "fuzzing"))
                for r in records
            },
        )
    with backend(fake, tmp_path / "batch", execution="batch") as b:
        b.explain(records)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files) and any(p.suffix == ".jsonl" for p in files)
    for p in files:
        assert FAKE_KEY.encode() not in p.read_bytes(), p
    assert set(fake.auth_headers_seen) == {"match"}


def test_config_snippet_matches_settings_and_schema():
    import jsonschema
    import yaml

    from randsae.autointerp.llm import DEFAULTS

    path = TESTS_DIR.parent / "docs" / "autointerp_config_snippet.yaml"
    section_doc, schema = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    section = section_doc["autointerp"]["anthropic"]
    jsonschema.validate(section, schema)
    assert set(schema["properties"]) == set(DEFAULTS) == set(section)
    assert all("description" in p for p in schema["properties"].values())
    assert schema["additionalProperties"] is False
    assert schema["properties"]["prices"]["additionalProperties"]["additionalProperties"] is False
    s = AnthropicSettings.from_config(section)
    assert s.model in s.prices and s.execution == "batch"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**section, "unknown_key": 1}, schema)
