"""Checks on the ``toy:`` config section (beyond the JSON schema) and dataset naming."""

from __future__ import annotations

import re

from randsae.toy import ARMS

WORD_SOURCES = ("word2vec", "glove")
GLOVE_DIMS = (50, 100, 200, 300)


def parse_dataset(name: str) -> tuple[str, int | None]:
    """``sharkey`` -> (sharkey, None); ``word2vec50`` / ``glove300`` -> (source, dim)."""
    if name == "sharkey":
        return "sharkey", None
    m = re.fullmatch(r"(word2vec|glove)(\d+)", name)
    if not m:
        raise ValueError(
            f"unknown toy dataset {name!r}; expected sharkey, word2vec<dim> or glove<dim>"
        )
    return m.group(1), int(m.group(2))


def check_toy_config(toy: dict) -> dict:
    """Cross-field checks; raise ValueError naming the bad key. Returns ``toy``."""
    for arm in toy["arms"]:
        if arm not in ARMS:
            raise ValueError(f"toy.arms: unknown arm {arm!r}; expected one of {list(ARMS)}")
    for n in toy["sharkey"]["num_latents"]:
        if int(n) < 1:
            raise ValueError(f"toy.sharkey.num_latents: dictionary size must be >= 1, got {n!r}")
    words = toy["words"]
    if words["source"] not in WORD_SOURCES:
        raise ValueError(
            f"toy.words.source: unknown source {words['source']!r}; expected {WORD_SOURCES}"
        )
    for m in words["latent_multipliers"]:
        if int(m) < 1:
            raise ValueError(f"toy.words.latent_multipliers: must be >= 1, got {m!r}")
    for d in words["dims"]:
        if int(d) < 1:
            raise ValueError(f"toy.words.dims: must be >= 1, got {d!r}")
        if words["source"] == "glove" and int(d) not in GLOVE_DIMS:
            raise ValueError(f"toy.words.dims: GloVe 6B has dims {GLOVE_DIMS}, got {d!r}")
    sae = toy["sae"]
    for key in ("seeds", "epochs", "batch_size", "models_per_batch"):
        if int(sae[key]) < 1:
            raise ValueError(f"toy.sae.{key} must be >= 1, got {sae[key]!r}")
    return toy


def toy_datasets(toy: dict) -> list[str]:
    """Dataset names of the enabled sweeps."""
    names = ["sharkey"] if toy["sharkey"]["enabled"] else []
    if toy["words"]["enabled"]:
        names += [f"{toy['words']['source']}{int(d)}" for d in toy["words"]["dims"]]
    return names


def dictionary_sizes(toy: dict, dataset: str) -> list[int]:
    """Dictionary sizes swept for ``dataset`` (words: multipliers x embedding dim)."""
    kind, dim = parse_dataset(dataset)
    if kind == "sharkey":
        return [int(n) for n in toy["sharkey"]["num_latents"]]
    return [int(m) * int(dim) for m in toy["words"]["latent_multipliers"]]
