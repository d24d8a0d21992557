"""The paper's model variants ("inits"), one function each, all seeded from config.

- ``trained``: the trained weights.
- ``step0``: the weights at initialization (Pythia's ``step0`` revision; the embedded model's saved
  init weights).
- ``rerandomized``: every parameter tensor except the input embedding and unembedding resampled
  i.i.d. from N(mean, std) of the trained values of its Hugging Face tensor (Q, K and V share
  their layer's fused ``query_key_value`` statistics) (the authors' ``RerandomizedModel``: names
  containing "embed" are skipped, layer norms per ``rerandomize_layer_norm``).
- ``rerandomized_embeddings``: the same, embeddings included.
- ``noise_control``: trained weights, but the token-embedding output is replaced by fresh i.i.d.
  N(0, noise_std^2) noise on every forward pass (the model never sees the tokens). Each stage
  draws from its own noise stream (``NOISE_STREAMS``: SAE training, evaluation, examples), so the
  held-out activations are never the training activations; within a stream, the noise of a
  sequence depends only on its index (see :class:`NoiseEmbedding`).

Beyond the paper (issue "nulls"):

- ``permuted``: the entries of every Hugging Face tensor (Q, K and V permuted jointly within the
  fused ``query_key_value``) randomly permuted: each tensor keeps its exact multiset of values
  (so every moment), only their positions are random. Embeddings and unembedding are kept;
  layer norms follow ``rerandomize_layer_norm`` as for re-randomization.
- ``permuted_embeddings``: the same, embeddings and unembedding permuted too.
- ``standard_init``: the architecture's own initializer: a ``transformers``
  ``GPTNeoXForCausalLM`` built from the model's shape with a seeded generator
  (``initializer_range`` of the HF config, 0.02 for every Pythia model), converted to
  transformer-lens. No moment is matched to the trained weights. How it differs from ``step0``:
  docs/inits.md.

Rerandomization also takes a scale multiplier on the std and a distribution with the
same mean and std (normal, uniform, laplace).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from randsae.config import InitSpec, parse_init, stable_seed

LAYER_NORM_MARKERS = ("ln1", "ln2", "ln_final", "layernorm", "layer_norm")

#: Noise streams of the noise control, one per stage that runs the model on tokens: SAE training
#: (the activation cache and stream mode share it, so both sources stay bit-identical), the
#: held-out evaluation, and the latent examples.
NOISE_STREAMS = ("train", "eval", "examples")


@dataclass
class LoadedModel:
    """A model plus the forward hooks that must be active on every forward pass."""

    model: Any
    fwd_hooks: list[tuple[str, Any]] = field(default_factory=list)
    #: Re-randomization: the distribution parameters each resampled parameter was drawn from.
    resampled: dict[str, dict[str, Any]] = field(default_factory=dict)

    def seek(self, seq_index: int | Sequence[int]) -> None:
        """Tell stateful hooks (the noise control) the sequence indices of the next pass."""
        for _name, fn in self.fwd_hooks:
            if hasattr(fn, "seek"):
                fn.seek(seq_index)


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


def noise_seed(init_cfg: dict[str, Any], model_name: str, init_name: str, stream: str) -> int:
    """Seed of one stage's noise stream; distinct per (model, init, stream)."""
    if stream not in NOISE_STREAMS:
        raise ValueError(f"noise stream must be one of {NOISE_STREAMS}, got {stream!r}")
    return stable_seed(init_cfg["seed"], "noise", model_name, init_name, stream)


InitBuilder = Callable[[Any, InitSpec, dict[str, Any], str, str], LoadedModel]
"""``builder(base_model, spec, init_cfg, model_name, noise_stream) -> LoadedModel``."""

#: One builder per base init name (``randsae.config.BASE_INITS``); a new init is one function
#: registered with :func:`register_init`.
INIT_BUILDERS: dict[str, InitBuilder] = {}


def register_init(*bases: str) -> Callable[[InitBuilder], InitBuilder]:
    def deco(fn: InitBuilder) -> InitBuilder:
        for base in bases:
            if base in INIT_BUILDERS:
                raise ValueError(f"init {base!r} registered twice")
            INIT_BUILDERS[base] = fn
        return fn

    return deco


def init_seed(init_cfg: dict[str, Any], model_name: str, init_name: str) -> int:
    """Seed of an init's weight transform (re-randomization)."""
    return stable_seed(init_cfg["seed"], model_name, init_name)


@register_init("trained", "step0")
def _unchanged(model: Any, spec: InitSpec, init_cfg: dict, model_name: str, stream: str):  # noqa: ARG001
    return LoadedModel(model)


@register_init("rerandomized", "rerandomized_embeddings")
def _rerandomized(model: Any, spec: InitSpec, init_cfg: dict, model_name: str, stream: str):  # noqa: ARG001
    resampled = rerandomize(
        model,
        include_embeddings=spec.base == "rerandomized_embeddings",
        include_layer_norm=init_cfg["rerandomize_layer_norm"],
        seed=init_seed(init_cfg, model_name, spec.name),
        scale=spec.scale,
        distribution=spec.distribution,
    )
    return LoadedModel(model, resampled=resampled)


@register_init("permuted", "permuted_embeddings")
def _permuted(model: Any, spec: InitSpec, init_cfg: dict, model_name: str, stream: str):  # noqa: ARG001
    changed = permute(
        model,
        include_embeddings=spec.base == "permuted_embeddings",
        include_layer_norm=init_cfg["rerandomize_layer_norm"],
        seed=init_seed(init_cfg, model_name, spec.name),
    )
    return LoadedModel(model, resampled=changed)


@register_init("standard_init")
def _standard_init(model: Any, spec: InitSpec, init_cfg: dict, model_name: str, stream: str):  # noqa: ARG001
    changed = standard_init_weights(
        model,
        seed=init_seed(init_cfg, model_name, spec.name),
    )
    return LoadedModel(model, resampled=changed)


@register_init("noise_control")
def _noise_control(model: Any, spec: InitSpec, init_cfg: dict, model_name: str, stream: str):
    stream_seed = noise_seed(init_cfg, model_name, spec.name, stream)
    return LoadedModel(model, [noise_embedding_hook(init_cfg["noise_std"], stream_seed)])


def apply_init(
    model: Any,
    spec: InitSpec,
    init_cfg: dict[str, Any],
    model_name: str,
    *,
    noise_stream: str = "train",
) -> LoadedModel:
    """Turn a base model (trained or step-0 weights) into the requested variant.

    ``noise_stream`` picks the noise control's stream (``NOISE_STREAMS``); other inits ignore it.
    """
    builder = INIT_BUILDERS.get(spec.base)
    if builder is None:
        raise ValueError(f"unknown init {spec.name!r}")
    return builder(model, spec, init_cfg, model_name, noise_stream)


def load_model(
    model_name: str,
    init_name: str,
    config: dict[str, Any],
    *,
    device: str = "cpu",
    models_dir: str | Path = "results/models",
    noise_stream: str = "train",
    init_json: str | Path | None = None,
) -> LoadedModel:
    """Build (model, init) deterministically: base weights, then the seeded variant transform.

    ``noise_stream``: the stage's noise stream for the noise control (``NOISE_STREAMS``).
    ``init_json``: the ``build_init`` record of this (model, init); the rebuilt weights must
    have its ``weights_sha256`` (:func:`check_weights_digest`).
    """
    from randsae.models.neox import load_pythia, load_saved_model

    mcfg = config["models"][model_name]
    spec = parse_init(init_name, config["init"])
    dtype = mcfg.get("dtype", "float32")
    base_is_step0 = spec.base == "step0"
    if mcfg["source"] == "embedded":
        sub = "step0" if base_is_step0 else "trained"
        model = load_saved_model(Path(models_dir) / model_name / sub, device=device, dtype=dtype)
    else:
        model = load_pythia(mcfg["hf_name"], step0=base_is_step0, device=device, dtype=dtype)
    lm = apply_init(model, spec, config["init"], model_name, noise_stream=noise_stream)
    if init_json is not None:
        check_weights_digest(lm, init_json, model_name, init_name)
    return lm


def check_weights_digest(
    lm: LoadedModel, init_json: str | Path, model_name: str, init_name: str
) -> None:
    """Raise unless ``lm``'s weights have the digest recorded by ``build_init`` in ``init_json``.

    Every stage rebuilds (model, init) from the base weights and the seeded transform; a changed
    hub revision, base checkpoint or init code would silently give another model than the one
    the record (and the earlier stages) describe.
    """
    import json

    rec = json.loads(Path(init_json).read_text())
    recorded = rec.get("weights_sha256")
    if recorded is None:
        raise ValueError(f"{init_json}: no weights_sha256 recorded")
    now = weights_digest(lm.model)
    if now != recorded:
        raise ValueError(
            f"model {model_name!r} init {init_name!r}: the rebuilt weights (sha256 {now[:12]}…) "
            f"differ from those recorded in {init_json} (sha256 {recorded[:12]}…): the base "
            "weights or the init code changed since the record was written. Rebuild the record "
            f"and everything after it: snakemake {init_json} --forcerun build_init, then rerun "
            "the workflow."
        )


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over all parameters (names, shapes, bytes) — equal iff weights are identical."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        t = p.detach().float().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def param_stats(model: torch.nn.Module) -> dict[str, dict[str, float]]:
    """Per-parameter mean/std/mean|w| (the v2 trained-vs-step0 statistics table)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach().float()
        out[name] = {
            "mean": float(t.mean()),
            "std": float(t.std()) if t.numel() > 1 else 0.0,
            "abs_mean": float(t.abs().mean()),
            "numel": t.numel(),
        }
    return out


def init_record(lm: LoadedModel, model_name: str, init_name: str, config: dict[str, Any]) -> dict:
    """What the ``build_init`` rule writes: digest, stats and the settings of the variant."""
    spec = parse_init(init_name, config["init"])
    return {
        "model": model_name,
        "init": init_name,
        "base": spec.base,
        "scale": spec.scale,
        "distribution": spec.distribution,
        "seed": init_seed(config["init"], model_name, init_name),
        "n_params": sum(p.numel() for p in lm.model.parameters()),
        "n_layers": lm.model.cfg.n_layers,
        "d_model": lm.model.cfg.d_model,
        "d_vocab": lm.model.cfg.d_vocab,
        "noise_hook": bool(lm.fwd_hooks),
        "weights_sha256": weights_digest(lm.model),
        "param_stats": param_stats(lm.model),
        "resampled": lm.resampled,
    }
