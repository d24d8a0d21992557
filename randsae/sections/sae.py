"""Sections of SAE training: ``activations`` and ``sae`` (families, normalisations, micro-batches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from randsae.sections.base import (
    NON_NEGATIVE,
    POSITIVE,
    Count,
    Section,
    at_least,
    key_fields,
    section,
)

#: Normalisations the TopK trainers support (a constant factor they can fold).
FUSED_NORMALIZATIONS = ("none", "expected_average_only_in")
#: sae-lens families (randsae.sae.families) and the sae-lens training class each one uses.
SAELENS_FAMILIES = {
    "relu": "StandardTrainingSAE",
    "jumprelu": "JumpReLUTrainingSAE",
    "gated": "GatedTrainingSAE",
    "batchtopk": "BatchTopKTrainingSAE",
}
#: Families whose loss has a sparsity penalty (sae.sparsity_coefficient).
PENALISED = ("relu", "jumprelu", "gated")


@section("activations")
class ActivationsConfig(Section):
    """``activations``: the residual-stream tokens SAEs train on and how they are produced."""

    source: Literal["cache", "stream"]
    """cache = shard activations to disk; stream = train SAEs from the model's forward pass"""
    n_train_tokens: Count
    """tokens of activations for SAE training"""
    context_size: Count
    """tokens per sequence"""
    batch_size: Count
    """sequences per forward pass"""
    shard_tokens: Count
    """tokens per on-disk shard"""
    dtype: Literal["float32", "float16"]
    """on-disk activation dtype"""


@section("sae")
class SAEConfig(Section):
    """``sae``: the SAE recipe, one model's (``models.<name>.sae`` overrides applied by
    :meth:`randsae.sections.RunConfig.sae_for`)."""

    #: Keys that change no output: left out of the rules' params (the train stages take
    #: ``tracking`` as an argument of their own).
    OUTPUT_NEUTRAL: ClassVar[tuple[str, ...]] = ("tracking",)
    #: Keys left out of the rules' params at their default (a config written before they existed
    #: trains the same SAEs, so adding them reruns nothing).
    QUIET_AT_DEFAULT: ClassVar[tuple[str, ...]] = (
        "n_latents",
        "architecture",
        "normalize_activations",
    )

    backend: Literal["fused", "saelens"]
    """fused = sparse TopK backward (default, fastest); saelens = sae-lens SAETrainer"""
    k: Count
    """active latents per token (paper: 32); batchtopk: on average over the batch"""
    expansion_factor: Count
    """n_latents / d_model (paper: 64); ignored when n_latents is set"""
    n_latents: Annotated[int | None, at_least(2)] = None
    """SAE width fixed for every model (widths matched across model sizes); null = expansion_factor x d_model"""
    architecture: Literal["topk", "relu", "jumprelu", "gated", "batchtopk"] = "topk"
    """SAE family: topk (paper; the fused trainer or backend saelens) or a sae-lens training SAE trained by sae-lens's SAETrainer: relu (StandardTrainingSAE, ReLU + L1), jumprelu (JumpReLUTrainingSAE), gated (GatedTrainingSAE), batchtopk (BatchTopKTrainingSAE, k on average; saved as JumpReLU). Every family saves a sae-lens checkpoint"""
    sparsity_coefficient: Annotated[float, NON_NEGATIVE] = 1.0
    """sparsity penalty of relu and gated (L1 coefficient) and jumprelu (L0 coefficient); unused by topk and batchtopk"""
    normalize_activations: Literal[
        "none", "expected_average_only_in", "constant_norm_rescale", "layer_norm"
    ] = "none"
    """activation normalisation before SAE training, as sae-lens defines it: expected_average_only_in scales by sqrt(d_in)/E||x|| (from the first batch) and folds the factor into the saved SAE; constant_norm_rescale and layer_norm are per token, applied by the saved SAE (sae-lens families only). Metrics are always on the original scale"""
    n_tokens: Count
    """training tokens (paper: 100M)"""
    batch_size: Count
    """tokens per optimizer step (paper: 65536)"""
    micro_batch_size: Annotated[int | None, at_least(1)]
    """tokens per forward/backward chunk of an optimizer batch (must divide batch_size, or be >= it = one pass; gradients accumulate; loss = per-micro-batch FVU x micro/batch, as the authors' sparsify fork; only a micro x n_latents pre-activation is held; fused backend only). null = the whole batch in one pass, FVU over the batch (paper: 8192 = 4 x 2048)"""
    precision: Literal["float32", "tf32", "bfloat16", "auto"]
    """arithmetic of the SAE's dense encoder matmul and top-k selection: float32; tf32 (TF32 tensor cores, CUDA only, float32 on CPU); bfloat16 (bf16 inputs, fp32 accumulation, top-k on the bf16 pre-activations, as the authors' trainer, EleutherAI sae/sparsify, runs its forward under bf16 autocast); auto = bfloat16 on CUDA, float32 elsewhere. Master weights, Adam state, sparse terms and loss stay fp32 and the SAE is saved fp32; the resolved value is recorded in cfg.json metadata (training_precision). sae-lens backends: bfloat16 = sae-lens's bf16 autocast"""
    lr: Annotated[float | None, POSITIVE]
    """learning rate; null = 2e-4/sqrt(n_latents/2^14) (paper)"""
    warmup_steps: Annotated[int, NON_NEGATIVE]
    """linear warm-up steps (paper: 1000)"""
    b_dec_init: Literal["geometric_median", "mean", "zeros"]
    """decoder bias init (paper: geometric median of first batch)"""
    normalize_decoder: bool
    """unit-norm decoder rows with parallel gradient removed (paper: true)"""
    shuffle_buffer_tokens: Count
    """tokens per shuffling buffer: whole context_size sequences, taken in a seeded random sequence order, their tokens permuted (rounded down to a multiple of batch_size and context_size)"""
    checkpoint_every_steps: Annotated[int, NON_NEGATIVE]
    """resumable checkpoint period (0 = never)"""
    layer_group_size: Count
    """stream mode: layers trained per job from one forward pass"""
    tracking: Literal["none", "tensorboard", "wandb"] = "none"
    """training curve (fvu, l0, dead fraction, lr per step) to TensorBoard event files or W&B (WANDB_MODE decides online/offline) under results/tracking/; changes no output"""

    def __post_init__(self) -> None:
        super().__post_init__()
        arch, norm, mb, bs = (
            self.architecture,
            self.normalize_activations,
            self.micro_batch_size,
            self.batch_size,
        )
        if arch == "topk" and norm not in FUSED_NORMALIZATIONS:
            raise self.error(
                "normalize_activations",
                f"{norm!r} is per-token and needs a sae-lens family (sae.architecture: "
                f"{', '.join(SAELENS_FAMILIES)}); sae.architecture topk supports "
                f"{', '.join(FUSED_NORMALIZATIONS)}",
            )
        if arch != "topk" and self.backend != "fused":
            raise self.error("backend", f"applies to sae.architecture topk only (not {arch!r})")
        if mb is not None and mb < bs and bs % mb:
            raise self.error(
                "micro_batch_size",
                f"{mb} must divide sae.batch_size={bs} (or be >= it: one pass)",
            )
        if mb is not None and mb < bs and (arch != "topk" or self.backend != "fused"):
            raise self.error(
                "micro_batch_size",
                f"{mb} < sae.batch_size={bs} needs sae.architecture topk and sae.backend fused "
                "(sae-lens's trainer steps the optimizer on every batch it is given); set "
                "micro_batch_size: null",
            )
        if self.n_tokens < bs:
            raise self.error("n_tokens", f"{self.n_tokens} is less than one batch of {bs}")

    @property
    def micro(self) -> int | None:
        """The micro-batch of the fused trainer (None: one pass over the whole batch)."""
        mb = self.micro_batch_size
        return mb if mb is not None and mb < self.batch_size else None

    def width(self, d_in: int) -> int:
        """The SAE's number of latents on a ``d_in``-wide input: ``n_latents`` when set (the
        same width for every model), else ``expansion_factor * d_in``; k must be below it."""
        width = self.n_latents if self.n_latents is not None else self.expansion_factor * d_in
        if self.k >= width:
            raise self.error("k", f"k={self.k} must be smaller than n_latents={width}")
        return width

    @classmethod
    def rule_params(cls, sae: Mapping[str, Any], device: str = "cpu") -> dict[str, Any]:
        """The plain dict a training rule passes as ``params.sae``: what changes an SAE. Leaves
        out the output-neutral keys, the quiet keys at their default, the sparsity coefficient
        of families without a sparsity penalty, and a ``precision`` that computes in float32 on
        ``device`` (what the trainer did before the key existed: adding it reruns nothing)."""
        defaults = {f.name: f.default for f in key_fields(cls)}
        out = {
            k: v
            for k, v in sae.items()
            if k not in cls.OUTPUT_NEUTRAL and not (k in cls.QUIET_AT_DEFAULT and v == defaults[k])
        }
        if sae.get("architecture", defaults["architecture"]) not in PENALISED:
            out.pop("sparsity_coefficient", None)
        precision = out.get("precision")
        if precision == "float32" or (precision == "auto" and device == "cpu"):
            out.pop("precision")
        return out

    @classmethod
    def from_rule_params(cls, params: Mapping[str, Any]) -> SAEConfig:
        """The section from a rule's ``params.sae`` (:meth:`rule_params`): a ``precision`` left
        out there computes in float32."""
        return cls.from_dict({"precision": "float32", **params})
