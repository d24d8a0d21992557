"""Model shapes without loading a model: embedded architectures and the Pythia suite."""

from __future__ import annotations

from randsae.errors import ConfigError

# Standard Pythia shapes (paper.md §2.1) so that layer indices are checked without any download.
PYTHIA_SHAPES: dict[str, dict[str, int]] = {
    "pythia-14m": {"n_layers": 6, "d_model": 128},
    "pythia-70m": {"n_layers": 6, "d_model": 512},
    "pythia-160m": {"n_layers": 12, "d_model": 768},
    "pythia-410m": {"n_layers": 24, "d_model": 1024},
    "pythia-1b": {"n_layers": 16, "d_model": 2048},
    "pythia-1.4b": {"n_layers": 24, "d_model": 2048},
    "pythia-2.8b": {"n_layers": 32, "d_model": 2560},
    "pythia-6.9b": {"n_layers": 32, "d_model": 4096},
    "pythia-12b": {"n_layers": 36, "d_model": 5120},
}

PYTHIA_VOCAB = 50304  # d_vocab of every Pythia model (padded GPT-NeoX tokenizer)


def pythia_shape(hf_name: str) -> dict[str, int]:
    """Shape of an official Pythia model from its hub name (``EleutherAI/pythia-70m-deduped``)."""
    short = hf_name.split("/")[-1].removesuffix("-deduped").removesuffix("-v0")
    if short not in PYTHIA_SHAPES:
        raise ConfigError(
            f"models: {hf_name!r} is not a known Pythia model ({', '.join(PYTHIA_SHAPES)})"
        )
    return PYTHIA_SHAPES[short]
