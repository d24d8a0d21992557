"""Training of stacked toy SAEs and the L1-coefficient sweep of one (dataset, arm, n_latents)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from randsae.sections import L1CoefsConfig, SharkeyData, ToySAEConfig
from randsae.seeds import stable_seed
from randsae.toy import ARMS
from randsae.toy.data import (
    gaussian_like,
    generate_sharkey,
    generator,
    train_test_split,
)
from randsae.toy.ffn import apply_ffn, random_ffn
from randsae.toy.metrics import average_batches, batch_metrics, mmcs
from randsae.toy.sae import StackedSAE


@dataclass
class ArmData:
    """Per-seed data of one arm. train (S, N_train, d), test (S, N_test, d), features
    (S, d, G) or None when there is no ground truth (Gaussian arms, word vectors)."""

    seeds: list[int]
    train: Tensor
    test: Tensor
    features: Tensor | None


def check_arm(arm: str) -> str:
    """Return ``arm`` or raise a ValueError naming it."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {list(ARMS)}")
    return arm


def transform_arm(
    samples: Tensor,
    features: Tensor | None,
    arm: str,
    *,
    ffn_expansion: int,
    gaussian_num_samples: int,
    gaussian_seed: int,
    ffn_seed: int,
) -> tuple[Tensor, Tensor | None]:
    """Apply an arm to base samples (N, d) and features (d, G).

    gaussian*: replace the samples by i.i.d. N(mean, std^2) with the samples' scalar
    mean/std (no ground truth). *ffn: push samples (and features, for MMCS) through one
    random, untrained d -> e*d -> d ReLU network.
    """
    check_arm(arm)
    if arm.startswith("gaussian"):
        samples = gaussian_like(samples, gaussian_num_samples, gaussian_seed)
        features = None
    if arm.endswith("ffn"):
        net = random_ffn(samples.shape[1], ffn_expansion, ffn_seed)
        samples = apply_ffn(net, samples)
        if features is not None:
            features = apply_ffn(net, features.T).T
    return samples, features


@dataclass(frozen=True)
class ToyData:
    """What defines a toy dataset's samples: the toy part's seed and split, the random FFN, and
    the synthetic data's settings (``sharkey``) or the Gaussian control's size
    (``gaussian_num_samples``; None for an embedding matrix: as many rows as the matrix)."""

    seed: int
    test_fraction: float
    ffn_expansion: int
    sharkey: SharkeyData | None = None
    gaussian_num_samples: int | None = None


def build_arm(
    dataset: str,
    arm: str,
    seeds: list[int],
    master_seed: int,
    *,
    test_fraction: float,
    ffn_expansion: int,
    sharkey: SharkeyData | None = None,
    vectors: Tensor | None = None,
    gaussian_num_samples: int | None = None,
) -> ArmData:
    """Per-seed data of one arm. Exactly one of ``sharkey`` (its sample settings) or ``vectors``
    (word vectors (N, d)) is given. As in the paper's code every seed redraws the synthetic
    data, the random FFN, the Gaussian control and the train/test split; word vectors are
    fixed. The data seed does not depend on the arm, so all arms of a seed share base data."""
    check_arm(arm)
    if (sharkey is None) == (vectors is None):
        raise ValueError("build_arm needs exactly one of sharkey or vectors")
    train, test, feats = [], [], []
    for s in seeds:
        if sharkey is not None:
            data = generate_sharkey(
                num_samples=sharkey.num_samples,
                num_inputs=sharkey.num_inputs,
                num_features=sharkey.num_features,
                avg_active_features=float(sharkey.avg_active_features),
                lambda_decay=float(sharkey.lambda_decay),
                seed=stable_seed(master_seed, dataset, "data", s),
            )
            base, base_feats = data.samples, data.features
            n_gauss = sharkey.num_samples
        else:
            base, base_feats = vectors, None
            n_gauss = int(gaussian_num_samples or vectors.shape[0])
        x, f = transform_arm(
            base,
            base_feats,
            arm,
            ffn_expansion=ffn_expansion,
            gaussian_num_samples=n_gauss,
            gaussian_seed=stable_seed(master_seed, dataset, "gaussian", s),
            ffn_seed=stable_seed(master_seed, dataset, "ffn", s),
        )
        tr, te = train_test_split(
            x.shape[0], test_fraction, stable_seed(master_seed, dataset, "split", s)
        )
        train.append(x[tr])
        test.append(x[te])
        feats.append(f)
    features = None if feats[0] is None else torch.stack(feats)
    return ArmData(
        seeds=list(seeds), train=torch.stack(train), test=torch.stack(test), features=features
    )


def train_stacked(
    x_train: Tensor,
    seed_index: list[int],
    l1_coefs: list[float],
    sae_seeds: list[int],
    n_latents: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str = "cpu",
) -> StackedSAE:
    """Train M = len(l1_coefs) SAEs at once. Model m reads data ``x_train[seed_index[m]]``
    ((S, N, d) stack), uses L1 coefficient ``l1_coefs[m]`` and initialises and shuffles from
    ``sae_seeds[m]``. Loss_m = MSE(x_hat, x) + l1_m * mean|z| (paper's toy code); Adam,
    reshuffled every epoch, last partial batch kept. Initialisation and shuffling use CPU
    generators, so results do not depend on ``device`` beyond float rounding."""
    m_count = len(l1_coefs)
    if not (len(seed_index) == len(sae_seeds) == m_count):
        raise ValueError("seed_index, l1_coefs and sae_seeds must have the same length")
    for key, val in (("epochs", epochs), ("batch_size", batch_size)):
        if int(val) < 1:
            raise ValueError(f"{key} must be >= 1, got {val!r}")
    n = x_train.shape[1]
    sae = StackedSAE(x_train.shape[2], n_latents, sae_seeds).to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, fused=True)  # one kernel per step (speed)
    x_train = x_train.to(device)
    coefs = torch.tensor(l1_coefs, dtype=x_train.dtype, device=device)
    gens = [generator(stable_seed(s, "shuffle")) for s in sae_seeds]
    rows = torch.tensor(seed_index, device=device)[:, None]
    for _ in range(epochs):
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)  # (M, N)
        for start in range(0, n, batch_size):
            x = x_train[rows, perms[:, start : start + batch_size]]  # (M, B, d)
            x_hat, z = sae(x)
            mse = ((x_hat - x) ** 2).mean(dim=(1, 2))
            l1 = z.abs().mean(dim=(1, 2))
            loss = (mse + coefs * l1).sum()  # sum: each model gets its own gradient
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sae.normalize_decoder()
    return sae


@torch.no_grad()
def evaluate_stacked(
    sae: StackedSAE,
    x_test: Tensor,
    seed_index: list[int],
    features: Tensor | list[Tensor | None] | None,
    batch_size: int,
) -> list[dict[str, float]]:
    """Per-model test metrics, averaged over test batches of ``batch_size`` (in order).
    ``features[si]``: ground truth of data row ``si`` (a (S, d, G) stack, or a list with None
    where a row has no ground truth)."""
    sae.normalize_decoder()
    device = sae.W_enc.device
    x_all = x_test[torch.tensor(seed_index)].to(device)  # (M, N_test, d)
    per_batch: list[list[dict[str, float]]] = [[] for _ in seed_index]
    for start in range(0, x_all.shape[1], batch_size):
        x = x_all[:, start : start + batch_size]
        x_hat, z = sae(x)
        for m in range(len(seed_index)):
            per_batch[m].append(batch_metrics(x[m], x_hat[m], z[m]))
    out = []
    for m, si in enumerate(seed_index):
        row = average_batches(per_batch[m])
        f = None if features is None else features[si]
        row["mmcs"] = float("nan") if f is None else mmcs(sae.W_dec[m], f.to(device))
        out.append(row)
    return out


def l1_coef_values(spec: L1CoefsConfig) -> list[float]:
    """The L1 coefficients: ``np.logspace(log10_min, log10_max, num)`` (paper: -3, 2, 21)."""
    return [float(c) for c in np.logspace(spec.log10_min, spec.log10_max, spec.num)]


def run_sweep(
    data: ArmData,
    *,
    dataset: str,
    arm: str,
    n_latents: int,
    sae_cfg: ToySAEConfig,
    master_seed: int,
    device: str = "cpu",
) -> pd.DataFrame:
    """Train and test every (seed, L1 coefficient) SAE of one (dataset, arm, n_latents); see
    :func:`run_sweep_arms`."""
    return run_sweep_arms(
        {arm: data},
        dataset=dataset,
        n_latents=n_latents,
        sae_cfg=sae_cfg,
        master_seed=master_seed,
        device=device,
    )


def _stack_arms(datas: dict[str, ArmData]) -> tuple[Tensor, Tensor, list, list]:
    """Every arm's per-seed data as one stack: (train (A*S, N, d), test, features per row or
    None, (arm, seed position) per row)."""
    rows = [(arm, si) for arm, d in datas.items() for si in range(len(d.seeds))]
    feats = [None if datas[a].features is None else datas[a].features[si] for a, si in rows]
    train = torch.cat([d.train for d in datas.values()])
    test = torch.cat([d.test for d in datas.values()])
    return train, test, feats, rows


def run_sweep_arms(
    datas: dict[str, ArmData],
    *,
    dataset: str,
    n_latents: int,
    sae_cfg: ToySAEConfig,
    master_seed: int,
    device: str = "cpu",
) -> pd.DataFrame:
    """Train and test every (arm, seed, L1 coefficient) SAE of one (dataset, n_latents).

    Arms whose data have equal shapes are stacked together: the models of every arm, seed and
    coefficient are trained ``sae_cfg.models_per_batch`` at a time in one vectorised loop
    (1 = one model per loop; the results do not depend on it, see ``StackedSAE``). Returns one
    row per model, with ``mmcs_baseline``: the MMCS of a dictionary of one direction, the mean of
    the model's training data (NaN without ground truth). It is the bar an SAE must clear to have
    recovered anything: after the random MLP the features are nearly parallel and this one
    direction already scores about 0.87 (docs/toy.md).
    """
    for arm in datas:
        check_arm(arm)
    if int(n_latents) < 1:
        raise ValueError(f"n_latents must be >= 1, got {n_latents!r}")
    per_batch = sae_cfg.models_per_batch
    shapes = {(tuple(d.train.shape), tuple(d.test.shape)) for d in datas.values()}
    if len(shapes) > 1:  # arms of different sizes: one stack per arm
        frames = [
            run_sweep_arms({a: d}, dataset=dataset, n_latents=n_latents, sae_cfg=sae_cfg,
                           master_seed=master_seed, device=device)
            for a, d in datas.items()
        ]  # fmt: skip
        return pd.concat(frames, ignore_index=True)
    coefs = l1_coef_values(sae_cfg.l1_coefs)
    train, test, feats, data_rows = _stack_arms(datas)

    def sae_seed(r: int) -> int:
        arm, si = data_rows[r]
        return stable_seed(master_seed, dataset, arm, n_latents, "sae", datas[arm].seeds[si])

    baseline = [  # a one-direction dictionary: the mean of the training data
        float("nan") if feats[r] is None else mmcs(train[r].mean(dim=0, keepdim=True), feats[r])
        for r in range(len(data_rows))
    ]
    jobs = [(ci, r) for ci in range(len(coefs)) for r in range(len(data_rows))]
    rows = []
    for start in range(0, len(jobs), per_batch):
        chunk = jobs[start : start + per_batch]
        seed_index = [r for _, r in chunk]
        t0 = time.perf_counter()
        sae = train_stacked(
            train,
            seed_index,
            [coefs[ci] for ci, _ in chunk],
            [sae_seed(r) for r in seed_index],
            int(n_latents),
            epochs=sae_cfg.epochs,
            batch_size=sae_cfg.batch_size,
            lr=float(sae_cfg.lr),
            device=device,
        )
        seconds = (time.perf_counter() - t0) / len(chunk)
        metrics = evaluate_stacked(sae, test, seed_index, feats, sae_cfg.batch_size)
        for (ci, r), met in zip(chunk, metrics, strict=True):
            arm, si = data_rows[r]
            rows.append(
                {
                    "dataset": dataset,
                    "arm": arm,
                    "n_latents": int(n_latents),
                    "seed": datas[arm].seeds[si],
                    "l1_coef": coefs[ci],
                    **met,
                    "mmcs_baseline": baseline[r],
                    "train_seconds": seconds,
                }
            )
    order = {a: i for i, a in enumerate(datas)}
    df = pd.DataFrame(rows)
    df = df.sort_values(
        ["arm", "seed", "l1_coef"],
        key=lambda c: c.map(order) if c.name == "arm" else c,
        kind="stable",
    )
    return df.reset_index(drop=True)
