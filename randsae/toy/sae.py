"""A stack of M independent L1 ReLU SAEs trained together (one bmm per layer for all M).

Architecture as in the paper's toy code: each input is standardised by its own mean and std
across dimensions (undone on the output); encoder Linear(d -> n) with bias and ReLU; decoder
Linear(n -> d) without bias, orthogonal init, unit-norm decoder directions re-imposed before
every forward pass. Model m's parameters depend only on its own seed, so a stack of M models
trains exactly like M separate models (Adam is elementwise; the losses are summed).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from randsae.toy.data import generator

EPS = 1e-8


def standardize(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row standardisation over the last dim; returns (x_std, mean, std)."""
    mean = x.mean(dim=-1, keepdim=True)
    xc = x - mean
    std = xc.std(dim=-1, keepdim=True)
    return xc / (std + EPS), mean, std


class StackedSAE(nn.Module):
    """M ReLU SAEs. Shapes: W_enc (M, d, n), b_enc (M, 1, n), W_dec (M, n, d).

    Row ``W_dec[m, j]`` is latent j's decoder direction (a column of the decoder matrix in
    ``nn.Linear`` convention).
    """

    def __init__(self, d: int, n_latents: int, seeds: list[int]) -> None:
        super().__init__()
        if d < 1:
            raise ValueError(f"d must be >= 1, got {d!r}")
        if n_latents < 1:
            raise ValueError(f"n_latents must be >= 1, got {n_latents!r}")
        if not seeds:
            raise ValueError("seeds must be a non-empty list")
        w_enc, b_enc, w_dec = [], [], []
        bound = 1.0 / d**0.5  # nn.Linear default init bound for fan_in = d
        for s in seeds:
            g = generator(s)
            w = torch.empty(n_latents, d).uniform_(-bound, bound, generator=g)
            b = torch.empty(n_latents).uniform_(-bound, bound, generator=g)
            dec = torch.empty(d, n_latents)
            nn.init.orthogonal_(dec, generator=g)
            w_enc.append(w.T)
            b_enc.append(b[None, :])
            w_dec.append(dec.T)
        self.W_enc = nn.Parameter(torch.stack(w_enc).contiguous())
        self.b_enc = nn.Parameter(torch.stack(b_enc).contiguous())
        self.W_dec = nn.Parameter(torch.stack(w_dec).contiguous())
        self.normalize_decoder()

    @property
    def n_models(self) -> int:
        return self.W_enc.shape[0]

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Re-impose unit-norm decoder directions (outside autograd, as in the paper's code)."""
        norm = self.W_dec.norm(dim=-1, keepdim=True).clamp_min(EPS)
        self.W_dec.div_(norm)

    def encode(self, x: Tensor) -> Tensor:
        """Latents z (M, B, n) of raw inputs x (M, B, d)."""
        xs, _, _ = standardize(x)
        return torch.relu(torch.baddbmm(self.b_enc, xs, self.W_enc))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (x_hat, z) for inputs x (M, B, d); x_hat is in the raw input scale."""
        self.normalize_decoder()
        xs, mean, std = standardize(x)
        z = torch.relu(torch.baddbmm(self.b_enc, xs, self.W_enc))
        x_hat = torch.bmm(z, self.W_dec) * std + mean
        return x_hat, z

    def state_of(self, m: int) -> dict[str, Tensor]:
        """Model m's parameters as plain tensors (W_enc (d, n), b_enc (n,), W_dec (n, d))."""
        return {
            "W_enc": self.W_enc[m].detach().clone(),
            "b_enc": self.b_enc[m, 0].detach().clone(),
            "W_dec": self.W_dec[m].detach().clone(),
        }
