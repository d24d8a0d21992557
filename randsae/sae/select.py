"""Top-k selection over the latents: ``torch.topk`` and an exact two-stage variant.

:func:`chunked_topk` returns, for every row, exactly the index set ``torch.topk`` returns: the
top ``k`` of a row lie among the top ``k + 1`` of each chunk of latents they fall in, so a second
top-(k+1) over the candidates gives the row's ``k`` largest values and its ``(k+1)``-th. Where
those two differ (no tie at the boundary) the set of the ``k`` largest is unique, so it is the
set ``torch.topk`` returns. Rows where they tie (bf16 pre-activations tie often) are selected
again by ``torch.topk`` itself, which settles the tie as it would have. The order of the ``k``
entries within a row is not ``torch.topk``'s (``sorted=False`` leaves it unspecified anyway).
"""

from __future__ import annotations

import torch


def topk(pre: torch.Tensor, k: int, method: str = "torch", chunk: int = 4096):
    """``(values, indices)`` of the ``k`` largest entries of each row of ``pre`` (unsorted)."""
    if method == "chunked":
        return chunked_topk(pre, k, chunk)
    return pre.topk(k, dim=-1, sorted=False)


def chunked_topk(pre: torch.Tensor, k: int, chunk: int = 4096):
    """Two-stage top-k with ``torch.topk``'s index set (see the module docstring)."""
    n, m = pre.shape
    if m % chunk or (m // chunk) * (k + 1) >= m or chunk <= k + 1:
        return pre.topk(k, dim=-1, sorted=False)
    c = m // chunk
    v1, i1 = pre.view(n, c, chunk).topk(k + 1, dim=-1, sorted=False)  # (n, c, k+1)
    base = torch.arange(0, m, chunk, device=pre.device, dtype=i1.dtype).view(1, c, 1)
    cand_i = (i1 + base).view(n, c * (k + 1))
    v2, j2 = v1.view(n, c * (k + 1)).topk(k + 1, dim=-1, sorted=True)  # descending
    vals, idx = v2[:, :k].contiguous(), cand_i.gather(1, j2[:, :k])
    tied = (v2[:, k - 1] == v2[:, k]).nonzero().view(-1)  # one host sync
    if tied.numel():
        tv, ti = pre.index_select(0, tied).topk(k, dim=-1, sorted=False)
        vals = vals.index_copy(0, tied, tv)
        idx = idx.index_copy(0, tied, ti)
    return vals, idx
