"""The LLM engine against a hostile API: one test per defect, real SDK against the loopback fake.

Defects: a failed explanation scored as if it were one; a lost ``batches.create`` reply paid
twice; a results download cut mid-line; an error object sent with HTTP 200 cached as an answer; a
proxy that echoes the API key into stored text; failures that pass silently.
"""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
from fake_anthropic import (
    CELL,
    FAKE_KEY,
    HOT,
    _user_text,
    explanation_token,
    fake_backend,
    hot_records,
    make_items,
)
from tiny_models import explain_and_score

from randsae.autointerp.judging import FailureRateError
from randsae.autointerp.llm import aggregate_costs, read_ledger

recs = hot_records


def backend(fake, tmp_path, **overrides):
    return fake_backend(fake, tmp_path, **{"execution": "batch", **overrides})


def expected_explanations(records):
    return {r["latent"]: f'The token "{HOT[r["latent"]].strip()}".' for r in records}


def cached_responses(tmp_path) -> list[dict]:
    conn = sqlite3.connect(tmp_path / "cache" / "llm.sqlite")
    try:
        return [json.loads(r[0]) for r in conn.execute("SELECT response FROM responses")]
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------
# A lost batches.create reply is never paid twice
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["lost", "reset", "timeout", "500", "502", "503", "504"])
def test_ambiguous_batch_create_is_reattached_not_paid_twice(fake, tmp_path, fault):
    """The create succeeds at the server but its reply is lost (dropped connection, TCP reset),
    comes too late (client timeout) or is a 500 or a gateway's 502/503/504: the batch is found
    by listing and re-attached."""
    fake.timeout_sleep_s = 1.5
    fake.script_batch_create([fault])
    records = recs(3)
    with backend(fake, tmp_path, timeout_s=0.5) as b:
        out = b.explain(records)
    assert fake.counts["batch_create"] == 1  # one batch billed, not two
    assert fake.counts["batch_list"] >= 1
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 3  # each answer ledgered once
    (rec,) = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    assert rec["adopted"] and rec["collected"] and rec["batch_id"] in fake.batches


@pytest.mark.parametrize("fault", ["429", "529", "408", "409"])
def test_rejected_create_is_retried_without_looking_for_a_batch(fake, tmp_path, fault):
    """The API answered that it made nothing (rate limited, overloaded, request timeout,
    conflict): no orphan search, and no open intent is left for later runs to look up."""
    fake.script_batch_create([fault])
    with backend(fake, tmp_path) as b:
        out = b.explain(recs(2))
    assert fake.counts["batch_create_rejected"] == 1 and fake.counts["batch_create"] == 1
    assert all(v["error"] is None for v in out.values())
    assert fake.counts["batch_list"] == fake.counts["batch_list_probe"]  # clock reads only
    (rec,) = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    assert rec["collected"] and not rec.get("adopted")
    conn = sqlite3.connect(tmp_path / "cache" / "llm.sqlite")
    statuses = [r[0] for r in conn.execute("SELECT status FROM batch_intents")]
    conn.close()
    assert statuses == ["created"]


def test_fatal_create_rejection_stops_the_job(fake, tmp_path):
    fake.script_batch_create(["400"])
    with backend(fake, tmp_path) as b, pytest.raises(RuntimeError, match="create rejected"):
        b.explain(recs(2))
    assert fake.counts["batch_create"] == 0 and fake.counts["batch_list"] == 1  # a clock read


def test_orphan_of_a_killed_job_is_reattached_on_rerun(fake, tmp_path):
    """Killed after the lost reply, before it could look for the batch: the next run finds the
    orphan through the persisted intent and collects it instead of creating another batch."""
    records = recs(3)
    fake.script_batch_create(["lost"])

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    with backend(fake, tmp_path) as b:
        b.engine._resolve_intent = killed  # killed before it could look for the batch
        with pytest.raises(Killed):
            b.explain(records)
    (rec,) = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    assert rec["batch_id"] is None and rec["n_requests"] == 3  # the intent survived the kill
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert fake.counts["batch_create"] == 1
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)


def test_orphan_no_longer_needed_is_cancelled(fake, tmp_path):
    """An orphan found while other requests are pending is cancelled (its requests are not
    needed any more)."""
    records = recs(2)
    fake.hold_batches.set()
    fake.script_batch_create(["lost"])

    class Killed(BaseException):
        pass

    with backend(fake, tmp_path, batch_timeout_s=3) as b:
        b.engine._resolve_intent = lambda *a, **k: (_ for _ in ()).throw(Killed())
        with pytest.raises(Killed):
            b.explain(records)
    orphan = next(iter(fake.batches))
    fake.hold_batches.clear()
    with backend(fake, tmp_path) as b:  # a different stage: the orphan's requests are not needed
        b.score("detection", {1: ('The token "zebra".', make_items(records[0], "detection"))})
    assert fake.counts["batch_cancel"] == 1 and fake.batches[orphan]["canceled"]
    state = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    first = next(r for r in state if r["batch_id"] == orphan)
    assert first["canceled_orphan"] and first["collected"]


@pytest.mark.parametrize("late_state", ["running", "ended"])
def test_batch_listed_only_later_is_found_by_a_later_run(fake, tmp_path, late_state):
    """The lost batch does not show in the list at first, so the job creates another; the first
    intent stays open, and a later run finds the late batch: cancelled while running, or, once
    processed (billed), its answers go to the ledger so that the budget counts them."""
    records = recs(3)
    fake.script_batch_create(["lost_hidden"])
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)
    assert fake.counts["batch_create"] == 2  # the API hid the first: a second was needed
    state = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    assert [r["batch_id"] is None for r in state] == [True, False]
    (late,) = fake.hidden_batches
    fake.hidden_batches.clear()  # now the list shows it
    if late_state == "ended":
        fake.batches[late]["polls"] = fake.batch_polls_before_end
    n_ledger = len(read_ledger(tmp_path / "ledger.jsonl"))
    with backend(fake, tmp_path) as b:
        b.score("detection", {1: ('The token "zebra".', make_items(records[0], "detection"))})
    state = json.loads((tmp_path / "state" / "anthropic_batches.json").read_text())["batches"]
    assert state[0]["batch_id"] == late and state[0]["collected"] and state[0]["adopted"]
    ledger = read_ledger(tmp_path / "ledger.jsonl")
    orphan_lines = [r for r in ledger[n_ledger:] if r["custom_id"] in state[0]["custom_ids"]]
    if late_state == "running":
        assert fake.counts["batch_cancel"] == 1 and fake.batches[late]["canceled"]
        assert orphan_lines == []  # cancelled before it ran: nothing billed, nothing ledgered
    else:
        assert fake.counts["batch_cancel"] == 0
        assert len(orphan_lines) == 3 and all(r["usd"] > 0 and r["orphan"] for r in orphan_lines)
        (row,) = aggregate_costs([tmp_path / "ledger.jsonl"]).to_dict("records")
        assert row["orphan_calls"] == 3 and row["calls"] == len(ledger)  # orphan spend counted
        assert row["orphan_usd"] == pytest.approx(sum(r["usd"] for r in orphan_lines))
        assert row["calls_per_latent"] == pytest.approx((len(ledger) - 3) / 3)
    own = [r for r in ledger[n_ledger:] if r not in orphan_lines]
    assert len(own) == 1 and not own[0]["orphan"]  # the score stage's own prompt (10 windows)


def test_open_intent_never_claims_a_batch_made_long_after_it(fake, tmp_path):
    """Another job's batch with the same request count, created hours after an old unanswered
    create, is neither adopted nor cancelled."""
    import time

    import anthropic

    records = recs(2)
    state_path = tmp_path / "state" / "anthropic_batches.json"
    state_path.parent.mkdir(parents=True)
    old = {
        "batch_id": None,
        "intent_id": "x",
        "stage": "explain",
        "round": 0,
        "custom_ids": ["rnot-needed-any-more"],
        "n_requests": 2,
        "intent_at": time.time() - 7200,
        "submitted_at": None,
        "collected": False,
    }
    state_path.write_text(json.dumps({"batches": [old]}))
    fake.hold_batches.set()  # the other job's batch is still running
    other = anthropic.Anthropic(base_url=fake.url).messages.batches.create(
        requests=[
            {"custom_id": f"other{i}", "params": {"model": "m", "max_tokens": 1, "messages": []}}
            for i in range(2)
        ]
    )
    fake.hold_batches.clear()
    fake.batches[other.id]["polls"] = -1000  # stays in progress for this test
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)
    assert fake.counts["batch_cancel"] == 0 and not fake.batches[other.id]["canceled"]
    state = json.loads(state_path.read_text())["batches"]
    assert other.id not in {r.get("batch_id") for r in state}


# ----------------------------------------------------------------------------------------------
# A results download cut mid-line is retried inside the job
# ----------------------------------------------------------------------------------------------


def test_cut_results_stream_is_downloaded_again(fake, tmp_path):
    fake.cut_results(1)
    records = recs(3)
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert fake.counts["batch_results_cut"] == 1 and fake.counts["batch_results"] == 2
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 3  # nothing ledgered from the cut copy


def test_cut_results_every_time_fails_clearly_and_rerun_reattaches(fake, tmp_path):
    from randsae.autointerp.llm import BatchResultsError

    fake.cut_results(10)
    records = recs(2)
    with backend(fake, tmp_path, max_retries=1) as b, pytest.raises(BatchResultsError) as err:
        b.explain(records)
    assert "rerun" in str(err.value) and "re-attach" in str(err.value)
    assert fake.counts["batch_results"] == 2  # 1 + max_retries downloads
    fake._cut_results = 0
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert fake.counts["batch_create"] == 1  # re-attached, not paid twice
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)


# ----------------------------------------------------------------------------------------------
# An error object sent with HTTP 200 is never cached or ledgered as an answer
# ----------------------------------------------------------------------------------------------


def test_error_shaped_200_is_retried_and_never_cached(fake, tmp_path):
    fake.script(["error_200"])
    records = recs(1)
    with backend(fake, tmp_path, execution="realtime") as b:
        out = b.explain(records)
    assert fake.counts["error_200"] == 1 and fake.counts["messages"] == 2
    assert out[1]["explanation"] == 'The token "zebra".'
    responses = cached_responses(tmp_path)
    assert len(responses) == 1 and all(r["type"] == "message" for r in responses)
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 1


def test_persistent_error_200_is_a_failure_and_is_not_replayed(fake, tmp_path):
    fake.behaviour = lambda body: "error_200"
    records = recs(1)
    with backend(fake, tmp_path, execution="realtime", max_retries=1) as b:
        out = b.explain(records)
    assert out[1]["explanation"] == "" and "error-shaped 200" in out[1]["error"]
    assert cached_responses(tmp_path) == [] and read_ledger(tmp_path / "ledger.jsonl") == []
    fake.behaviour = None
    with backend(fake, tmp_path, execution="realtime") as b:  # a rerun asks again
        out = b.explain(records)
    assert out[1]["explanation"] == 'The token "zebra".'


def test_error_200_batch_item_is_resubmitted(fake, tmp_path):
    fake.fail_batch_items(["error_200"])
    records = recs(2)
    with backend(fake, tmp_path) as b:
        out = b.explain(records)
    assert fake.counts["batch_create"] == 2 and fake.counts["batch_items"] == 3
    assert {k: v["explanation"] for k, v in out.items()} == expected_explanations(records)
    assert all(r["type"] == "message" for r in cached_responses(tmp_path))
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 2


# ----------------------------------------------------------------------------------------------
# A proxy that echoes the API key: nothing stored or logged holds it
# ----------------------------------------------------------------------------------------------


def write_examples(tmp_path, records):
    path = tmp_path / "examples.json"
    path.write_text(json.dumps({**CELL, "latents": records}))
    return str(path)


def ai_cfg(fake, **anthropic):
    return {
        "backend": "anthropic",
        "scorers": ["detection"],
        "lexical_top_tokens": 8,
        "bootstrap": 20,
        "max_failure_rate": None,
        "anthropic": {
            "base_url": fake.url,
            "execution": "realtime",
            "max_retries": 1,
            "max_parse_retries": 0,
            "windows_per_prompt": 10,
            **anthropic,
        },
    }


def run_stages(tmp_path, cfg, records, out="out"):
    d = tmp_path / out
    d.mkdir()
    examples = write_examples(tmp_path, records)
    return explain_and_score(examples, cfg, d)


def test_echoing_proxy_key_is_scrubbed_everywhere(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the stages keep the shared cache under results/
    records = recs(2)
    zebra = lambda body: " zebra" in json.dumps(body)  # noqa: E731

    def proxy(body):
        if body["tools"][0]["name"] == "submit_explanation":
            return "echo_200" if zebra(body) else None  # the key inside an answer (cached)
        return "echo_500" if not zebra(body) else None  # the key inside an error message

    fake.behaviour = proxy
    d = run_stages(tmp_path, ai_cfg(fake), records)
    preds = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
    errors = [p["error"] for p in preds if p["error"]]
    assert errors and all("[REDACTED:ANTHROPIC_API_KEY]" in e for e in errors)
    expl = [json.loads(line) for line in (d / "explanations.jsonl").read_text().splitlines()]
    assert [e["parse_failed"] for e in expl] == [True, False]  # the echoed answer is no tool call
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files)
    for p in files:
        assert FAKE_KEY.encode() not in p.read_bytes(), p
    assert fake.counts["messages"] > 0


#: A key long enough to straddle a cut with a recognisable head on either side.
STRADDLING_KEY = "sk-ant-CANARY-0123456789abcdefghijklmnop"


def assert_no_key_head(text: str, where: str = "") -> None:
    """Not even the first three characters of the key (nothing else here spells "sk-")."""
    for k in range(3, len(STRADDLING_KEY) + 1):
        assert STRADDLING_KEY[:k] not in text, (where, STRADDLING_KEY[:k])


@pytest.mark.parametrize("before_cut", [3, 12, len(STRADDLING_KEY) - 1])
def test_every_cut_redacts_before_it_truncates(monkeypatch, before_cut):
    """Each place that shortens text that may hold a key, with the key straddling its cut:
    ``before_cut`` characters of the key fall before the cut."""
    from randsae.autointerp.llm.openai_engine import completion_problem
    from randsae.autointerp.llm.openai_prompts import parse_int_list
    from randsae.autointerp.llm.requests import _describe_error, message_problem
    from randsae.autointerp.prompts import sanitize_explanation

    monkeypatch.setenv("ANTHROPIC_API_KEY", STRADDLING_KEY)

    def at(cut: int) -> str:  # the key starting ``before_cut`` characters before ``cut``
        return "x" * (cut - before_cut) + STRADDLING_KEY + " tail"

    class Failure(Exception):
        message = at(300)

    error_body = {"type": "error", "error": {"type": "api_error", "message": at(200)}}
    texts = {
        "_describe_error": _describe_error(Failure()),
        "message_problem(str)": message_problem(at(200)),
        "message_problem(error)": message_problem(error_body),
        "completion_problem": completion_problem({"error": {"message": at(200)}}),
        "sanitize_explanation": sanitize_explanation(at(500)),
    }
    with pytest.raises(ValueError) as err:
        parse_int_list("[" + at(79) + "]", 1, 0, 1)  # a list that is not JSON
    texts["parse_int_list"] = str(err.value)
    for where, text in texts.items():
        assert_no_key_head(text, where)
        assert "[RE" in text, (where, text)  # the key was replaced, then cut


@pytest.mark.parametrize(("fault", "cut"), [("echo_500", 300), ("echo_error_200", 200)])
def test_key_straddling_the_cut_leaves_no_head_in_any_file(fake, tmp_path, monkeypatch, fault, cut):
    """A proxy echoes the key so that it straddles the cut of the stored error message (the
    SDK's 500 message at 300 characters; an error object's message at 200): no file written
    holds any head of it."""
    import anthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", STRADDLING_KEY)
    monkeypatch.chdir(tmp_path)
    client = anthropic.Anthropic(base_url=fake.url, max_retries=0)
    fake.script(["echo_500"])  # where the SDK's message puts the echoed key
    with pytest.raises(anthropic.InternalServerError) as err:
        client.messages.create(model="m", max_tokens=1, messages=[])
    offset = err.value.message.index(STRADDLING_KEY) if fault == "echo_500" else 0
    fake.echo_padding = cut - 12 - offset  # 12 characters of the key before the cut
    fake.behaviour = lambda body: fault if " zebra" in json.dumps(body) else None
    run_stages(tmp_path, ai_cfg(fake, max_retries=0), recs(2))
    expl = [
        json.loads(line)
        for line in (tmp_path / "out/explanations.jsonl").read_text().split("\n")
        if line
    ]
    assert "[RE" in expl[0]["error"], expl[0]  # replaced, then cut
    for p in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert_no_key_head(p.read_bytes().decode("utf-8", "replace"), str(p))


def test_logs_and_exceptions_are_scrubbed(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from randsae.runner import run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-FAKE-0123456789")
    log_path = tmp_path / "job.log"
    smk = SimpleNamespace(log=[str(log_path)], threads=1, rule="x", wildcards={})

    def stage():
        logging.getLogger("randsae").warning("upstream said sk-openai-FAKE-0123456789")
        print("stdout sk-openai-FAKE-0123456789")
        raise RuntimeError("bad key sk-openai-FAKE-0123456789")

    with pytest.raises(RuntimeError) as err:
        run(stage, smk)
    assert "sk-openai-FAKE" not in str(err.value) and "[REDACTED:OPENAI_API_KEY]" in str(err.value)
    text = log_path.read_text()
    assert "sk-openai-FAKE" not in text and text.count("[REDACTED:OPENAI_API_KEY]") == 2


# ----------------------------------------------------------------------------------------------
# A failed explanation takes its latent out of the scores
# ----------------------------------------------------------------------------------------------


def test_failed_explanation_is_not_scored(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = recs(4)
    fake.behaviour = lambda body: (
        "refusal"
        if body["tools"][0]["name"] == "submit_explanation" and " quartz" in json.dumps(body)
        else None
    )
    d = run_stages(tmp_path, ai_cfg(fake), records)
    expl = {
        json.loads(line)["latent"]: json.loads(line)
        for line in (d / "explanations.jsonl").read_text().splitlines()
    }
    assert expl[2]["parse_failed"] and expl[2]["explanation"] == ""
    scores = json.loads((d / "scores.json").read_text())
    det = scores["summary"]["detection"]
    per_latent = len(make_items(records[0], "detection"))
    assert det["n_latents"] == 3 and det["n_windows"] == 3 * per_latent and det["n_failed"] == 0
    assert scores["n_failed_explanations"] == 1 and det["n_failed_explanations"] == 1
    assert det["auroc_pooled"] == pytest.approx(1.0)  # only real explanations are judged
    preds = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
    assert {p["latent"] for p in preds} == {1, 4, 6}  # its windows are nowhere
    # no prompt ever judged windows against an empty explanation
    judged = [b for _, b in fake.bodies if b["tools"][0]["name"] == "submit_judgements"]
    assert judged and all(explanation_token(_user_text(b)) for b in judged)


# ----------------------------------------------------------------------------------------------
# Failures are reported, and a configured rate turns them into an error
# ----------------------------------------------------------------------------------------------


def failing_windows(body):
    text = json.dumps(body)
    if body["tools"][0]["name"] == "submit_judgements" and "walrus" in text:
        return "wrong_count"
    return None


def test_failures_are_warned_with_counts(fake, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    fake.behaviour = failing_windows
    with caplog.at_level(logging.WARNING, logger="randsae"):
        d = run_stages(tmp_path, ai_cfg(fake), recs(4))
    scores = json.loads((d / "scores.json").read_text())
    det = scores["summary"]["detection"]
    assert det["n_failed"] > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"detection: {det['n_failed']} of {det['n_failed'] + det['n_windows']} failed" in w
        for w in warnings
    ), warnings


def test_max_failure_rate_is_an_error_after_the_results_are_written(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake.behaviour = failing_windows
    cfg = {**ai_cfg(fake), "max_failure_rate": 0.05}
    with pytest.raises(FailureRateError, match="max_failure_rate=0.05"):
        run_stages(tmp_path, cfg, recs(4))
    out = tmp_path / "out"
    assert (out / "scores.json").exists() and (out / "predictions.jsonl").exists()
    cfg["max_failure_rate"] = 0.5  # tolerated: same answers, from the cache
    before = fake.counts["messages"]
    run_stages(tmp_path, cfg, recs(4), out="out2")
    assert fake.counts["messages"] == before  # a rerun pays nothing for the cached answers


def test_autointerp_table_has_failed_explanation_column(tmp_path):
    from randsae.tables.aggregate import autointerp_table, failure_totals

    summary = {"n_latents": 3, "n_windows": 30, "n_failed": 2, "auroc_pooled": 0.8}
    for init, nf in (("trained", 1), ("step0", 0)):
        (tmp_path / f"{init}.json").write_text(
            json.dumps(
                {
                    **CELL,
                    "init": init,
                    "backend": "anthropic",
                    "n_failed_explanations": nf,
                    "summary": {"detection": summary, "fuzzing": summary},
                }
            )
        )
    df = autointerp_table([tmp_path / "trained.json", tmp_path / "step0.json"], {})
    assert dict(zip(df["init"], df["n_failed_explanations"], strict=False)) == {
        "trained": 1,
        "step0": 0,
    }
    assert failure_totals(df) == {"cells": 2, "failed_explanations": 1, "failed_windows": 8}
