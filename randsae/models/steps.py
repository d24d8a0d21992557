"""Stage glue for rules/models.smk: step-0 and trained weights, model variants."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from randsae import io, provenance

if TYPE_CHECKING:
    from randsae.sections import ArchConfig, InitConfig, ModelSource, TrainConfig

log = logging.getLogger("randsae")


def init_model(tokenizer_dir: str, arch: ArchConfig, seed: int, out_dir: str) -> None:
    from randsae.data.tokenizer import load_tokenizer
    from randsae.models.neox import init_embedded

    d_vocab = len(load_tokenizer(tokenizer_dir))
    info = init_embedded(arch, d_vocab, seed, out_dir)
    log.info("step-0 model: %s", info)


def train_model(
    step0_dir: str,
    tokens_train: str,
    tokens_val: str,
    train: TrainConfig,
    seed: int,
    out_dir: str,
    curve_csv: str,
) -> None:
    from randsae.models.neox import train_embedded

    metrics = train_embedded(
        step0_dir, np.load(tokens_train), np.load(tokens_val), train, seed, out_dir, curve_csv
    )
    log.info("trained model: %s", metrics)
    if metrics["margin_vs_unigram_nats"] < 1.0:
        log.warning(
            "validation loss %.3f is less than 1 nat below the unigram baseline %.3f",
            metrics["val_loss"],
            metrics["unigram_val_loss"],
        )


def build_init(
    model_cfg: ModelSource, init_cfg: InitConfig, init: str, device: str, out_json: str
) -> None:
    from randsae.models.inits import init_record, load_model
    from randsae.models.neox import resolve_device

    lm = load_model(model_cfg, init_cfg, init, device=resolve_device(device))
    rec = init_record(lm, model_cfg.name, init, init_cfg)
    rec["provenance"] = provenance.meta_record("build_init", params={"init": init_cfg.to_dict()})
    io.write_json(out_json, rec)
