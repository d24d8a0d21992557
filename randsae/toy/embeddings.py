"""Token-embedding matrices as toy data (paper Section 4.3): rows of W_E are the samples.

Two sources: the embedded model trained in the DAG (its saved TransformerLens weights), and a
Pythia model on the Hugging Face Hub (``from_pretrained`` on the configured ``hf_name``, so it
follows ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` like every other hub access of the workflow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# TransformerLens's name of the input embedding (d_vocab, d_model) in a saved state dict.
TL_EMBED_KEY = "embed.W_E"


def embedded_input_embeddings(weights_path: str | Path) -> np.ndarray:
    """W_E (d_vocab, d_model) of a model saved by ``randsae.models.neox.save_model``."""
    from safetensors import safe_open

    with safe_open(str(weights_path), framework="pt") as fh:
        names = list(fh.keys())  # a safetensors handle has keys() but no __contains__
        if TL_EMBED_KEY not in names:
            raise ValueError(f"{weights_path}: no {TL_EMBED_KEY!r} tensor (not a saved model?)")
        w_e = fh.get_tensor(TL_EMBED_KEY)
    return w_e.float().numpy()


def hf_input_embeddings(hf_name: str, revision: str = "main") -> np.ndarray:
    """Input-embedding matrix (vocab, d_model) of a Hub causal LM (Pythia: ``embed_in``).

    ``hf_name`` is a hub id (or a local directory saved with ``save_pretrained``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    from randsae.hub import hub_call

    with hub_call(f"model {hf_name}@{revision}"):
        model = AutoModelForCausalLM.from_pretrained(
            hf_name, revision=revision, dtype=torch.float32
        )
    return model.get_input_embeddings().weight.detach().float().numpy().copy()
