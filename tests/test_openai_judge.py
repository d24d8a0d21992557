"""OpenAI-compatible judge: the real ``openai`` SDK against a loopback fake (base_url 127.0.0.1)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fake_anthropic import make_items, make_record
from fake_openai import FAKE_OPENAI_KEY, P_MATCH, P_MISS, FakeOpenAI

from randsae.autointerp.llm import BudgetExceededError, read_ledger
from randsae.autointerp.llm.openai_judge import (
    OpenAIBackend,
    OpenAISettings,
    parse_binary_logprobs,
    pearson,
)

CELL = {"model": "tiny-neox", "init": "trained", "layer": 1}
HOT = {3: " zebra", 8: " quartz", 11: " violin"}


@pytest.fixture
def oai(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()


def backend(fake, tmp_path, **overrides):
    cfg = {
        "base_url": fake.url,
        "model": "llama-test",
        "max_retries": 2,
        "max_concurrency": 2,
        "windows_per_prompt": 4,
        **overrides,
    }
    return OpenAIBackend(
        cfg,
        cache_path=tmp_path / "cache.sqlite",
        state_dir=tmp_path / "state",
        ledger_path=tmp_path / "ledger.jsonl",
        cell=CELL,
    )


def records():
    return [make_record(lat, tok, n_act=4, n_non=4) for lat, tok in HOT.items()]


def tasks(recs, expl, scorer):
    return {r["latent"]: (expl[r["latent"]], make_items(r, scorer)) for r in recs}


@pytest.mark.parametrize("scorer", ["detection", "fuzzing"])
def test_probabilities_from_logprobs(oai, tmp_path, scorer):
    recs = records()
    with backend(oai, tmp_path) as b:
        expl = b.explain(recs)
        assert {k: v["explanation"] for k, v in expl.items()} == {
            lat: f'The token "{tok.strip()}".' for lat, tok in HOT.items()
        }
        out = b.score(scorer, tasks(recs, expl, scorer))
    items = [it for r in recs for it in make_items(r, scorer)]
    assert set(out) == {it["id"] for it in items}
    for it in items:  # P(yes) = mass on "1" over "0" and "1" of the answer digit
        assert out[it["id"]]["prob"] == pytest.approx(P_MATCH if it["label"] else P_MISS)
        assert out[it["id"]]["source"] == "logprobs"
    judged = [b for b in oai.bodies if b.get("logprobs")]
    assert judged and all(b["top_logprobs"] == 20 for b in judged)
    assert set(oai.auth_headers_seen) == {"match"}  # the key from OPENAI_API_KEY


def test_elicited_probabilities_when_configured(oai, tmp_path):
    recs = records()
    with backend(oai, tmp_path, probabilities="elicited") as b:
        expl = b.explain(recs)
        out = b.score("detection", tasks(recs, expl, "detection"))
    for r in recs:
        for it in make_items(r, "detection"):
            assert out[it["id"]]["prob"] == pytest.approx(0.9 if it["label"] else 0.1)
            assert out[it["id"]]["source"] == "elicited"
    assert not any(b.get("logprobs") for b in oai.bodies)


def test_auto_falls_back_to_elicited_without_logprobs(oai, tmp_path):
    oai.supports_logprobs = False
    recs = records()
    with backend(oai, tmp_path, windows_per_prompt=8) as b:
        expl = b.explain(recs)
        n0 = oai.counts["chat"]
        out = b.score("detection", tasks(recs, expl, "detection"))
        n1 = oai.counts["chat"]
        out2 = b.score("fuzzing", tasks(recs, expl, "fuzzing"))
        n2 = oai.counts["chat"]
    assert n1 - n0 == 2 * len(recs)  # each prompt asked for logprobs once, then elicited
    assert n2 - n1 == len(recs)  # the rest of the job goes straight to elicited
    for res in (out, out2):
        assert all(v["source"] == "elicited" and v["prob"] in (0.9, 0.1) for v in res.values())


def test_logprobs_required_but_missing_is_a_counted_failure(oai, tmp_path):
    oai.supports_logprobs = False
    rec = records()[0]
    with backend(oai, tmp_path, probabilities="logprobs") as b:
        out = b.score("detection", {3: ('The token "zebra".', make_items(rec, "detection"))})
    assert all(v["prob"] is None and "no logprobs" in v["error"] for v in out.values())


def test_sdk_retries_429_500_and_timeouts(oai, tmp_path):
    oai.timeout_sleep_s = 1.5
    oai.script(["429", "500", "timeout"])
    rec = records()[0]
    with backend(oai, tmp_path, max_retries=3, timeout_s=0.5, max_concurrency=1) as b:
        out = b.explain([rec])
    assert out[3]["explanation"] == 'The token "zebra".' and out[3]["error"] is None
    assert oai.counts["chat"] == 4 and oai.counts["chat_ok"] == 2  # the timed-out one too


def test_server_errors_exhausted_are_reported(oai, tmp_path):
    oai.behaviour = lambda body: "500"
    with backend(oai, tmp_path, max_retries=1) as b:
        out = b.explain(records()[:1])
    assert out[3]["explanation"] == "" and "500" in out[3]["error"]
    assert read_ledger(tmp_path / "ledger.jsonl") == []


@pytest.mark.parametrize("fault", ["bad_json", "error_200"])
def test_malformed_and_error_200_bodies_are_retried_never_cached(oai, tmp_path, fault):
    oai.script([fault])
    with backend(oai, tmp_path, max_concurrency=1) as b:
        out = b.explain(records()[:1])
        assert out[3]["explanation"] == 'The token "zebra".'
        assert len(b.engine.cache) == 1
    assert oai.counts["chat"] == 2 and len(read_ledger(tmp_path / "ledger.jsonl")) == 1


@pytest.mark.parametrize("fault", ["garbled", "wrong_count"])
def test_unparseable_answers_are_asked_again(oai, tmp_path, fault):
    rec = records()[0]
    oai.script([fault])
    with backend(oai, tmp_path, max_concurrency=1, windows_per_prompt=8) as b:
        out = b.score("detection", {3: ('The token "zebra".', make_items(rec, "detection"))})
    assert oai.counts["chat"] == 2
    assert all(v["prob"] is not None and not v["parse_failed"] for v in out.values())
    assert "previous answer was rejected" in oai.bodies[-1]["messages"][-1]["content"]


def test_cache_ledger_and_budget(oai, tmp_path):
    recs = records()
    with backend(oai, tmp_path, price_input=1.0, price_output=2.0) as b:
        expl = b.explain(recs)
        s1 = b.score("detection", tasks(recs, expl, "detection"))
    n = oai.counts["chat"]
    ledger = read_ledger(tmp_path / "ledger.jsonl")
    assert len(ledger) == n and all(r["input_tokens"] > 0 and r["usd"] > 0 for r in ledger)
    with backend(oai, tmp_path, price_input=1.0, price_output=2.0) as b:  # a rerun
        expl2 = b.explain(recs)
        assert b.score("detection", tasks(recs, expl2, "detection")) == s1
    assert oai.counts["chat"] == n  # zero calls
    with (
        backend(oai, tmp_path / "tight", price_input=1000.0, budget_usd=0.001) as b,
        pytest.raises(BudgetExceededError),
    ):
        b.explain(recs)
    assert oai.counts["chat"] == n  # stopped before any call


def test_no_key_sends_a_placeholder_and_keys_never_stored(oai, tmp_path, monkeypatch):
    with backend(oai, tmp_path) as b:
        b.explain(records()[:1])
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert FAKE_OPENAI_KEY.encode() not in p.read_bytes(), p
    monkeypatch.delenv("OPENAI_API_KEY")
    with backend(oai, tmp_path / "nokey") as b:
        b.explain(records()[:1])
    assert oai.auth_headers_seen["placeholder"] == 1


def test_simulation_correlation(oai, tmp_path):
    recs = records()
    with backend(oai, tmp_path) as b:
        expl = b.explain(recs)
        sim = b.simulate(
            {
                r["latent"]: (expl[r["latent"]], r["test_activating"] + r["test_nonactivating"])
                for r in recs
            }
        )
    for r in recs:
        windows = r["test_activating"] + r["test_nonactivating"]
        true = np.concatenate([w["acts"] for w in windows])
        # the fake predicts 9.7 on the hot token and 0.1 elsewhere (expected values)
        pred = np.concatenate(
            [[9.7 if t == HOT[r["latent"]] else 0.1 for t in w["text"]] for w in windows]
        )
        row = sim[r["latent"]]
        assert row["source"] == "logprobs" and row["n_tokens"] == len(true)
        assert row["correlation"] == pytest.approx(pearson(pred, true), abs=1e-9)
        assert row["correlation"] > 0.5
    sims = [b for b in oai.bodies if "You simulate" in b["messages"][0]["content"]]
    assert sims and all(b["logprobs"] for b in sims)


def test_parse_binary_logprobs_normalises_over_0_and_1():
    content = [
        {"token": "[", "logprob": 0.0, "top_logprobs": []},
        {
            "token": "1",
            "logprob": math.log(0.6),
            "top_logprobs": [
                {"token": "1", "logprob": math.log(0.6)},
                {"token": "0", "logprob": math.log(0.2)},
                {"token": "maybe", "logprob": math.log(0.2)},
            ],
        },
        {"token": ", 0", "logprob": math.log(0.9), "top_logprobs": []},
        {"token": "]", "logprob": 0.0, "top_logprobs": []},
    ]
    msg = {
        "choices": [
            {
                "message": {"content": "[1, 0]"},
                "finish_reason": "stop",
                "logprobs": {"content": content},
            }
        ]
    }
    assert parse_binary_logprobs(msg, 2) == pytest.approx([0.75, 0.0])


def test_settings_validation():
    with pytest.raises(ValueError, match="autointerp.openai: unknown keys"):
        OpenAISettings.from_config({"nope": 1})
    with pytest.raises(ValueError, match="probabilities"):
        OpenAISettings.from_config({"probabilities": "vibes"})
    with pytest.raises(ValueError, match="top_logprobs"):
        OpenAISettings.from_config({"top_logprobs": 50})
    assert OpenAISettings.from_config(None).execution == "realtime"


def test_score_stage_with_openai_backend(oai, tmp_path, monkeypatch):
    from tiny_models import explain_and_score

    monkeypatch.chdir(tmp_path)
    recs = records()
    ex = tmp_path / "examples.json"
    ex.write_text(json.dumps({**CELL, "latents": recs}))
    cfg = {
        "backend": "openai",
        "scorers": ["detection"],
        "lexical_top_tokens": 8,
        "bootstrap": 10,
        "max_failure_rate": 0.1,
        "openai": {"base_url": oai.url, "model": "llama-test", "windows_per_prompt": 8},
    }
    explain_and_score(str(ex), cfg, ".")
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["backend"] == "openai"
    assert scores["summary"]["detection"]["auroc_pooled"] == pytest.approx(1.0)
    preds = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert {p["prob_source"] for p in preds} == {"logprobs"}


def test_second_judge_and_simulation_through_the_score_stage(oai, fake, tmp_path, monkeypatch):
    """Claude (fake) explains and judges, the OpenAI-compatible judge (fake) judges the same
    explanations and simulates; scores.json and the tables carry both."""
    from tiny_models import explain_and_score

    from randsae.tables.aggregate import autointerp_table, judge_agreement_table

    monkeypatch.chdir(tmp_path)
    recs = records()
    ex = tmp_path / "examples.json"
    ex.write_text(json.dumps({**CELL, "latents": recs}))
    cfg = {
        "backend": "anthropic",
        "second_judge": "openai",
        "simulation": {"n_latents": 2},
        "scorers": ["detection", "fuzzing"],
        "lexical_top_tokens": 8,
        "bootstrap": 10,
        "max_failure_rate": 0.1,
        "anthropic": {"base_url": fake.url, "execution": "realtime", "windows_per_prompt": 8},
        "openai": {"base_url": oai.url, "model": "llama-test", "windows_per_prompt": 8},
    }
    explain_and_score(str(ex), cfg, ".")
    scores = json.loads((tmp_path / "scores.json").read_text())
    judges = scores["judges"]
    assert (judges["a"], judges["b"]) == ("anthropic", "openai")
    assert set(judges["scorers"]) == {"detection", "fuzzing"}
    for res in judges["scorers"].values():
        assert res["per_latent"] == {str(r["latent"]): [1.0, 1.0] for r in recs}
    # the second judge saw the first judge's explanations, not its own
    judged = [b for b in oai.bodies if "You evaluate" in b["messages"][0]["content"]]
    assert judged and all('Explanation: "The token' in b["messages"][1]["content"] for b in judged)
    sim = scores["summary"]["simulation"]
    assert sim["n_latents"] == 2 and sim["simulation_correlation"] > 0.5
    assert scores["simulation"]["sources"] == ["logprobs"]
    table = autointerp_table([tmp_path / "scores.json"], {})
    row = table[table["scorer"] == "simulation"].iloc[0]
    assert row["simulation_correlation"] == pytest.approx(sim["simulation_correlation"])
    agree = judge_agreement_table([tmp_path / "scores.json"], {})
    assert list(agree["scorer"]) == ["detection", "fuzzing"]
    assert (agree["n_latents"] == 3).all() and (agree["mean_difference"] == 0).all()


def test_judge_agreement_arithmetic(tmp_path):
    from randsae.tables.aggregate import JUDGE_AGREEMENT_COLUMNS, judge_agreement_table

    per_latent = {"1": [0.9, 0.8], "2": [0.6, 0.7], "3": [0.7, 0.5], "4": [0.8, None]}
    rec = {
        **CELL,
        "backend": "anthropic",
        "summary": {},
        "judges": {
            "a": "anthropic",
            "b": "openai",
            "scorers": {"detection": {"per_latent": per_latent, "n_failed_b": 4}},
        },
    }
    (tmp_path / "s.json").write_text(json.dumps(rec))
    df = judge_agreement_table([tmp_path / "s.json"], {"tiny-neox": 123})
    a, b = np.array([0.9, 0.6, 0.7]), np.array([0.8, 0.7, 0.5])
    row = df.iloc[0]
    assert row["n_latents"] == 3 and row["n_failed_windows_b"] == 4 and row["n_params"] == 123
    assert row["auroc_correlation"] == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert row["mean_difference"] == pytest.approx((a - b).mean())
    assert row["mean_abs_difference"] == pytest.approx(np.abs(a - b).mean())
    assert row["auroc_spearman"] == pytest.approx(0.5)
    (tmp_path / "none.json").write_text(json.dumps({**rec, "judges": None}))
    empty = judge_agreement_table([tmp_path / "none.json"], {})
    assert empty.empty and list(empty.columns) == JUDGE_AGREEMENT_COLUMNS


def test_config_checks_for_judges_and_simulation():
    from tiny_models import autointerp_section

    from randsae.errors import ConfigError

    ai = {"scorers": ["detection"], "lexical_top_tokens": 8, "bootstrap": 10}
    with pytest.raises(ConfigError, match="second_judge"):
        autointerp_section({**ai, "backend": "openai", "second_judge": "openai"})
    with pytest.raises(ConfigError, match="simulation.n_latents"):
        autointerp_section({**ai, "backend": "anthropic", "simulation": {"n_latents": 3}})
    autointerp_section(
        {**ai, "backend": "anthropic", "second_judge": "openai", "simulation": {"n_latents": 3}}
    )
