"""Sections of the grid's models: ``models.<name>`` (with its ``arch``) and ``data``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from randsae.errors import ConfigError
from randsae.models.shapes import model_shape
from randsae.sections.base import build


@dataclass(frozen=True)
class ArchConfig:
    """An embedded GPT-NeoX architecture (``models.<name>.arch``): the fields the checks read
    (in :class:`ModelConfig`); ``n_layers``, ``d_mlp`` and any other key stay in ``extra``."""

    model: str
    d_model: int
    n_heads: int
    d_head: int = field(init=False)  # d_model // n_heads
    n_ctx: int
    rotary_dim: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "d_head", self.d_model // self.n_heads)


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ``models``: where the weights come from and which layers are studied."""

    name: str
    source: str
    layers: tuple[int, ...]
    n_layers: int
    d_model: int
    hf_name: str | None = None
    arch: ArchConfig | None = None
    train: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> ModelConfig:
        shape = model_shape(name, d)  # raises for a missing arch / hf_name
        data = dict(d, layers=tuple(d.get("layers", ())))
        if d.get("arch") is not None:
            data["arch"] = build(ArchConfig, d["arch"], model=name)
        return build(cls, data, name=name, **shape)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ConfigError(
                f"models.{self.name}: model names may use letters, digits, '.', '_' and '-'"
            )
        if not self.layers:
            raise ConfigError(f"models.{self.name}.layers: list at least one layer")
        for layer in self.layers:
            if layer < 0 or layer >= self.n_layers:
                raise ConfigError(
                    f"models.{self.name}.layers: layer {layer} is out of range; "
                    f"the model has {self.n_layers} layers (0..{self.n_layers - 1})"
                )
        if len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"models.{self.name}.layers: duplicate layers {list(self.layers)}")
        if self.source == "embedded" and self.train is None:
            raise ConfigError(f"models.{self.name}.train is required for source 'embedded'")
        a = self.arch
        if a is not None and a.d_model % a.n_heads:
            raise ConfigError(f"models.{a.model}.arch.d_model must be divisible by n_heads")
        if a is not None and a.rotary_dim > a.d_head:
            raise ConfigError(f"models.{a.model}.arch.rotary_dim exceeds d_head")


def check_data(data: dict[str, Any]) -> None:
    """``data``: the jsonl route needs the repo's files, in its loading script's order."""
    ds = data.get("hf_dataset") or {}
    jsonl = data.get("source") == "hf_dataset" and ds.get("loader") == "jsonl_files"
    if jsonl and not ds.get("data_files"):
        raise ConfigError(
            "data.hf_dataset.data_files: loader 'jsonl_files' needs the repo's jsonl files, "
            "in the order its loading script reads them"
        )
