"""Resources a job asks for (host RAM in MB), sized from the config and scaled by ``attempt``.

The rules declare these (rules/common.smk); a job SLURM kills for memory is resubmitted with
``attempt + 1`` and asks for more.
"""

from __future__ import annotations

from randsae.models.shapes import PYTHIA_VOCAB
from randsae.sections import ModelSource, SAEConfig


def model_vocab(model: ModelSource, vocab_size: int) -> int:
    """The model's vocabulary: the DAG's tokenizer (``tokenizer.vocab_size``) or Pythia's."""
    return vocab_size if model.source == "embedded" else PYTHIA_VOCAB


def model_n_params(model: ModelSource, vocab_size: int) -> int:
    """Approximate parameter count from the shape: 12 L d^2 (attention + 4x MLP) + 2 V d."""
    d = model.d_model
    return 12 * model.n_layers * d**2 + 2 * model_vocab(model, vocab_size) * d


def model_mem_mb(model: ModelSource, vocab_size: int, attempt: int = 1) -> int:
    """Host RAM (MB) a job that loads the model asks for: three copies of the weights (loaded,
    moved/converted, activations and buffers) plus 1 GB for the interpreter and libraries, times
    ``attempt`` (a job killed for memory is resubmitted with more). pythia-6.9b in bfloat16: ~43 GB.
    """
    bytes_per = 2 if model.dtype in ("bfloat16", "float16") else 4
    weights_mb = model_n_params(model, vocab_size) * bytes_per / 2**20
    return int((1000 + 3 * weights_mb) * attempt)


def sae_mem_mb(model: ModelSource, sae: SAEConfig, on_gpu: bool, attempt: int = 1) -> int:
    """Host RAM (MB) of one SAE training job: one shuffle block of fp32 activations, the SAE
    weights twice (a host copy when saving), on CPU also gradients and Adam's two moments, plus
    1 GB; times ``attempt``."""
    d = model.d_model
    weights_mb = 2 * d * sae.width(d) * 4 / 2**20
    block_mb = sae.shuffle_buffer_tokens * d * 4 / 2**20
    return int((1000 + block_mb + (2 if on_gpu else 5) * weights_mb) * attempt)


def eval_mem_mb(
    model: ModelSource,
    vocab_size: int,
    sae: SAEConfig,
    batch_size: int,
    context_size: int,
    attempt: int = 1,
) -> int:
    """Host RAM (MB) of an evaluation job: the model (:func:`model_mem_mb`), the SAE weights and
    the logits working set (~12 bytes per batch position and vocabulary entry, docs/metrics.md)."""
    d = model.d_model
    vocab = model_vocab(model, vocab_size)
    extra = (2 * d * sae.width(d) * 4 + 12 * batch_size * context_size * vocab) / 2**20
    return model_mem_mb(model, vocab_size, attempt) + int(extra * attempt)
