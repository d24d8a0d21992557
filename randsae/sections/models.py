"""Sections of the grid's models and their inputs: ``models.<name>`` (its ``arch``, ``train`` and
``sae`` overrides), ``init``, ``data`` and ``tokenizer``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from randsae.models.shapes import pythia_shape
from randsae.sections.base import (
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    UNSET,
    Count,
    Section,
    at_least,
    not_key,
    section,
)


@section("models.{model}.arch")
class ArchConfig(Section):
    """``models.<name>.arch``: an embedded GPT-NeoX architecture."""

    model: str = not_key("<model>")

    n_layers: Count
    """transformer blocks"""
    d_model: Annotated[int, at_least(8)]
    """residual width"""
    n_heads: Count
    """attention heads"""
    d_mlp: Count
    """MLP width"""
    n_ctx: Annotated[int, at_least(8)]
    """context length"""
    rotary_dim: Annotated[int, at_least(2)]
    """rotary dimensions per head"""

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_model % self.n_heads:
            raise self.error("d_model", "must be divisible by n_heads")
        if self.rotary_dim > self.d_head:
            raise self.error("rotary_dim", f"exceeds d_head = {self.d_head}")


@section("models.{model}.train")
class TrainConfig(Section):
    """``models.<name>.train``: training of an embedded model."""

    model: str = not_key("<model>")

    steps: Count
    """optimizer steps"""
    batch_size: Count
    """sequences per step"""
    lr: Annotated[float, POSITIVE]
    """peak learning rate (AdamW)"""
    warmup_steps: Annotated[int, NON_NEGATIVE]
    """linear warm-up steps before cosine decay"""
    weight_decay: Annotated[float, NON_NEGATIVE]
    """AdamW weight decay"""


@section("models.{model}.sae")
class SAEOverrides(Section):
    """``models.<name>.sae``: keys of the ``sae`` section this model sets its own way (an SAE
    variant); a key left out is ``UNSET`` (``lr: null`` is a value: the auto LR)."""

    model: str = not_key("<model>")

    k: Count = UNSET
    """active latents per token"""
    expansion_factor: Count = UNSET
    """n_latents / d_model"""
    n_tokens: Count = UNSET
    """training tokens"""
    batch_size: Count = UNSET
    """tokens per optimizer step"""
    lr: Annotated[float | None, POSITIVE] = UNSET
    """learning rate; null = the paper's auto LR"""
    warmup_steps: Annotated[int, NON_NEGATIVE] = UNSET
    """linear warm-up steps"""

    def overrides(self) -> dict[str, Any]:
        """The keys this model sets, with their values."""
        return self.to_dict()


@section("models.{name}")
class ModelSource(Section):
    """What a model's weights are built from: the keys of ``models.<name>`` that
    :func:`randsae.models.inits.load_model` reads (the rest, e.g. layers, never rebuilds a
    model)."""

    name: str = not_key("<model>")

    source: Literal["embedded", "pythia"]
    """embedded = trained inside the DAG; pythia = EleutherAI hub model"""
    hf_name: str | None = None
    """hub id for source pythia, e.g. EleutherAI/pythia-70m-deduped"""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """model dtype (paper: bfloat16 on GPU)"""
    arch: ArchConfig | None = None
    """architecture of an embedded model (GPT-NeoX style)"""

    @classmethod
    def from_dict(cls, data: Any, **context: Any):  # type: ignore[override]
        name = context.get("name", "<model>")
        return super().from_dict(data, **{**context, "model": name})

    @property
    def shape(self) -> dict[str, int]:
        """``n_layers`` and ``d_model``, without loading the model."""
        if self.source == "embedded":
            return {"n_layers": self.arch.n_layers, "d_model": self.arch.d_model}  # type: ignore[union-attr]
        return pythia_shape(self.hf_name)  # type: ignore[arg-type]

    @property
    def n_layers(self) -> int:
        return self.shape["n_layers"]

    @property
    def d_model(self) -> int:
        return self.shape["d_model"]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise self.error("", "model names may use letters, digits, '.', '_' and '-'")
        if self.source == "embedded" and self.arch is None:
            raise self.error("arch", "required for source 'embedded'")
        if self.source == "pythia" and not self.hf_name:
            raise self.error("hf_name", "required for source 'pythia'")


@section()
class ModelConfig(ModelSource):
    """One entry of ``models``: where the weights come from and which layers are studied."""

    layers: Annotated[tuple[int, ...], NON_NEGATIVE]
    """residual-stream layers (blocks.<L>.hook_resid_post) to study"""
    layer_group_size: Annotated[int | None, at_least(1)] = None
    """stream mode: per-model override of sae.layer_group_size (large models need 1: one 64x SAE state of pythia-6.9b is ~34 GB)"""
    variant_of: str | None = None
    """this entry is an SAE variant of another model entry (appendix experiments): a seed replicate when it has no `sae` block (pooled into that model's figure column as a band), else its own column; its seeds differ through its name"""
    sae: SAEOverrides | None = None
    """per-model overrides of the sae section (SAE variants, e.g. App F's R x k)"""
    train: TrainConfig | None = None
    """training of an embedded model"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.layers:
            raise self.error("layers", "list at least one layer")
        for layer in self.layers:
            if layer >= self.n_layers:
                raise self.error(
                    "layers",
                    f"layer {layer} is out of range; the model has {self.n_layers} layers "
                    f"(0..{self.n_layers - 1})",
                )
        if len(set(self.layers)) != len(self.layers):
            raise self.error("layers", f"duplicate layers {list(self.layers)}")
        if self.source == "embedded" and self.train is None:
            raise self.error("train", "required for source 'embedded'")


@section("init")
class InitConfig(Section):
    """``init``: the settings every model variant (init) is built with."""

    seed: Annotated[int, NON_NEGATIVE]
    """seed of re-randomization and noise (paper: 42)"""
    rerandomize_layer_norm: bool
    """resample (rerandomized*) or permute (permuted*) layer-norm parameters too (UNVERIFIED; authors' config: false)"""
    noise_std: Annotated[float, POSITIVE]
    """std of the Gaussian-noise input control (paper: 1.0)"""
    scale: Annotated[float, POSITIVE]
    """multiplier on the resampled std (beyond the paper)"""
    distribution: Literal["normal", "uniform", "laplace"]
    """resampling distribution with the tensor's mean and std"""


@section("data.hf_dataset")
class HFDatasetConfig(Section):
    """``data.hf_dataset``: the online dataset (read when ``data.source`` is hf_dataset)."""

    path: str
    """HF dataset repo id"""
    name: str | None
    """dataset config name (loader datasets only)"""
    loader: Literal["jsonl_files", "datasets"]
    """jsonl_files = download data_files from the Hub and read their rows in list order (for script-based datasets such as the RedPajama sample, which datasets 5.x refuses to run); datasets = datasets.load_dataset(path, name) (repos without a loading script)"""
    revision: str
    """Hub revision: branch, tag or commit SHA (a 40-hex SHA pins the data); the commit actually read is logged"""
    data_files: tuple[str, ...]
    """loader jsonl_files: repo files holding one JSON row per line, in the order the dataset's loading script concatenates them into its train split"""
    train_split: str
    """split expression for SAE training text"""
    val_split: str
    """split expression for held-out text"""
    text_key: str
    """column holding the text"""
    max_train_tokens: Count
    """cap on tokenized training tokens"""


@section("data")
class DataConfig(Section):
    """``data``: the text the models are trained and evaluated on."""

    source: Literal["gensim", "hf_dataset"]
    """gensim = offline corpus shipped by gensim; hf_dataset = online HF dataset"""
    val_fraction: Annotated[float, FRACTION]
    """fraction of documents held out (seeded)"""
    hf_dataset: HFDatasetConfig
    """online dataset (paper: RedPajama 1T sample)"""


@section("tokenizer")
class TokenizerConfig(Section):
    """``tokenizer``: the BPE of the embedded models."""

    vocab_size: Annotated[int, at_least(300)]
    """byte-level BPE vocabulary trained in the DAG (embedded models)"""


def models_from_dict(models: Mapping[str, Mapping[str, Any]]) -> dict[str, ModelConfig]:
    """The ``models`` section: each entry a :class:`ModelConfig` named by its key."""
    return {name: ModelConfig.from_dict(m, name=name) for name, m in models.items()}
