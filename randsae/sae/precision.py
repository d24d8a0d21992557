"""``sae.precision``: the arithmetic of the fused TopK trainer's dense encoder matmul.

* ``float32``: IEEE fp32 everywhere (the CPU default, and this trainer's behaviour before the
  setting existed: CPU results are bit-identical to it).
* ``tf32``: the encoder matmul on TF32 tensor cores (CUDA only; on CPU it is ``float32``).
* ``bfloat16``: the encoder matmul ``(x - b_dec) @ W_enc + b_enc`` takes bf16 copies of its inputs
  (fp32 accumulation, bf16 output) and the top-k selection runs on those bf16 pre-activations,
  as in the authors' trainer (EleutherAI ``sae``, today's ``sparsify``), whose forward runs under
  ``torch.autocast(bfloat16)``. Works on CPU too (slowly; the tests use it).
* ``auto``: ``bfloat16`` on CUDA, ``float32`` elsewhere.

In every mode the master weights, their gradients and the Adam moments stay fp32, and so do the
sparse terms (decoder ``embedding_bag``, the sparse backward of both weight matrices) and the
loss: they are O(N k d_in) gathers and scatters, memory-bound, and a bf16 copy of ``W_dec``
would cost a whole ``d_in x n_latents`` cast per step for no fewer bytes moved. The SAE is saved
fp32 (sae-lens format); the resolved precision is recorded in its ``cfg.json`` metadata
(``training_precision``) and in the training summary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

PRECISIONS = ("float32", "tf32", "bfloat16", "auto")


def precision_error(cfg: dict) -> str | None:
    """A message naming ``sae.precision`` when its value is not one of :data:`PRECISIONS`."""
    value = cfg.get("precision", "float32")
    if value not in PRECISIONS:
        return f"sae.precision must be one of {'|'.join(PRECISIONS)}, got {value!r}"
    return None


def resolve_precision(precision: str | None, device: torch.device | str) -> str:
    """The precision a run on ``device`` uses: ``auto`` is ``bfloat16`` on CUDA, else float32."""
    value = precision or "float32"
    if value not in PRECISIONS:
        raise ValueError(precision_error({"precision": value}))
    if value == "auto":
        return "bfloat16" if torch.device(device).type == "cuda" else "float32"
    return value


def compute_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the encoder matmul's inputs and output (None: the weights' own, fp32)."""
    return torch.bfloat16 if precision == "bfloat16" else None


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """Let CUDA fp32 matmuls use TF32 inside the block; the previous setting is restored."""
    if not enabled:
        yield
        return
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9
        before = matmul.fp32_precision
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = before
    else:  # pragma: no cover - older torch
        before = matmul.allow_tf32
        matmul.allow_tf32 = True
        try:
            yield
        finally:
            matmul.allow_tf32 = before


class LowPrecisionWeights:
    """bf16 copies of the encoder's weight and bias, made once per weight update.

    With micro-batching the encoder runs several times between two optimizer steps, and the
    copy is made once. The trainer calls :meth:`invalidate` after every update (a fused
    optimizer step does not bump the parameters' version counters); the copy is also remade
    when the counters or the storage change (``copy_``, ``load_state_dict``).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._key: tuple[int, ...] | None = None
        self._copies: tuple[torch.Tensor, torch.Tensor] | None = None

    def invalidate(self) -> None:
        self._copies = None

    def get(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (weight.data_ptr(), weight._version, bias.data_ptr(), bias._version)
        if self._copies is None or key != self._key:
            self._copies = (weight.detach().to(self.dtype), bias.detach().to(self.dtype))
            self._key = key
        return self._copies


@dataclass
class EncoderSettings:
    """How :class:`randsae.sae.topk.TopKSAE` computes its encoder (the defaults: plain fp32)."""

    #: bf16 weight copies for the encoder matmul (``bfloat16``); None = the fp32 weights.
    lowp: LowPrecisionWeights | None = None
    #: TF32 tensor cores for the fp32 encoder matmul (``tf32`` on CUDA).
    tf32: bool = False
    #: Top-k selection method and chunk (:mod:`randsae.sae.select`).
    topk: str = "torch"
    topk_chunk: int = 4096
    #: Sparse decode and weight gradients: ``eager`` (``embedding_bag``) or ``triton``.
    sparse: str = "eager"

    @classmethod
    def for_precision(cls, precision: str, device: torch.device | str, **kw) -> EncoderSettings:
        """Settings of a resolved precision (``float32``, ``tf32`` or ``bfloat16``) on ``device``."""
        dtype = compute_dtype(precision)
        return cls(
            lowp=LowPrecisionWeights(dtype) if dtype is not None else None,
            tf32=precision == "tf32" and torch.device(device).type == "cuda",
            **kw,
        )


def sparse_kernels(st: EncoderSettings | None):
    """The Triton sparse kernels when the settings ask for them (lever ``sparse``), else None."""
    if st is None or st.sparse != "triton":
        return None
    from randsae.sae import triton_ops

    return triton_ops
