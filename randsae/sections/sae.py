"""Sections of SAE training: ``activations`` and ``sae`` (families, normalisations, micro-batches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from randsae.errors import ConfigError

ARCHITECTURES = ("topk", "relu", "jumprelu", "gated", "batchtopk")
NORMALIZATIONS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")
#: Normalisations the TopK trainers support (a constant factor they can fold).
FUSED_NORMALIZATIONS = ("none", "expected_average_only_in")
#: sae-lens families (randsae.sae.families) and the sae-lens training class each one uses.
SAELENS_FAMILIES = {
    "relu": "StandardTrainingSAE",
    "jumprelu": "JumpReLUTrainingSAE",
    "gated": "GatedTrainingSAE",
    "batchtopk": "BatchTopKTrainingSAE",
}


def family_error(sae: dict[str, Any]) -> str | None:
    """Why ``sae.architecture`` / ``normalize_activations`` / ``backend`` do not fit together."""
    arch = sae.get("architecture", "topk")
    norm = sae.get("normalize_activations", "none")
    if arch not in ARCHITECTURES:
        return f"sae.architecture must be one of {', '.join(ARCHITECTURES)}, got {arch!r}"
    if norm not in NORMALIZATIONS:
        return f"sae.normalize_activations must be one of {', '.join(NORMALIZATIONS)}, got {norm!r}"
    if arch == "topk" and norm not in FUSED_NORMALIZATIONS:
        return (
            f"sae.normalize_activations={norm!r} is per-token and needs a sae-lens family "
            f"(sae.architecture: {', '.join(SAELENS_FAMILIES)}); sae.architecture topk supports "
            f"{', '.join(FUSED_NORMALIZATIONS)}"
        )
    if arch != "topk" and sae.get("backend", "fused") != "fused":
        return f"sae.backend applies to sae.architecture topk only (architecture is {arch!r})"
    if arch != "topk" and sae.get("micro_batch_size") is not None:
        mb, bs = int(sae["micro_batch_size"]), int(sae["batch_size"])
        if mb < bs:
            return (
                f"sae.micro_batch_size={mb} < sae.batch_size={bs} needs sae.architecture topk "
                "(sae-lens's trainer steps the optimizer on every batch it is given)"
            )
    return None


def sae_n_latents(sae: dict[str, Any], d_model: int) -> int:
    """SAE width: ``sae.n_latents`` when set (the same width for every model), else
    ``sae.expansion_factor * d_model``."""
    if sae.get("n_latents") is not None:
        return int(sae["n_latents"])
    return int(sae["expansion_factor"]) * int(d_model)


def micro_batch_error(sae: dict[str, Any]) -> str | None:
    """Why ``sae.micro_batch_size`` is unusable with the rest of ``sae`` (None if it is fine).

    A micro-batch at least as large as the batch means one pass (as ``null``), so scaled-down
    configs may keep the paper's micro-batch.
    """
    mb = sae.get("micro_batch_size")
    if mb is None:
        return None
    bs = int(sae["batch_size"])
    if int(mb) < 1 or (int(mb) < bs and bs % int(mb)):
        return f"sae.micro_batch_size={mb} must divide sae.batch_size={bs} (or be >= it: one pass)"
    if int(mb) < bs and sae.get("backend", "fused") != "fused":
        return (
            f"sae.micro_batch_size={mb} needs sae.backend: fused (sae-lens's SAETrainer steps "
            "the optimizer on every batch it is given); set micro_batch_size: null or "
            "backend: fused"
        )
    return None


@dataclass(frozen=True)
class ActivationsConfig:
    """``activations``: the residual-stream tokens SAEs train on and how they are produced."""

    source: Literal["cache", "stream"]
    n_train_tokens: int
    context_size: int
    batch_size: int
    shard_tokens: int
    dtype: Literal["float32", "float16"]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SAEConfig:
    """``sae``: the SAE recipe (family-specific keys stay in ``extra``)."""

    k: int
    expansion_factor: int
    n_tokens: int
    batch_size: int
    #: Arithmetic of the encoder matmul and top-k: ``float32`` | ``tf32`` | ``bfloat16`` |
    #: ``auto`` (bfloat16 on CUDA, float32 elsewhere); weights, Adam and the saved SAE stay fp32
    #: (``randsae.sae.precision``).
    precision: Literal["float32", "tf32", "bfloat16", "auto"] = "float32"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        err = micro_batch_error({"batch_size": self.batch_size, **self.extra})
        if err:
            raise ConfigError(err)
        err = family_error({"batch_size": self.batch_size, **self.extra})
        if err:
            raise ConfigError(err)

    def n_latents(self, d_model: int) -> int:
        return sae_n_latents({"expansion_factor": self.expansion_factor, **self.extra}, d_model)
