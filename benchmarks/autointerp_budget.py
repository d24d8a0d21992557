"""Calls and dollar estimate of one auto-interp cell, random-explanation controls included.

Builds latent records of a config's shape (``examples.n_explain`` explainer windows,
``n_test_activating`` + ``n_test_nonactivating`` test windows of ``examples.window`` tokens;
text = words of the Lee news corpus shipped with gensim, one word per token) and asks the real
``AnthropicBackend.estimate`` (chars / ``chars_per_token``, no API call) for the upper bound
of every stage the ``score`` rule runs: explain, then each scorer with the latent's own
explanation and again with another latent's (the random-explanation control). A "typical" row
replaces ``max_tokens`` by a typical answer size (``--answer-tokens`` per call + 15 per judged
window), to show the gap to the upper bound that ``budget_usd`` must clear.

    python benchmarks/autointerp_budget.py                           # configs/paper.yaml
    python benchmarks/autointerp_budget.py --config config.yaml --windows-per-prompt 70
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def words() -> list[str]:
    from gensim.test.utils import datapath

    return Path(datapath("lee_background.cor")).read_text(errors="ignore").split()


def window(rng: random.Random, vocab: list[str], n: int, active: bool) -> dict:
    text = [" " + rng.choice(vocab) for _ in range(n)]
    acts = [0.0] * n
    if active:
        for pos in rng.sample(range(n), k=min(3, n)):
            acts[pos] = round(rng.uniform(0.5, 5.0), 3)
    return {"tokens": list(range(n)), "text": text, "acts": acts, "quantile": 1 if active else None}


def records(ex: dict, n_latents: int, seed: int = 0) -> list[dict]:
    rng, vocab, w = random.Random(seed), words(), ex["window"]
    return [
        {
            "latent": lat,
            "n_activating_windows": 10_000,
            "max_act": 5.0,
            "explain": [window(rng, vocab, w, True) for _ in range(ex["n_explain"])],
            "test_activating": [
                window(rng, vocab, w, True) for _ in range(ex["n_test_activating"])
            ],
            "test_nonactivating": [
                window(rng, vocab, w, False) for _ in range(ex["n_test_nonactivating"])
            ],
        }
        for lat in range(n_latents)
    ]


def estimate(cfg: dict, n_latents: int) -> dict:
    from randsae.autointerp.llm.claude import AnthropicBackend, calls_per_latent
    from randsae.autointerp.scoring import build_items

    ai, ex = cfg["autointerp"], cfg["examples"]
    recs = records(ex, n_latents)
    explanation = "Tokens that are common English function words in news text."
    ids = [r["latent"] for r in recs]
    with tempfile.TemporaryDirectory() as tmp:
        b = AnthropicBackend(
            {**ai["anthropic"], "base_url": "http://127.0.0.1:9", "estimate_method": "chars"},
            cache_path=Path(tmp) / "c.sqlite",
            state_dir=Path(tmp),
            ledger_path=Path(tmp) / "l.jsonl",
            cell={"model": "m", "init": "trained", "layer": 0},
        )
        tasks = {}
        for scorer in ai["scorers"]:
            # the control is scored like the real explanation (same windows, another latent's
            # explanation): same request count and size, so one estimate counts both
            t = {r["latent"]: (explanation, build_items(r, scorer, 0)) for r in recs}
            tasks[scorer] = t
        est = b.estimate(recs, tasks)
    stages = est["stages"]
    n_test = ex["n_test_activating"] + ex["n_test_nonactivating"]
    wpp = ai["anthropic"]["windows_per_prompt"]
    n_sc = len(ai["scorers"])
    scorer_usd = sum(stages[s]["estimated_usd_upper"] for s in ai["scorers"])
    upper = stages["explain"]["estimated_usd_upper"] + 2 * scorer_usd  # x2: the controls
    calls = calls_per_latent(n_test, wpp, n_scorers=2 * n_sc)
    in_tok = stages["explain"]["estimated_input_tokens"] + 2 * sum(
        stages[s]["estimated_input_tokens"] for s in ai["scorers"]
    )
    return {
        "calls_per_latent": calls,
        "calls_per_latent_without_controls": calls_per_latent(n_test, wpp, n_scorers=n_sc),
        "input_tokens_per_latent": in_tok / n_latents,
        "upper_usd_per_latent": upper / n_latents,
        "ids": ids,
    }


def typical_usd(cfg: dict, per_latent: dict, answer_tokens: int) -> float:
    """Per latent: the estimated input plus typical (not max_tokens) output, at the batch price."""
    ai = cfg["autointerp"]["anthropic"]
    price = ai["prices"][ai["model"]]
    ex = cfg["examples"]
    n_test = ex["n_test_activating"] + ex["n_test_nonactivating"]
    n_sc = len(cfg["autointerp"]["scorers"])
    out = per_latent["calls_per_latent"] * answer_tokens + 2 * n_sc * n_test * 15
    disc = ai["batch_discount"] if ai["execution"] == "batch" else 1.0
    return (
        disc
        * (per_latent["input_tokens_per_latent"] * price["input"] + out * price["output"])
        / 1e6
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default=str(ROOT / "configs" / "paper.yaml"))
    ap.add_argument("--windows-per-prompt", type=int, default=None)
    ap.add_argument("--latents", type=int, default=5, help="latents to build (cost is per latent)")
    ap.add_argument("--answer-tokens", type=int, default=60)
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    if args.windows_per_prompt:
        cfg["autointerp"]["anthropic"]["windows_per_prompt"] = args.windows_per_prompt
    per = estimate(cfg, args.latents)
    n_lat = cfg["examples"]["n_latents"]
    typ = typical_usd(cfg, per, args.answer_tokens)
    cells = len(cfg["inits"]) * sum(len(m["layers"]) for m in cfg["models"].values())
    ai = cfg["autointerp"]["anthropic"]
    print(
        f"config {Path(args.config).name}: {ai['model']}, {ai['execution']}, "
        f"windows_per_prompt {ai['windows_per_prompt']}, max_tokens {ai['max_tokens']}"
    )
    print(
        f"calls per latent: {per['calls_per_latent']} with the random-explanation controls "
        f"({per['calls_per_latent_without_controls']} without)"
    )
    print(f"input tokens per latent (chars/4): {per['input_tokens_per_latent']:,.0f}")
    print(f"USD per latent: upper bound {per['upper_usd_per_latent']:.4f}, typical {typ:.4f}")
    print(
        f"USD per cell ({n_lat} latents): upper bound {per['upper_usd_per_latent'] * n_lat:.2f}, "
        f"typical {typ * n_lat:.2f}; budget_usd {ai['budget_usd']}"
    )
    print(
        f"grid ({cells} cells): upper bound {per['upper_usd_per_latent'] * n_lat * cells:,.0f} "
        f"USD, typical {typ * n_lat * cells:,.0f} USD, "
        f"{per['calls_per_latent'] * n_lat * cells:,} calls"
    )
    need = math.ceil(per["upper_usd_per_latent"] * n_lat)
    if ai["budget_usd"] < need:
        print(f"WARNING: budget_usd {ai['budget_usd']} < the cell's upper bound {need}")


if __name__ == "__main__":
    main()
