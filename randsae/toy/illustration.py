"""Data of the 2-D illustration: 3 sparse features in 2-D through a random 2 -> 8 -> 2 MLP."""

from __future__ import annotations

import pandas as pd
import torch

from randsae.seeds import stable_seed
from randsae.toy.data import generator, lomax, random_signs, require_positive
from randsae.toy.ffn import apply_ffn, random_ffn


def illustration_2d(
    seed: int,
    num_samples: int,
    num_features: int = 3,
    num_dims: int = 2,
    hidden_expansion: int = 4,
    lomax_scale: float = 1.0,
    lomax_alpha: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """The four panels of the 2-D figure as DataFrames.

    sparse_inputs (N, F): Lomax magnitudes times random signs; dense_inputs (N, D) = W x
    with a random linear map W (D, F); dense_outputs = ffn(dense_inputs); sparse_outputs
    = pinv(W) ffn(W x), the outputs mapped back to the feature basis.
    """
    require_positive(num_samples=num_samples, num_features=num_features, num_dims=num_dims)
    g = generator(stable_seed(seed, "2d", "data"))
    bound = 1.0 / num_features**0.5  # nn.Linear(F, D, bias=False) default init
    embed = torch.empty(num_dims, num_features).uniform_(-bound, bound, generator=g)
    sparse = lomax((num_samples, num_features), lomax_scale, lomax_alpha, g)
    sparse = sparse * random_signs((num_samples, num_features), g)
    dense = sparse @ embed.T
    net = random_ffn(num_dims, hidden_expansion, stable_seed(seed, "2d", "ffn"))
    dense_out = apply_ffn(net, dense)
    sparse_out = dense_out @ torch.linalg.pinv(embed).T
    fcols = ["f1", "f2", "f3"] if num_features == 3 else [f"f{i + 1}" for i in range(num_features)]
    dcols = [f"x{i + 1}" for i in range(num_dims)]
    return {
        "sparse_inputs": pd.DataFrame(sparse.numpy(), columns=fcols),
        "dense_inputs": pd.DataFrame(dense.numpy(), columns=dcols),
        "dense_outputs": pd.DataFrame(dense_out.numpy(), columns=dcols),
        "sparse_outputs": pd.DataFrame(sparse_out.numpy(), columns=fcols),
    }


def long_table(panels: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All panels in one long CSV-ready table: panel, sample, then the coordinates."""
    frames = []
    for name, df in panels.items():
        frame = df.copy()
        frame.insert(0, "sample", range(len(df)))
        frame.insert(0, "panel", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
