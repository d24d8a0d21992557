"""Checks on the ``toy:`` config section (beyond the JSON schema) and dataset naming."""

from __future__ import annotations

import re

from randsae.toy import ARMS

WORD_SOURCES = ("word2vec", "glove")
GLOVE_DIMS = (50, 100, 200, 300)
EMBED_PREFIX = "embed_"


def parse_dataset(name: str) -> tuple[str, int | str | None]:
    """Dataset name -> (kind, detail).

    ``sharkey`` -> (sharkey, None); ``word2vec50`` / ``glove300`` -> (source, dim);
    ``embed_<model>`` -> (embed, model name): the token-embedding matrix of a configured model.
    """
    if name == "sharkey":
        return "sharkey", None
    rest = name[len(EMBED_PREFIX) :]
    if name.startswith(EMBED_PREFIX) and re.fullmatch(r"[A-Za-z0-9_.\-]+", rest):
        return "embed", rest
    m = re.fullmatch(r"(word2vec|glove)(\d+)", name)
    if not m:
        raise ValueError(
            f"unknown toy dataset {name!r}; expected sharkey, word2vec<dim>, glove<dim> "
            "or embed_<model>"
        )
    return m.group(1), int(m.group(2))


def check_toy_config(toy: dict, models: dict | None = None) -> dict:
    """Cross-field checks; raise ValueError naming the bad key. Returns ``toy``.

    ``models`` is the top-level ``models:`` section; with it, the models named in
    ``toy.embeddings.models`` are checked to exist.
    """
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
    emb = toy["embeddings"]
    for m in emb["latent_multipliers"]:
        if int(m) < 1:
            raise ValueError(f"toy.embeddings.latent_multipliers: must be >= 1, got {m!r}")
    if emb["enabled"] and not emb["models"]:
        raise ValueError("toy.embeddings.models: list at least one model (or disable the part)")
    if models is not None and emb["enabled"]:
        for name in emb["models"]:
            if name not in models:
                raise ValueError(
                    f"toy.embeddings.models: {name!r} is not a key of models: ({list(models)})"
                )
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
    if toy["embeddings"]["enabled"]:
        names += [f"{EMBED_PREFIX}{m}" for m in toy["embeddings"]["models"]]
    return names


def dictionary_sizes(toy: dict, dataset: str, models: dict | None = None) -> list[int]:
    """Dictionary sizes swept for ``dataset``: the synthetic data's list; word vectors and
    embedding matrices: multipliers x the vector dim (embeddings need ``models`` for d_model)."""
    kind, detail = parse_dataset(dataset)
    if kind == "sharkey":
        return [int(n) for n in toy["sharkey"]["num_latents"]]
    if kind == "embed":
        from randsae.models.shapes import model_shape

        if models is None or detail not in models:
            raise ValueError(f"toy.embeddings.models: {detail!r} is not a key of models:")
        d_model = int(model_shape(str(detail), models[detail])["d_model"])
        return [int(m) * d_model for m in toy["embeddings"]["latent_multipliers"]]
    return [int(m) * int(detail) for m in toy["words"]["latent_multipliers"]]
