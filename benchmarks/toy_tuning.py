"""How the reduced default's toy SAE settings were chosen: the plain arm of the synthetic data,
on the tuning seed only (``toy.sae.tuning_seed``, never a reported seed), for a grid of batch
sizes and epochs at the configured learning rate and L1 coefficients.

Usage: python benchmarks/toy_tuning.py [--configfile config.yaml] [--grid 128:20,64:10,...]

Prints, per (batch, epochs), the CPU seconds of training (one thread) and the MMCS at every
coefficient; the default takes the cheapest setting whose best MMCS reaches --target (0.93: a
margin over the 0.9 that tests/test_toy.py requires of the reported seeds' mean).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from randsae.sections import ToyConfig, check_config
from randsae.seeds import stable_seed
from randsae.toy.stats import arm_data
from randsae.toy.train import ToyData, evaluate_stacked, l1_coef_values, train_stacked

ROOT = Path(__file__).resolve().parent.parent


def tune(toy: ToyConfig, batch: int, epochs: int) -> tuple[float, list[float]]:
    """(CPU seconds, MMCS per coefficient) of the plain arm on the tuning seed."""
    seed = toy.sae.tuning_seed
    if seed is None:
        raise SystemExit("toy.sae.tuning_seed is null: nothing was tuned in this config")
    data = ToyData(toy.seed, toy.test_fraction, toy.ffn_expansion, sharkey=toy.sharkey)
    arm = arm_data("sharkey", "plain", [seed], data, vectors=None)
    coefs = l1_coef_values(toy.sae.l1_coefs)
    n = int(toy.sharkey.num_latents[0])
    sae_seed = stable_seed(toy.seed, "sharkey", "plain", n, "sae", seed)
    t0 = time.process_time()
    sae = train_stacked(arm.train, [0] * len(coefs), coefs, [sae_seed] * len(coefs), n,
                        epochs=epochs, batch_size=batch, lr=float(toy.sae.lr))  # fmt: skip
    cpu = time.process_time() - t0
    met = evaluate_stacked(sae, arm.test, [0] * len(coefs), arm.features, 256)
    return cpu, [m["mmcs"] for m in met]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    ap.add_argument("--grid", default="128:20,128:10,64:10,64:8,32:5")
    ap.add_argument("--target", type=float, default=0.93)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    toy = check_config(yaml.safe_load(Path(args.configfile).read_text())).toy
    coefs = l1_coef_values(toy.sae.l1_coefs)
    print("batch epochs  CPU s  " + "  ".join(f"{c:.4g}" for c in coefs))
    ok = []
    for item in args.grid.split(","):
        batch, epochs = (int(x) for x in item.split(":"))
        cpu, mmcs = tune(toy, batch, epochs)
        print(f"{batch:5d} {epochs:6d} {cpu:6.1f}  " + "  ".join(f"{m:.3f}" for m in mmcs))
        if max(mmcs) >= args.target:
            ok.append((cpu, batch, epochs))
    if ok:
        cpu, batch, epochs = min(ok)
        print(f"cheapest with best MMCS >= {args.target}: batch {batch}, {epochs} epochs")


if __name__ == "__main__":
    main()
