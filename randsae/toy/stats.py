"""The toy datasets of one (dataset, arm): per-seed train/test data (synthetic data, word vectors
or a token-embedding matrix) and their descriptive statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from randsae.toy.config import parse_dataset

if TYPE_CHECKING:
    from randsae.toy.train import ToyData


def load_vectors(path: str | None):
    """Word vectors (.npy) as a float32 tensor."""
    import torch

    if not path:
        raise ValueError("word datasets need an input vectors file")
    arr = np.load(path)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def arm_data(dataset: str, arm: str, seeds: list[int], data: ToyData, vectors: str | None):
    """Per-seed data of one arm (synthetic data, word vectors or an embedding matrix)."""
    from randsae.toy.train import build_arm

    kwargs = dict(test_fraction=data.test_fraction, ffn_expansion=data.ffn_expansion)
    if parse_dataset(dataset)[0] == "sharkey":
        return build_arm(dataset, arm, seeds, data.seed, sharkey=data.sharkey, **kwargs)
    return build_arm(
        dataset,
        arm,
        seeds,
        data.seed,
        vectors=load_vectors(vectors),
        gaussian_num_samples=data.gaussian_num_samples,
        **kwargs,
    )


def data_stats(
    dataset: str, arms: list[str], n_seeds: int, data: ToyData, vectors: str | None
) -> pd.DataFrame:
    """Descriptive statistics of every (arm, seed) dataset: sizes, mean, std, feature norms
    and, for the synthetic data, the mean number of active features."""
    import torch

    from randsae.toy.train import check_arm

    rows = []
    for arm in arms:
        ad = arm_data(dataset, check_arm(arm), list(range(n_seeds)), data, vectors)
        for i, seed in enumerate(ad.seeds):
            x = torch.cat([ad.train[i], ad.test[i]])
            row = {
                "dataset": dataset,
                "arm": arm,
                "seed": seed,
                "n_train": ad.train.shape[1],
                "n_test": ad.test.shape[1],
                "dim": x.shape[1],
                "mean": x.mean().item(),
                "std": x.std().item(),
                "mean_row_norm": x.norm(dim=1).mean().item(),
                "n_ground_truth": 0 if ad.features is None else ad.features.shape[2],
                "mean_feature_norm": float("nan")
                if ad.features is None
                else ad.features[i].norm(dim=0).mean().item(),
            }
            rows.append(row)
    df = pd.DataFrame(rows)
    if parse_dataset(dataset)[0] == "sharkey":
        from randsae.seeds import stable_seed
        from randsae.toy.data import generate_sharkey

        active = {}
        for seed in range(n_seeds):
            sk = data.sharkey
            sd = generate_sharkey(
                sk.num_samples,  # type: ignore[union-attr]
                sk.num_inputs,  # type: ignore[union-attr]
                sk.num_features,  # type: ignore[union-attr]
                float(sk.avg_active_features),  # type: ignore[union-attr]
                float(sk.lambda_decay),  # type: ignore[union-attr]
                stable_seed(data.seed, dataset, "data", seed),
            )
            active[seed] = (sd.coefficients > 0).float().sum(dim=1).mean().item()
        df["mean_active_features"] = df["seed"].map(active)
    return df
