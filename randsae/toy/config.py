"""Toy datasets: their names and dictionary sizes from the ``toy`` section (its keys are
checked by :class:`randsae.sections.ToyConfig`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from randsae.sections import ModelSource, ToyConfig

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


def toy_datasets(toy: ToyConfig) -> list[str]:
    """Dataset names of the enabled sweeps."""
    names = ["sharkey"] if toy.sharkey.enabled else []
    if toy.words.enabled:
        names += [f"{toy.words.source}{d}" for d in toy.words.dims]
    if toy.embeddings.enabled:
        names += [f"{EMBED_PREFIX}{m}" for m in toy.embeddings.models]
    return names


def dictionary_sizes(
    toy: ToyConfig, dataset: str, models: Mapping[str, ModelSource] | None = None
) -> list[int]:
    """Dictionary sizes swept for ``dataset``: the synthetic data's list; word vectors and
    embedding matrices: multipliers x the vector dim (embeddings need ``models`` for d_model)."""
    kind, detail = parse_dataset(dataset)
    if kind == "sharkey":
        return list(toy.sharkey.num_latents)
    if kind == "embed":
        if models is None or detail not in models:
            raise ValueError(f"toy.embeddings.models: {detail!r} is not a key of models:")
        d_model = models[str(detail)].d_model
        return [m * d_model for m in toy.embeddings.latent_multipliers]
    return [m * int(detail) for m in toy.words.latent_multipliers]  # type: ignore[arg-type]
