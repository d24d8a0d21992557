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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from randsae.errors import ConfigError
from randsae.seeds import stable_seed

if TYPE_CHECKING:
    import torch

    from randsae.sections import InitConfig, ModelSource

#: Noise streams of the noise control, one per stage that runs the model on tokens: SAE training
#: (the activation cache and stream mode share it, so both sources stay bit-identical), the
#: held-out evaluation, and the latent examples.
NOISE_STREAMS = ("train", "eval", "examples")
#: Distributions of re-randomization (same mean and std as the trained tensor).
DISTRIBUTIONS = ("normal", "uniform", "laplace")


@dataclass(frozen=True)
class InitSpec:
    """A parsed init name."""

    name: str
    base: str
    scale: float
    distribution: str

    @property
    def rerandomizes(self) -> bool:
        return self.base in RESAMPLED_INITS


@dataclass
class LoadedModel:
    """A model plus the forward hooks that must be active on every forward pass."""

    model: Any
    fwd_hooks: list[tuple[str, Any]] = field(default_factory=list)
    #: Re-randomization: the distribution parameters each resampled parameter was drawn from.
    resampled: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The hooks of a noise stream (``NOISE_STREAMS``), for inits whose hooks depend on it.
    stream_hooks: Callable[[str], list[tuple[str, Any]]] | None = None

    def with_stream(self, stream: str) -> LoadedModel:
        """The same weights with the hooks of noise stream ``stream`` (fresh hook state): what
        ``load_model(..., noise_stream=stream)`` builds, without loading the weights again."""
        if self.stream_hooks is None:
            return self
        return replace(self, fwd_hooks=self.stream_hooks(stream))

    def seek(self, seq_index: int | Sequence[int]) -> None:
        """Tell stateful hooks (the noise control) the sequence indices of the next pass."""
        for _name, fn in self.fwd_hooks:
            if hasattr(fn, "seek"):
                fn.seek(seq_index)


def noise_seed(init_cfg: InitConfig, model_name: str, init_name: str, stream: str) -> int:
    """Seed of one stage's noise stream; distinct per (model, init, stream)."""
    if stream not in NOISE_STREAMS:
        raise ValueError(f"noise stream must be one of {NOISE_STREAMS}, got {stream!r}")
    return stable_seed(init_cfg.seed, "noise", model_name, init_name, stream)


InitBuilder = Callable[[Any, InitSpec, "InitConfig", str, str], LoadedModel]
"""``builder(base_model, spec, init_cfg, model_name, noise_stream) -> LoadedModel``."""

#: One builder per base init name: the one list of init names (the config's init-name grammar,
#: :func:`parse_init`, is derived from it). A new init is one function registered with
#: :func:`register_init`.
INIT_BUILDERS: dict[str, InitBuilder] = {}
#: Base names that take the '-x<scale>' and '-<distribution>' suffixes (they resample weights).
RESAMPLED_INITS: set[str] = set()


def register_init(*bases: str, resampled: bool = False) -> Callable[[InitBuilder], InitBuilder]:
    def deco(fn: InitBuilder) -> InitBuilder:
        for base in bases:
            if base in INIT_BUILDERS:
                raise ValueError(f"init {base!r} registered twice")
            INIT_BUILDERS[base] = fn
            if resampled:
                RESAMPLED_INITS.add(base)
        return fn

    return deco


def init_seed(init_cfg: InitConfig, model_name: str, init_name: str) -> int:
    """Seed of an init's weight transform (re-randomization)."""
    return stable_seed(init_cfg.seed, model_name, init_name)


@register_init("trained", "step0")
def _unchanged(model: Any, spec: InitSpec, init_cfg: InitConfig, model_name: str, stream: str):  # noqa: ARG001
    return LoadedModel(model)


@register_init("permuted", "permuted_embeddings")
@register_init("rerandomized", "rerandomized_embeddings", resampled=True)
def _transformed(model: Any, spec: InitSpec, init_cfg: InitConfig, model_name: str, stream: str):  # noqa: ARG001
    """Weights re-drawn (``rerandomized*``: same per-HF-tensor mean/std) or shuffled within each
    tensor (``permuted*``); the ``*_embeddings`` variants include the embeddings."""
    from randsae.models.transforms import permute, rerandomize

    family, _, embeddings = spec.base.partition("_")
    extra = {"scale": spec.scale, "distribution": spec.distribution}
    transform = rerandomize if family == "rerandomized" else permute
    changed = transform(
        model,
        include_embeddings=embeddings == "embeddings",
        include_layer_norm=init_cfg.rerandomize_layer_norm,
        seed=init_seed(init_cfg, model_name, spec.name),
        **(extra if family == "rerandomized" else {}),
    )
    return LoadedModel(model, resampled=changed)


@register_init("standard_init")
def _standard_init(model: Any, spec: InitSpec, init_cfg: InitConfig, model_name: str, stream: str):  # noqa: ARG001
    from randsae.models.transforms import standard_init_weights

    changed = standard_init_weights(
        model,
        seed=init_seed(init_cfg, model_name, spec.name),
    )
    return LoadedModel(model, resampled=changed)


@register_init("noise_control")
def _noise_control(model: Any, spec: InitSpec, init_cfg: InitConfig, model_name: str, stream: str):
    from randsae.models.transforms import noise_embedding_hook

    def hooks(stream: str) -> list[tuple[str, Any]]:
        seed = noise_seed(init_cfg, model_name, spec.name, stream)
        return [noise_embedding_hook(init_cfg.noise_std, seed)]

    return LoadedModel(model, hooks(stream), stream_hooks=hooks)


# ---------------------------------------------------------------- the init-name grammar
# A registered base name, then for the resampled ones an optional scale multiplier and
# distribution (beyond the paper, issue "init sweep"): rerandomized-x0.5-uniform,
# rerandomized_embeddings-x2, rerandomized-laplace.


def init_name_pattern() -> re.Pattern[str]:
    """The init names the registry accepts (longest base first, so that ``rerandomized`` does
    not shadow ``rerandomized_embeddings``)."""
    bases = "|".join(re.escape(b) for b in sorted(INIT_BUILDERS, key=len, reverse=True))
    return re.compile(
        rf"^(?P<base>{bases})"
        r"(?:-x(?P<scale>[0-9]+(?:\.[0-9]+)?))?"
        rf"(?:-(?P<dist>{'|'.join(DISTRIBUTIONS)}))?$"
    )


def parse_init(name: str, init_cfg: InitConfig | None = None) -> InitSpec:
    """Parse an init name; a name without a scale or distribution takes the ``init`` section's
    (without one, the paper's: scale 1, normal)."""
    m = init_name_pattern().match(name)
    if m is None:
        raise ConfigError(
            f"inits: unknown init name {name!r}; expected one of {', '.join(INIT_BUILDERS)} "
            f"({', '.join(sorted(RESAMPLED_INITS))} may add '-x<scale>' and "
            f"'-{'|-'.join(DISTRIBUTIONS)}')"
        )
    base = m.group("base")
    if (m.group("scale") or m.group("dist")) and base not in RESAMPLED_INITS:
        raise ConfigError(
            f"inits: {name!r}: scale/distribution suffixes apply to "
            f"{', '.join(sorted(RESAMPLED_INITS))} only"
        )
    scale = float(m.group("scale") or (init_cfg.scale if init_cfg is not None else 1.0))
    dist = m.group("dist") or (init_cfg.distribution if init_cfg is not None else "normal")
    return InitSpec(name=name, base=base, scale=scale, distribution=dist)


def apply_init(
    model: Any,
    spec: InitSpec,
    init_cfg: InitConfig,
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
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    *,
    device: str = "cpu",
    models_dir: str | Path = "results/models",
    noise_stream: str = "train",
    init_json: str | Path | None = None,
) -> LoadedModel:
    """Build (model, init) deterministically: base weights, then the seeded variant transform.

    ``model_cfg``: where the weights come from (``models.<name>``'s source keys); ``init``: the
    init name; ``noise_stream``: the stage's noise stream for the noise control
    (``NOISE_STREAMS``). ``init_json``: the ``build_init`` record of this (model, init); the
    rebuilt weights must have its ``weights_sha256`` (:func:`check_weights_digest`).
    """
    from randsae.models.neox import load_pythia, load_saved_model

    name = model_cfg.name
    spec = parse_init(init, init_cfg)
    base_is_step0 = spec.base == "step0"
    if model_cfg.source == "embedded":
        sub = "step0" if base_is_step0 else "trained"
        model = load_saved_model(
            Path(models_dir) / name / sub, device=device, dtype=model_cfg.dtype
        )
    else:
        model = load_pythia(
            model_cfg.hf_name, step0=base_is_step0, device=device, dtype=model_cfg.dtype
        )
    lm = apply_init(model, spec, init_cfg, name, noise_stream=noise_stream)
    if init_json is not None:
        check_weights_digest(lm, init_json, name, init)
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


def init_record(lm: LoadedModel, model_name: str, init_name: str, init_cfg: InitConfig) -> dict:
    """What the ``build_init`` rule writes: digest, stats and the settings of the variant."""
    spec = parse_init(init_name, init_cfg)
    return {
        "model": model_name,
        "init": init_name,
        "base": spec.base,
        "scale": spec.scale,
        "distribution": spec.distribution,
        "seed": init_seed(init_cfg, model_name, init_name),
        "n_params": sum(p.numel() for p in lm.model.parameters()),
        "n_layers": lm.model.cfg.n_layers,
        "d_model": lm.model.cfg.d_model,
        "d_vocab": lm.model.cfg.d_vocab,
        "noise_hook": bool(lm.fwd_hooks),
        "weights_sha256": weights_digest(lm.model),
        "param_stats": param_stats(lm.model),
        "resampled": lm.resampled,
    }
