"""Weight transforms behind the inits (:mod:`randsae.models.inits`): re-randomization and
permutation per Hugging Face tensor, the architecture's own initializer, and the noise-control
embedding hook."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from randsae.seeds import stable_seed

LAYER_NORM_MARKERS = ("ln1", "ln2", "ln_final", "layernorm", "layer_norm")


def is_embedding(name: str) -> bool:
    """The authors skip any parameter whose name contains 'embed' (embed_in and embed_out)."""
    return "embed" in name.lower()


def is_layer_norm(name: str) -> bool:
    lname = name.lower()
    return any(m in lname for m in LAYER_NORM_MARKERS)


def _sample(
    shape: torch.Size, mean: float, std: float, dist: str, gen: torch.Generator
) -> torch.Tensor:
    if dist == "normal":
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean
    if dist == "uniform":  # U(mean - sqrt(3) std, mean + sqrt(3) std) has the same mean and std
        half = math.sqrt(3.0) * std
        return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * half + mean
    if dist == "laplace":  # Laplace(mean, b) has std b * sqrt(2)
        u = torch.rand(shape, generator=gen, dtype=torch.float64).clamp(1e-12, 1 - 1e-12) - 0.5
        b = std / math.sqrt(2.0)
        return (mean - b * torch.sign(u) * torch.log1p(-2 * u.abs())).to(torch.float32)
    raise ValueError(f"init.distribution: unknown distribution {dist!r}")


#: Which Hugging Face GPT-NeoX tensor each transformer-lens parameter comes from
#: (``transformer_lens.pretrained.weight_conversions.neox.convert_neox_weights``). GPT-NeoX keeps
#: Q, K and V of a layer in one fused ``query_key_value`` weight (and one bias), so W_Q, W_K and
#: W_V map to one HF tensor. ``unembed.b_U`` has none (transformer-lens adds zeros).
HF_NEOX_TENSORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), hf)
    for pattern, hf in (
        (r"embed\.W_E", "gpt_neox.embed_in.weight"),
        (r"blocks\.(\d+)\.ln1\.w", "gpt_neox.layers.{0}.input_layernorm.weight"),
        (r"blocks\.(\d+)\.ln1\.b", "gpt_neox.layers.{0}.input_layernorm.bias"),
        (r"blocks\.(\d+)\.attn\.W_[QKV]", "gpt_neox.layers.{0}.attention.query_key_value.weight"),
        (r"blocks\.(\d+)\.attn\.b_[QKV]", "gpt_neox.layers.{0}.attention.query_key_value.bias"),
        (r"blocks\.(\d+)\.attn\.W_O", "gpt_neox.layers.{0}.attention.dense.weight"),
        (r"blocks\.(\d+)\.attn\.b_O", "gpt_neox.layers.{0}.attention.dense.bias"),
        (r"blocks\.(\d+)\.ln2\.w", "gpt_neox.layers.{0}.post_attention_layernorm.weight"),
        (r"blocks\.(\d+)\.ln2\.b", "gpt_neox.layers.{0}.post_attention_layernorm.bias"),
        (r"blocks\.(\d+)\.mlp\.W_in", "gpt_neox.layers.{0}.mlp.dense_h_to_4h.weight"),
        (r"blocks\.(\d+)\.mlp\.b_in", "gpt_neox.layers.{0}.mlp.dense_h_to_4h.bias"),
        (r"blocks\.(\d+)\.mlp\.W_out", "gpt_neox.layers.{0}.mlp.dense_4h_to_h.weight"),
        (r"blocks\.(\d+)\.mlp\.b_out", "gpt_neox.layers.{0}.mlp.dense_4h_to_h.bias"),
        (r"ln_final\.w", "gpt_neox.final_layer_norm.weight"),
        (r"ln_final\.b", "gpt_neox.final_layer_norm.bias"),
        # ``embed_out.weight`` before transformers 5.14 (the name the authors' "embed" filter saw)
        (r"unembed\.W_U", "lm_head.weight"),
    )
)


def hf_tensor_name(name: str) -> str | None:
    """The HF GPT-NeoX tensor a transformer-lens parameter comes from (None: no HF tensor)."""
    for pattern, hf in HF_NEOX_TENSORS:
        m = pattern.fullmatch(name)
        if m:
            return hf.format(*m.groups())
    return None


@torch.no_grad()
def rerandomize(
    model: torch.nn.Module,
    *,
    include_embeddings: bool,
    include_layer_norm: bool,
    seed: int,
    scale: float = 1.0,
    distribution: str = "normal",
) -> dict[str, dict[str, Any]]:
    """Resample parameters in place from N(mean, (scale*std)^2) of their HF tensor's values.

    As the authors resampled each Hugging Face tensor, mean and (unbiased) std are pooled over
    the transformer-lens parameters that come from one HF tensor (:func:`hf_tensor_name`: Q, K
    and V of a layer share the fused ``query_key_value`` statistics); a parameter without an HF
    tensor is its own group. Statistics are computed in float64 before anything is resampled.
    Samples are drawn on the CPU in fp32 from one seeded generator in ``named_parameters`` order,
    so the result is identical on any device and at every stage.

    Returns ``{name: {"hf_tensor", "mean", "std", "scale", "distribution"}}`` for every resampled
    parameter (``std`` before ``scale``).
    """
    chosen = _chosen(model, include_embeddings, include_layer_norm)
    groups: dict[str, list[torch.Tensor]] = {}
    for name, p in chosen:
        groups.setdefault(hf_tensor_name(name) or name, []).append(p)
    stats: dict[str, tuple[float, float]] = {}
    for key, members in groups.items():
        vals = torch.cat(
            [m.detach().to(device="cpu", dtype=torch.float64).reshape(-1) for m in members]
        )
        mean = float(vals.mean())
        stats[key] = (mean, float(vals.std()) if vals.numel() > 1 else 0.0)
        del vals
    gen = torch.Generator().manual_seed(seed)
    changed: dict[str, dict[str, Any]] = {}
    for name, p in chosen:
        key = hf_tensor_name(name) or name
        mean, std = stats[key]
        new = _sample(p.shape, mean, std * scale, distribution, gen)
        p.copy_(new.to(device=p.device, dtype=p.dtype))
        changed[name] = {
            "hf_tensor": key,
            "mean": mean,
            "std": std,
            "scale": scale,
            "distribution": distribution,
        }
    return changed


def _chosen(model: torch.nn.Module, include_embeddings: bool, include_layer_norm: bool):
    return [
        (name, p)
        for name, p in model.named_parameters()
        if (include_embeddings or not is_embedding(name))
        and (include_layer_norm or not is_layer_norm(name))
    ]


@torch.no_grad()
def permute(
    model: torch.nn.Module, *, include_embeddings: bool, include_layer_norm: bool, seed: int
) -> dict[str, dict[str, Any]]:
    """Randomly permute the entries of every HF tensor in place (exact multiset kept).

    The transformer-lens parameters of one HF tensor (:func:`hf_tensor_name`: W_Q, W_K and W_V
    of the fused ``query_key_value``) are permuted jointly, as one tensor; a parameter without
    an HF tensor is its own group. One seeded CPU generator draws the permutations in
    ``named_parameters`` order of each group's first member, so the result does not depend on
    the device. Returns ``{name: {"hf_tensor", "permuted": True}}`` per permuted parameter.
    """
    groups: dict[str, list[tuple[str, torch.Tensor]]] = {}
    for name, p in _chosen(model, include_embeddings, include_layer_norm):
        groups.setdefault(hf_tensor_name(name) or name, []).append((name, p))
    gen = torch.Generator().manual_seed(seed)
    changed: dict[str, dict[str, Any]] = {}
    for key, members in groups.items():
        flat = torch.cat([p.detach().to("cpu").reshape(-1) for _, p in members])
        flat = flat[torch.randperm(flat.numel(), generator=gen)]
        start = 0
        for name, p in members:
            n = p.numel()
            p.copy_(flat[start : start + n].view(p.shape).to(device=p.device, dtype=p.dtype))
            start += n
            changed[name] = {"hf_tensor": key, "permuted": True}
    return changed


def hf_neox_config(cfg: Any, initializer_range: float = 0.02) -> Any:
    """The ``transformers`` ``GPTNeoXConfig`` of a transformer-lens GPT-NeoX model's shape."""
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=cfg.d_vocab,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.d_mlp,
        hidden_act="gelu",
        rotary_pct=cfg.rotary_dim / cfg.d_head,
        max_position_embeddings=cfg.n_ctx,
        initializer_range=initializer_range,
        layer_norm_eps=cfg.eps,
        use_parallel_residual=True,
        tie_word_embeddings=False,
    )


@torch.no_grad()
def standard_init_weights(
    model: Any, *, seed: int, initializer_range: float = 0.02
) -> dict[str, dict[str, Any]]:
    """Overwrite ``model`` with a freshly initialised ``GPTNeoXForCausalLM`` of its shape.

    The HF model is built on the CPU in fp32 under ``torch.random.fork_rng`` seeded with
    ``seed`` (HF's ``_init_weights``: N(0, initializer_range^2) for linear and embedding
    weights, zero biases, LayerNorm weight 1 and bias 0), then converted with transformer-lens's
    ``convert_neox_weights``. Returns ``{name: {"hf_tensor", "initializer_range"}}``.
    """
    from transformer_lens.pretrained.weight_conversions.neox import convert_neox_weights
    from transformers import GPTNeoXForCausalLM

    hf_cfg = hf_neox_config(model.cfg, initializer_range)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        hf_model = GPTNeoXForCausalLM(hf_cfg).float()
    state = convert_neox_weights(hf_model, model.cfg)
    params = dict(model.named_parameters())
    changed: dict[str, dict[str, Any]] = {}
    for name, t in state.items():
        if name not in params:
            continue
        p = params[name]
        p.copy_(t.detach().reshape(p.shape).to(device=p.device, dtype=p.dtype))
        changed[name] = {"hf_tensor": hf_tensor_name(name), "initializer_range": initializer_range}
    del hf_model
    return changed


class NoiseEmbedding:
    """``hook_embed`` hook replacing the token-embedding output by N(0, std^2) noise.

    The noise of a sequence comes from a generator seeded by ``stable_seed(seed, index)``, where
    ``index`` is the sequence's position in the stage's token array: callers :meth:`seek` to the
    first sequence of a forward pass (``randsae.sae.activations.residual_batches`` does), and
    without a seek each pass continues after the previous one. So every pass gets fresh noise
    (the paper's ``NoiseEmbeddingModel``), yet a sequence gets the same noise whatever the batch
    grid or visiting order (the activation cache and the shuffled stream source agree bit for
    bit), and recomputing a batch reproduces it.
    """

    def __init__(self, std: float, seed: int) -> None:
        self.std = float(std)
        self.seed = int(seed)
        self.next_seq = 0
        self._ids: list[int] | None = None

    def seek(self, seq_index: int | Sequence[int]) -> None:
        """The next pass's first sequence index, or the index of each of its sequences."""
        if isinstance(seq_index, (int, np.integer)):
            self.next_seq, self._ids = int(seq_index), None
        else:
            self._ids = [int(i) for i in seq_index]

    def __call__(self, value: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG002
        b = value.shape[0]
        if self._ids is not None:
            if len(self._ids) != b:
                raise ValueError(f"noise control: {len(self._ids)} sequence ids for a batch of {b}")
            ids, self._ids = self._ids, None
        else:
            ids = list(range(self.next_seq, self.next_seq + b))
        self.next_seq = ids[-1] + 1
        rows = []
        for i in ids:
            gen = torch.Generator().manual_seed(stable_seed(self.seed, i))
            rows.append(torch.randn(value.shape[1:], generator=gen, dtype=torch.float32))
        noise = torch.stack(rows) * self.std
        return noise.to(device=value.device, dtype=value.dtype)


def noise_embedding_hook(std: float, seed: int) -> tuple[str, NoiseEmbedding]:
    """The noise control's ``(hook name, hook)`` pair (see :class:`NoiseEmbedding`)."""
    return ("hook_embed", NoiseEmbedding(std, seed))
