"""TopK sparse autoencoder (Gao et al. 2024) in the authors' recipe, saved in sae-lens 6.x format.

Paper recipe (paper.md §3, the authors' fork of EleutherAI ``sae``):
``z = ReLU(W_enc^T (x - b_dec) + b_enc)``, keep the top k per token, ``x_hat = W_dec^T z + b_dec``.

The encoder uses a custom autograd function whose backward exploits TopK sparsity: only the
``k`` selected pre-activations of each token receive gradient, so ``dW_enc`` / ``db_enc`` are
scatter-adds over ``N * k`` entries instead of a dense ``(N, d_sae)`` matmul. The decoder is an
``embedding_bag`` over the selected rows of ``W_dec``.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from randsae.sae import select
from randsae.sae.precision import EncoderSettings, sparse_kernels, tf32_matmuls

CFG_FILENAME = "cfg.json"
WEIGHTS_FILENAME = "sae_weights.safetensors"


def _sae_lens_version() -> str:
    try:
        return version("sae-lens")
    except PackageNotFoundError:  # pragma: no cover - sae-lens is a pinned dependency
        return "unknown"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


_HELPER_CACHE: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _bag_helpers(n: int, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``offsets`` (N,) and ``offset2bag`` (N k,) describing N bags of exactly k entries (cached)."""
    key = (n, k, str(device))
    hit = _HELPER_CACHE.get(key)
    if hit is None:
        if len(_HELPER_CACHE) > 8:
            _HELPER_CACHE.clear()
        offsets = torch.arange(0, n * k, k, device=device)
        offset2bag = torch.arange(n, device=device).repeat_interleave(k)
        hit = _HELPER_CACHE[key] = (offsets, offset2bag)
    return hit


class _LatentMajor:
    """The ``N x k`` selection re-ordered by latent (a CSR of ``S^T``), built once per backward.

    ``scatter_rows(w, src)[i] = sum_{(n, j): idx[n, j] = i} w[n, j] * src[n]`` is then one
    ``embedding_bag`` *forward* (bags = latents, table = ``src``): O(N k d_in) work, no
    ``(N k, d_in)`` scratch, deterministic (each bag is summed in sorted token order), and several
    times faster on CPU than ``index_add_`` or the embedding-bag *backward* kernel.
    """

    def __init__(self, idx: torch.Tensor, d_sae: int, kernels=None) -> None:
        n, k = idx.shape
        self.kernels = kernels  # randsae.sae.triton_ops (lever sparse: triton) or None
        flat = idx.reshape(-1)
        keys = flat.to(torch.int32) if d_sae < 2**31 else flat  # int32 sorts faster
        sorted_keys, self.order = torch.sort(keys, stable=True)
        self.tok = torch.div(self.order, k, rounding_mode="floor")
        # Bag i starts at the first sorted entry >= i (a bincount would sync with the host on
        # CUDA to size its output).
        latents = torch.arange(d_sae, device=idx.device, dtype=keys.dtype)
        self.offsets = torch.searchsorted(sorted_keys, latents)
        self.flat = flat

    def scatter_rows(self, w: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        if self.kernels is not None:
            ends = torch.cat([self.offsets, self.offsets.new_tensor([self.flat.numel()])])
            return self.kernels.csr_bag_sum(src, self.tok, w.reshape(-1)[self.order], ends)
        return F.embedding_bag(
            self.tok,
            src.contiguous(),
            self.offsets,
            mode="sum",
            per_sample_weights=w.reshape(-1)[self.order],
        )

    def scatter_scalars(self, w: torch.Tensor, d_sae: int) -> torch.Tensor:
        if w.device.type == "cuda":  # a bag sum, in order: CUDA's index_add_ adds atomically
            return self.scatter_rows(w, w.new_ones(w.shape[0], 1)).view(d_sae)
        out = torch.zeros(d_sae, dtype=w.dtype, device=w.device)
        return out.index_add_(0, self.flat, w.reshape(-1))


def _topk_forward(x, b_dec, W_enc_t, b_enc, k: int, pre_buf, st: EncoderSettings | None):
    st = st or EncoderSettings()
    x_c = x - b_dec  # (N, d_in)
    # (N, d_sae), dense: the roofline cost. Reusing a scratch buffer avoids re-faulting
    # N * d_sae * 4 bytes of fresh pages every step on CPU.
    if st.lowp is not None:  # bf16 inputs, fp32 accumulation, bf16 pre-activations
        w, b = st.lowp.get(W_enc_t, b_enc)
        pre = torch.addmm(b, x_c.to(w.dtype), w.t(), out=pre_buf)
    else:
        with tf32_matmuls(st.tf32):
            pre = torch.addmm(b_enc, x_c, W_enc_t.t(), out=pre_buf)
    vals, idx = select.topk(pre, k, st.topk, st.topk_chunk)  # (N, k)
    # relu(topk(pre)) == topk(relu(pre)) in value; applying it to (N, k) is cheaper. The
    # selected values take the weights' dtype from here on (a no-op unless bf16).
    return x_c, vals.to(x_c.dtype).clamp_min_(0.0), idx


def _encoder_grads(ctx, g, x_c, W_enc_t, idx, lm: _LatentMajor | None, first: int):
    """Grads for ``(x, b_dec, W_enc_t, b_enc)`` from the selected-entry gradient ``g (N, k)``.

    ``g`` already includes the ReLU gate. ``first`` is the index of ``x`` in the inputs.
    """
    d_sae = W_enc_t.shape[0]
    need_x, need_bdec, need_w, need_benc = ctx.needs_input_grad[first : first + 4]
    grad_x = grad_b_dec = grad_W = grad_b_enc = None
    if need_w or need_benc or need_bdec:
        lm = lm or _LatentMajor(idx, d_sae, sparse_kernels(getattr(ctx, "st", None)))
    if need_benc or need_bdec:
        grad_b_enc = lm.scatter_scalars(g, d_sae)
    if need_w:
        grad_W = lm.scatter_rows(g, x_c)
    if need_x:
        # dL/dx_c[n] = sum_j g[n, j] * W_enc[:, idx[n, j]]: a weighted row gather.
        grad_x = F.embedding_bag(idx, W_enc_t, per_sample_weights=g, mode="sum")
    if need_bdec:
        # -sum_n dL/dx_c[n] = -W_enc @ db_enc: no (N, d_in) gradient needed when x is data.
        grad_b_dec = -(grad_b_enc @ W_enc_t)
    return grad_x, grad_b_dec, grad_W, grad_b_enc if need_benc else None


class _TopKEncode(torch.autograd.Function):
    """``(vals, idx) = topk(relu((x - b_dec) @ W_enc + b_enc), k)`` with a sparse backward.

    ``W_enc_t`` is the encoder in ``(d_sae, d_in)`` row layout, so that one latent's direction is
    one contiguous row. Only the ``N * k`` selected entries carry gradient; the ReLU zeroes the
    gradient of selected entries whose pre-activation is <= 0 (exactly the autograd derivative).
    """

    @staticmethod
    def forward(ctx, x, b_dec, W_enc_t, b_enc, k: int, pre_buf, st):  # type: ignore[override]
        x_c, vals, idx = _topk_forward(x, b_dec, W_enc_t, b_enc, k, pre_buf, st)
        ctx.save_for_backward(x_c, W_enc_t, vals, idx)
        ctx.st = st
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, grad_vals, _grad_idx):  # type: ignore[override]
        x_c, W_enc_t, vals, idx = ctx.saved_tensors
        g = grad_vals * (vals > 0)  # ReLU derivative, (N, k)
        return (*_encoder_grads(ctx, g, x_c, W_enc_t, idx, None, 0), None, None, None)


class _TopKAutoencode(torch.autograd.Function):
    """Encoder + ``embedding_bag`` decoder in one function: ``(x_hat, vals, idx)``.

    Fusing lets the backward sort the selection by latent once and reuse it for both
    ``dW_dec`` and ``dW_enc`` (the same ``N x k`` pattern, different weights).
    """

    @staticmethod
    def forward(ctx, x, b_dec, W_enc_t, b_enc, W_dec, k: int, pre_buf, st):  # type: ignore[override]
        x_c, vals, idx = _topk_forward(x, b_dec, W_enc_t, b_enc, k, pre_buf, st)
        ctx.st, kern = st, sparse_kernels(st)
        if kern is not None:
            x_hat = kern.fixed_bag_sum(W_dec, idx, vals).add_(b_dec)
        else:
            x_hat = F.embedding_bag(idx, W_dec, per_sample_weights=vals, mode="sum").add_(b_dec)
        ctx.save_for_backward(x_c, W_enc_t, W_dec, vals, idx)
        ctx.mark_non_differentiable(idx)
        return x_hat, vals, idx

    @staticmethod
    def backward(ctx, grad_xhat, grad_vals, _grad_idx):  # type: ignore[override]
        x_c, W_enc_t, W_dec, vals, idx = ctx.saved_tensors
        n, k = idx.shape
        d_sae = W_dec.shape[0]
        kern = sparse_kernels(ctx.st)
        lm = _LatentMajor(idx, d_sae, kern)
        gv = torch.zeros_like(vals) if grad_vals is None else grad_vals.clone()
        grad_W_dec = grad_b_dec_out = None
        if grad_xhat is not None:
            grad_xhat = grad_xhat.contiguous()
            offsets, offset2bag = _bag_helpers(n, k, idx.device)
            # dL/dvals[n, j] = <dL/dx_hat[n], W_dec[idx[n, j]]>, without gathering (N, k, d_in).
            if kern is not None:
                gv += kern.gather_dot(grad_xhat, W_dec, idx)
            else:
                gv += torch.ops.aten._embedding_bag_per_sample_weights_backward(
                    grad_xhat, W_dec, idx.reshape(-1), offsets, offset2bag, 0, -1
                ).view(n, k)
            if ctx.needs_input_grad[4]:
                grad_W_dec = lm.scatter_rows(vals, grad_xhat)
            grad_b_dec_out = grad_xhat.sum(dim=0)
        g = gv.mul_(vals > 0)  # ReLU derivative
        grad_x, grad_b_dec, grad_W, grad_b_enc = _encoder_grads(ctx, g, x_c, W_enc_t, idx, lm, 0)
        if grad_b_dec_out is not None and ctx.needs_input_grad[1]:
            grad_b_dec = grad_b_dec_out if grad_b_dec is None else grad_b_dec_out + grad_b_dec
        return grad_x, grad_b_dec, grad_W, grad_b_enc, grad_W_dec, None, None, None


def _unit_rows_(w: torch.Tensor) -> None:
    norms = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    w.div_(norms.clamp_min_(torch.finfo(w.dtype).eps))


def _project_out_rows_(grad: torch.Tensor, w: torch.Tensor) -> None:
    parallel = torch.linalg.vecdot(grad, w).unsqueeze(1)  # (d_sae, 1)
    grad.addcmul_(parallel, w, value=-1.0)


_EPILOGUE = (_unit_rows_, _project_out_rows_)


class TopKSAE(torch.nn.Module):
    """TopK SAE with parameters ``W_enc (d_in, d_sae)``, ``b_enc``, ``W_dec (d_sae, d_in)``, ``b_dec``.

    ``W_enc`` is stored as the transpose view of a contiguous ``(d_sae, d_in)`` tensor: the
    public shape matches sae-lens, while each latent's encoder direction stays one contiguous
    row for the sparse backward.
    """

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        k: int,
        *,
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if not 0 < k < d_sae:
            raise ValueError(f"TopK SAE needs 0 < k < d_sae; got k={k}, d_sae={d_sae}")
        self.d_in, self.d_sae, self.k = int(d_in), int(d_sae), int(k)
        gen = torch.Generator()
        gen.manual_seed(seed if seed is not None else torch.initial_seed() % 2**63)
        # Default nn.Linear(d_in, d_sae) init: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(d_in), ..).
        bound = 1.0 / math.sqrt(d_in)
        w = torch.empty(d_sae, d_in, dtype=torch.float64).uniform_(-bound, bound, generator=gen)
        w = w.to(dtype)
        self.W_enc = torch.nn.Parameter(w.clone().to(device).t())  # (d_in, d_sae) view
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae, dtype=dtype, device=device))
        # Decoder starts as a copy of the encoder directions, unit rows (paper §3).
        w_dec = w / w.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        self.W_dec = torch.nn.Parameter(w_dec.to(device).contiguous())
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in, dtype=dtype, device=device))
        #: Reuse one (N, d_sae) pre-activation buffer across calls (training on CPU).
        self.reuse_buffers = False
        self._pre_buf: torch.Tensor | None = None
        #: How the encoder computes (precision, top-k selection); fp32 and ``torch.topk``
        #: unless a trainer sets it (:mod:`randsae.sae.precision`).
        self.settings = EncoderSettings()
        self._compiled: tuple | None = None

    # -- layout helpers ---------------------------------------------------------------------
    @property
    def W_enc_rows(self) -> torch.Tensor:
        """Encoder as ``(d_sae, d_in)`` rows (a view of ``W_enc``)."""
        return self.W_enc.t()

    # -- forward pieces ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k latents of ``x (N, d_in)``: ``vals (N, k)`` (>= 0) and ``idx (N, k)`` (int64)."""
        x = x.to(self.W_enc.dtype)
        return _TopKEncode.apply(
            x, self.b_dec, self.W_enc_rows, self.b_enc, self.k, self._scratch(x), self.settings
        )

    def _scratch(self, x: torch.Tensor) -> torch.Tensor | None:
        if not (self.reuse_buffers and x.device.type == "cpu"):
            return None
        shape = (x.shape[0], self.d_sae)
        dtype = self.settings.lowp.dtype if self.settings.lowp is not None else x.dtype
        if self._pre_buf is None or self._pre_buf.shape != shape or self._pre_buf.dtype != dtype:
            self._pre_buf = torch.empty(shape, dtype=dtype, device=x.device)
        return self._pre_buf

    def decode(self, vals: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``x_hat = sum_j vals[:, j] * W_dec[idx[:, j]] + b_dec``, shape ``(N, d_in)``."""
        out = F.embedding_bag(idx, self.W_dec, per_sample_weights=vals, mode="sum")
        return out + self.b_dec

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(x_hat, vals, idx)`` (one fused autograd function for training speed)."""
        x = x.to(self.W_enc.dtype)
        return _TopKAutoencode.apply(
            x,
            self.b_dec,
            self.W_enc_rows,
            self.b_enc,
            self.W_dec,
            self.k,
            self._scratch(x),
            self.settings,
        )

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Dense latents ``(N, d_sae)`` with zeros outside the top k."""
        vals, idx = self.encode(x)
        out = torch.zeros(vals.shape[0], self.d_sae, dtype=vals.dtype, device=vals.device)
        return out.scatter_(1, idx, vals)

    # -- decoder constraint (paper: normalize_decoder=True) ------------------------------------
    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self) -> None:
        """Re-impose unit-norm decoder rows."""
        (self._compiled or _EPILOGUE)[0](self.W_dec)

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_directions(self) -> None:
        """Project out of ``W_dec.grad`` the component along each (unit) decoder row."""
        if self.W_dec.grad is None:
            return
        (self._compiled or _EPILOGUE)[1](self.W_dec.grad, self.W_dec)

    def compile_epilogue(self) -> None:
        """``torch.compile`` both decoder constraints (lever ``compile_epilogue``)."""
        self._compiled = tuple(torch.compile(fn, dynamic=False) for fn in _EPILOGUE)

    # -- persistence -----------------------------------------------------------------------
    def sae_lens_cfg(self, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``cfg.json`` dict as ``sae_lens.saes.topk_sae.TopKSAEConfig.to_dict()`` writes it."""
        sl_version = _sae_lens_version()
        meta: dict[str, Any] = {
            "sae_lens_version": sl_version,
            "sae_lens_training_version": sl_version,
        }
        meta.update(metadata or {})
        return {
            "d_in": self.d_in,
            "d_sae": self.d_sae,
            "dtype": _dtype_name(self.W_enc.dtype),
            "device": "cpu",  # weights are saved from CPU; sae-lens moves them on load
            "apply_b_dec_to_input": True,
            "normalize_activations": "none",
            "reshape_activations": "none",
            "metadata": meta,
            "k": self.k,
            "rescale_acts_by_decoder_norm": False,
            "architecture": "topk",
        }

    def save(self, out_dir: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``cfg.json`` + ``sae_weights.safetensors`` (sae-lens 6.x format) to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {
            "W_enc": self.W_enc.detach().cpu().contiguous(),
            "W_dec": self.W_dec.detach().cpu().contiguous(),
            "b_enc": self.b_enc.detach().cpu().contiguous(),
            "b_dec": self.b_dec.detach().cpu().contiguous(),
        }
        # Write to temp names, then rename: a crash never leaves a half-written SAE.
        tmp_w = out / (WEIGHTS_FILENAME + ".tmp")
        save_file(tensors, str(tmp_w))
        tmp_c = out / (CFG_FILENAME + ".tmp")
        tmp_c.write_text(json.dumps(self.sae_lens_cfg(metadata), indent=2))
        tmp_w.replace(out / WEIGHTS_FILENAME)
        tmp_c.replace(out / CFG_FILENAME)
        return out

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> TopKSAE:
        """Load an SAE written by :meth:`save` (or any sae-lens ``topk`` SAE without rescaling)."""
        path = Path(path)
        cfg = json.loads((path / CFG_FILENAME).read_text())
        if cfg.get("architecture") != "topk":
            raise ValueError(f"{path}: expected architecture 'topk', got {cfg.get('architecture')}")
        if (
            cfg.get("rescale_acts_by_decoder_norm")
            or cfg.get("normalize_activations", "none") != "none"
        ):
            raise ValueError(
                f"{path}: decoder-norm rescaling / activation normalisation unsupported"
            )
        dtype = getattr(torch, cfg.get("dtype", "float32"))
        sae = cls(cfg["d_in"], cfg["d_sae"], cfg["k"], seed=0, dtype=dtype, device=device)
        state = load_file(str(path / WEIGHTS_FILENAME))
        with torch.no_grad():
            for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
                getattr(sae, name).copy_(state[name].to(dtype))
        return sae
