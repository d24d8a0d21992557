"""How many sampled latents and windows change when a run's latent activations get 1e-6 relative
noise (the size of a float-reduction difference between machines).

Usage: python benchmarks/examples_perturbation.py RUN_DIR [--configfile CONFIG] [--noise 1e-6]
       [--repeats 3]

For every cell of RUN_DIR (a finished run of CONFIG) it recomputes the SAE codes of the held-out
text as the ``eval_sae`` job does, draws the examples from them and from ``repeats`` copies with
multiplicative N(1, noise^2) noise, and prints, per cell, the latents and window ids (explainer,
test activating, non-activating) that differ from the unperturbed draw, and how many highlighted
tokens (``autointerp.highlight_threshold``) of the explainer and test windows changed. The
unperturbed draw must reproduce the run's own examples JSON (else it stops).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import yaml

from randsae.sections import ExamplesConfig, check_config
from randsae.seeds import stable_seed

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("explain", "test_activating", "test_nonactivating")


def draw(ex: ExamplesConfig, seqs, vals, idx, d_sae: int, seed: int, masked) -> dict:
    from randsae.evaluate.examples import sample_examples

    res = sample_examples(seqs.reshape(-1), vals, idx, d_sae, ex, seed, lambda t: [""] * len(t),
                          masked=masked)  # fmt: skip
    return {r["latent"]: r for r in res["latents"]}


def compare(a: dict, b: dict, threshold: float) -> tuple[int, int, int]:
    """(latents that differ, windows that differ, highlighted tokens that differ)."""
    from randsae.autointerp.prompts import highlight_mask

    lat = len(set(a) ^ set(b))
    win = hl = 0
    for k in set(a) & set(b):
        for part in PARTS:
            wa, wb = a[k][part], b[k][part]
            win += len({w["window_id"] for w in wa} ^ {w["window_id"] for w in wb})
            for x, y in zip(wa, wb, strict=False):
                if part != "test_nonactivating" and x["window_id"] == y["window_id"]:
                    ma, mb = (
                        highlight_mask(x["acts"], threshold),
                        highlight_mask(y["acts"], threshold),
                    )
                    hl += sum(p != q for p, q in zip(ma, mb, strict=True))
    return lat, win, hl


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    ap.add_argument("--noise", type=float, default=1e-6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--digits", type=int, default=None, help="override RANK_DIGITS (explore)")
    ap.add_argument("--no-check", action="store_true", help="skip the redraw-equals-run check")
    args = ap.parse_args(argv)
    import torch

    from randsae.data.corpus import sequences
    from randsae.evaluate.cell import Cell
    from randsae.evaluate.examples import ignored_positions, latent_codes, mask_positions

    torch.set_num_threads(1)
    if args.digits is not None:
        import randsae.evaluate.examples as examples

        examples.RANK_DIGITS = args.digits
    cfg = check_config(yaml.safe_load(Path(args.configfile).resolve().read_text()))
    os.chdir(args.run_dir)  # the models are rebuilt from the run's relative paths
    run = Path(".")
    ex, ev = cfg.examples, cfg.eval
    threshold = float(cfg.autointerp.highlight_threshold)
    totals = np.zeros(3, dtype=int)
    n_latents = n_windows = 0
    for model, mcfg in cfg.models.items():
        tokens_val = run / "results" / "data" / "tokens" / model / "val.npy"
        for init in cfg.inits:
            for layer in mcfg.layers:
                sae_dir = run / "results" / "saes" / model / init / f"layer{layer}"
                init_json = run / "results" / "models" / model / "inits" / f"{init}.json"
                cell = Cell(mcfg, cfg.init, init, layer, str(sae_dir), str(tokens_val), "cpu",
                            str(init_json) if init_json.exists() else None)  # fmt: skip
                _dev, lm, sae = cell.open("examples")
                seqs = sequences(np.load(tokens_val), ex.context_size, ex.n_tokens)
                vals, idx = latent_codes(lm, seqs, layer, sae.encode, ev.batch_size)
                ign, pos = list(ev.ignore_token_ids), list(ev.ignore_positions)
                masked = ignored_positions(seqs, ign, pos)
                vals = mask_positions(vals, seqs, ign, pos)
                seed = stable_seed(cfg.seed, "examples", model, init, layer)
                m = masked if masked.any() else None
                base = draw(ex, seqs, vals, idx, int(sae.d_sae), seed, m)
                saved = json.loads((run / "results" / "examples" / model / init /
                                    f"layer{layer}.json").read_text())  # fmt: skip
                same = compare(base, {r["latent"]: r for r in saved["latents"]}, threshold)
                if same[:2] != (0, 0) and not args.no_check:
                    raise SystemExit(f"{model}/{init}/layer{layer}: the redraw differs from the "
                                     f"run's examples {same}: not the run's code or config")  # fmt: skip
                n_latents += len(base)
                n_windows += sum(len(r[p]) for r in base.values() for p in PARTS)
                for rep in range(args.repeats):
                    rng = np.random.default_rng(rep)
                    noisy = (vals * (1 + args.noise * rng.standard_normal(vals.shape))).astype(
                        vals.dtype
                    )
                    diff = compare(base, draw(ex, seqs, noisy, idx, int(sae.d_sae), seed, m),
                                   threshold)  # fmt: skip
                    totals += diff
                    print(f"{model}/{init}/layer{layer} repeat {rep}: latents, windows, "
                          f"highlights changed: {diff}", flush=True)  # fmt: skip
    print(f"total over {args.repeats} repeats of {n_latents} latents, {n_windows} windows: "
          f"latents {totals[0]}, windows {totals[1]}, highlighted tokens {totals[2]}")  # fmt: skip


if __name__ == "__main__":
    main()
