"""Which batch belongs to which job: the batch registry under hostile timing.

Several jobs share one API key and one cache file. The loopback fake (real SDK, real SQLite)
stamps ``created_at`` in whole seconds, here frozen so that batches of different jobs tie, loses
create replies, answers 529 and runs with a skewed clock. Every test checks the books: no
request body billed twice (the fake counts them), and one ledger line per billed item.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time

import pytest
from fake_anthropic import HOT, fake_backend, hot_records, make_items, wait_until

from randsae.autointerp.llm import read_ledger


def job(fake, tmp_path, name, **overrides):
    return fake_backend(fake, tmp_path, execution="batch", job=name, **overrides)


def expected(records):
    return {r["latent"]: f'The token "{HOT[r["latent"]].strip()}".' for r in records}


def explanations(out):
    return {k: v["explanation"] for k, v in out.items()}


def state(tmp_path, name):
    return json.loads((tmp_path / name / "state" / "anthropic_batches.json").read_text())["batches"]


def whole_seconds_frozen(fake):
    """Every batch stamped with the same whole second (and every ``Date`` header too)."""
    t0 = float(int(time.time()))
    fake.clock = lambda: t0
    fake.whole_seconds = True


def check_books(fake, tmp_path):
    twice = fake.paid_twice()
    assert twice == 0, f"{twice} request bodies billed twice"
    lines = [r for p in tmp_path.glob("*/ledger.jsonl") for r in read_ledger(p)]
    paid = len(fake.paid_items())
    assert len(lines) == paid, f"{len(lines)} ledger lines for {paid} billed items"


def in_thread(target, *args, **kwargs):
    box: dict = {}

    def run():
        try:
            box["value"] = target(*args, **kwargs)
        except BaseException as exc:  # reported by the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def explain_job(fake, tmp_path, name, seed, **overrides):
    with job(fake, tmp_path, name, **overrides) as b:
        return b.explain(hot_records(3, seed=seed))


# ----------------------------------------------------------------------------------------------
# A lost create reply next to other jobs' batches of the same size and second
# ----------------------------------------------------------------------------------------------


def test_lost_reply_beside_another_jobs_batch_of_the_same_second(fake, tmp_path):
    """Job b's batch and job a's orphan have the same size and the same whole-second stamp (b's
    is listed first): a adopts its own orphan, not b's, and pays for nothing twice."""
    whole_seconds_frozen(fake)
    assert explanations(explain_job(fake, tmp_path, "b", 1)) == expected(hot_records(3, 1))
    fake.script_batch_create(["lost"])
    out = explain_job(fake, tmp_path, "a", 0)
    assert explanations(out) == expected(hot_records(3))
    check_books(fake, tmp_path)
    assert fake.counts["batch_create"] == 2
    (rec,) = state(tmp_path, "a")
    assert rec["adopted_by"] == "count" and rec["batch_id"] == list(fake.batches)[1]


def test_two_jobs_lose_their_create_replies_in_the_same_second(fake, tmp_path):
    """Both replies are lost once both batches exist: two candidates of the same size and second
    for each job, which waits for their results and takes the one with its custom ids."""
    whole_seconds_frozen(fake)
    barrier = threading.Barrier(2, timeout=10)
    fake.script_batch_create(["lost", "lost"])
    made = []

    def both_exist(bid):
        made.append(bid)
        if len(made) <= 2:
            barrier.wait()

    fake.after_create = both_exist
    runs = [
        in_thread(explain_job, fake, tmp_path, name, seed) for name, seed in (("a", 0), ("b", 1))
    ]
    for t, _ in runs:
        t.join(60)
    for (_, box), seed in zip(runs, (0, 1), strict=True):
        assert "error" not in box, box.get("error")
        assert explanations(box["value"]) == expected(hot_records(3, seed))
    check_books(fake, tmp_path)
    assert fake.counts["batch_create"] == 2
    recs = [r for n in "ab" for r in state(tmp_path, n)]
    assert {r["batch_id"] for r in recs} == set(made)
    assert {r["adopted_by"] for r in recs} == {"custom_ids"}


def test_lost_reply_while_another_jobs_create_is_in_flight(fake, tmp_path):
    """Job b's create is still waiting for its (slow) reply when job a's reply is lost: b's
    batch is not yet registered, but b's open intent could have made it, so a does not take it
    on the count alone."""
    whole_seconds_frozen(fake)
    fake.timeout_sleep_s = 1.0
    fake.script_batch_create(["timeout", "lost"])  # b: a slow reply; a: a lost one
    t, box = in_thread(explain_job, fake, tmp_path, "b", 1, timeout_s=10)
    assert wait_until(lambda: len(fake.batches) == 1, 10)
    out = explain_job(fake, tmp_path, "a", 0)
    t.join(60)
    assert "error" not in box, box.get("error")
    assert explanations(out) == expected(hot_records(3))
    assert explanations(box["value"]) == expected(hot_records(3, 1))
    check_books(fake, tmp_path)
    assert fake.counts["batch_create"] == 2
    b_batch, a_batch = list(fake.batches)
    (a_rec,) = state(tmp_path, "a")
    assert a_rec["batch_id"] == a_batch and a_rec["adopted_by"] == "custom_ids"
    assert state(tmp_path, "b")[0]["batch_id"] == b_batch


@pytest.mark.parametrize("skew_s", [-3600, 3600])
def test_lost_reply_found_with_the_server_clock_an_hour_off(fake, tmp_path, skew_s):
    """The intent's time is the server's own ``Date``: the local clock's skew plays no part."""
    fake.clock = lambda: time.time() + skew_s
    fake.whole_seconds = True
    fake.script_batch_create(["lost"])
    assert explanations(explain_job(fake, tmp_path, "a", 0)) == expected(hot_records(3))
    check_books(fake, tmp_path)
    assert fake.counts["batch_create"] == 1
    assert state(tmp_path, "a")[0]["clock"] == "server"


# ----------------------------------------------------------------------------------------------
# A 529 on create is not ambiguous; nobody cancels another job's batch
# ----------------------------------------------------------------------------------------------


def test_529_on_create_leaves_other_jobs_batches_alone(fake, tmp_path):
    """Job a's create gets a 529 (nothing was made). Job b then runs a batch of the same size;
    a's next stage neither adopts nor cancels it."""
    fake.script_batch_create(["529"])
    assert explanations(explain_job(fake, tmp_path, "a", 0)) == expected(hot_records(3))
    assert fake.counts["batch_create_rejected"] == 1 and fake.counts["batch_create"] == 1
    assert fake.counts["batch_list"] == fake.counts["batch_list_probe"]  # no orphan search
    held = []
    fake.after_create = lambda bid: (held.append(bid), fake.batches[bid].update(polls=-(10**6)))
    t, box = in_thread(explain_job, fake, tmp_path, "b", 1)
    assert wait_until(lambda: held and fake.counts["batch_retrieve"] >= 2, 10)  # b is polling
    fake.after_create = None
    records = hot_records(1)
    with job(fake, tmp_path, "a") as a:  # a's next stage, while b's batch runs
        a.score("detection", {1: ('The token "zebra".', make_items(records[0], "detection"))})
    assert fake.counts["batch_cancel"] == 0 and not fake.batches[held[0]]["canceled"]
    assert not any(r.get("adopted") for r in state(tmp_path, "a"))
    fake.batches[held[0]]["polls"] = 0  # b's batch ends
    t.join(60)
    assert "error" not in box, box.get("error")
    assert explanations(box["value"]) == expected(hot_records(3, 1))
    check_books(fake, tmp_path)


# ----------------------------------------------------------------------------------------------
# The registry itself (separate processes, one SQLite file)
# ----------------------------------------------------------------------------------------------


def intent(name: str, ids: list[str], not_before=100.0, not_after=500.0) -> dict:
    return {
        "intent_id": f"intent-{name}",
        "stage": "explain",
        "custom_ids": ids,
        "n_requests": len(ids),
        "not_before": not_before,
        "not_after": not_after,
        "clock": "server",
        "intent_at": time.time(),
    }


def _race(path: str, name: str, go, out) -> None:
    from randsae.autointerp.llm.registry import BatchRegistry

    reg = BatchRegistry(path, job=name, cell="m/i/0")
    rec = intent(name, [f"{name}-0", f"{name}-1"])
    reg.open_intent(rec)
    go.wait(10)
    out.put((name, reg.claim("msgbatch_orphan", rec, None)))
    reg.close()


def test_jobs_racing_for_one_orphan_only_one_adopts_it(tmp_path):
    from randsae.autointerp.llm.registry import BatchRegistry

    path = str(tmp_path / "llm.sqlite")
    BatchRegistry(path, job="setup", cell="-").close()
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(path, f"job{i}", go, out)) for i in range(6)]
    for p in procs:
        p.start()
    go.set()
    won = dict(out.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(30)
    assert sum(won.values()) == 1
    winner = next(name for name, ok in won.items() if ok)
    assert BatchRegistry(path, job="x", cell="-").owner("msgbatch_orphan") == winner


def test_another_jobs_open_intent_blocks_a_claim_by_count_alone(tmp_path):
    from randsae.autointerp.llm.registry import BatchRegistry

    path = tmp_path / "llm.sqlite"
    x = BatchRegistry(path, job="x", cell="m/i/0")
    y = BatchRegistry(path, job="y", cell="m/i/1")
    rx, ry = intent("x", ["x0", "x1"]), intent("y", ["y0", "y1"])
    x.open_intent(rx)
    y.open_intent(ry)
    assert not y.claim("b1", ry, created_at=200.0)  # x's unanswered create could have made it
    assert y.claim("b2", ry, created_at=600.0)  # after x's window: x cannot have made it
    assert y.owner("b2") == "y" and not x.claim("b2", rx, None)  # registered: nobody else's
    assert x.register_created("b1", rx) is None  # x's create returned b1
    assert not y.claim("b1", ry, None) and y.owner("b1") == "x"
    assert x.register_created("b2", rx) == "y"  # a creator's reply beats a claim
    assert x.owner("b2") == "x"
