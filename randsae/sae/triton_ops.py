"""Triton kernels for the TopK SAE's sparse terms (lever ``sparse: triton``, CUDA only).

Two kernels cover every sparse term of :mod:`randsae.sae.topk`:

* :func:`csr_bag_sum`: ``out[b] = sum_{e in bag b} w[e] * table[ind[e]]`` over bags given by
  CSR offsets. With fixed bags of ``k`` it is the decoder (``x_hat = sum_j vals[n, j] *
  W_dec[idx[n, j]]``); with bags = latents (the selection sorted by latent) it is ``dW_dec`` and
  ``dW_enc``. Each bag is summed in order by one program, in fp32: deterministic.
* :func:`gather_dot`: ``out[n, j] = <g[n], table[idx[n, j]]>``: the gradient of the selected
  values through the decoder, without an ``(N, k, d_in)`` gather.

The eager path (``embedding_bag`` kernels) stays the reference: ``tests/test_triton_ops.py``
checks these against it through Triton's interpreter (``TRITON_INTERPRET=1``, on a CPU) when
Triton is installed. Imported only when the lever is on, so the trainer never needs Triton.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _csr_bag_sum_kernel(out_ptr, table_ptr, ind_ptr, w_ptr, off_ptr, d, stride_t, stride_o,
                        BLOCK_D: tl.constexpr):  # fmt: skip
    bag = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = cols < d
    start = tl.load(off_ptr + bag)
    end = tl.load(off_ptr + bag + 1)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for e in range(start, end):
        row = tl.load(ind_ptr + e).to(tl.int64)
        w = tl.load(w_ptr + e).to(tl.float32)
        acc += w * tl.load(table_ptr + row * stride_t + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + bag * stride_o + cols, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _gather_dot_kernel(out_ptr, g_ptr, table_ptr, idx_ptr, d, k, stride_g, stride_t,
                       BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):  # fmt: skip
    n = tl.program_id(0).to(tl.int64)
    js = tl.arange(0, BLOCK_K)
    jmask = js < k
    rows = tl.load(idx_ptr + n * k + js, mask=jmask, other=0).to(tl.int64)
    acc = tl.zeros([BLOCK_K], dtype=tl.float32)
    for d0 in range(0, d, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        cmask = cols < d
        gv = tl.load(g_ptr + n * stride_g + cols, mask=cmask, other=0.0).to(tl.float32)
        tile_mask = jmask[:, None] & cmask[None, :]
        t = tl.load(table_ptr + rows[:, None] * stride_t + cols[None, :], mask=tile_mask, other=0.0)
        acc += tl.sum(t.to(tl.float32) * gv[None, :], axis=1)
    tl.store(out_ptr + n * k + js, acc.to(out_ptr.dtype.element_ty), mask=jmask)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def csr_bag_sum(
    table: torch.Tensor, ind: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """``(len(offsets) - 1, d)``: bag ``b`` sums ``weights[e] * table[ind[e]]`` for ``e`` in
    ``offsets[b]:offsets[b + 1]`` (``offsets`` has one entry more than there are bags)."""
    table = _rows(table)
    n_bags, d = offsets.numel() - 1, table.shape[1]
    out = torch.empty(n_bags, d, dtype=table.dtype, device=table.device)
    if n_bags == 0:
        return out
    block = min(1024, triton.next_power_of_2(d))
    grid = (n_bags, triton.cdiv(d, block))
    _csr_bag_sum_kernel[grid](
        out, table, ind.contiguous(), weights.contiguous(), offsets.contiguous(), d,
        table.stride(0), out.stride(0), BLOCK_D=block,
    )  # fmt: skip
    return out


def fixed_bag_sum(table: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``(N, d)``: row ``n`` sums ``weights[n, j] * table[idx[n, j]]`` (the decoder)."""
    n, k = idx.shape
    offsets = torch.arange(0, n * k + 1, k, device=idx.device)
    return csr_bag_sum(table, idx.reshape(-1), weights.reshape(-1), offsets)


def gather_dot(g: torch.Tensor, table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``(N, k)``: ``<g[n], table[idx[n, j]]>``."""
    g, table, idx = _rows(g), _rows(table), idx.contiguous()
    n, k = idx.shape
    d = table.shape[1]
    out = torch.empty(n, k, dtype=g.dtype, device=g.device)
    if n == 0:
        return out
    _gather_dot_kernel[(n,)](
        out, g, table, idx, d, k, g.stride(0), table.stride(0),
        BLOCK_K=triton.next_power_of_2(k), BLOCK_D=min(128, triton.next_power_of_2(d)),
    )  # fmt: skip
    return out
