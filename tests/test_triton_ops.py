"""The Triton sparse kernels (lever ``sparse: triton``) against the eager ``embedding_bag``
reference, run by Triton's interpreter on a CPU. Skipped where Triton is not installed (it is
no dependency of the project; the GPU suite measures the kernels on a GPU)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

# The interpreter unless a GPU is there; set before the kernels are defined, restored after.
_before = os.environ.get("TRITON_INTERPRET")
if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
triton = pytest.importorskip("triton")

from randsae.sae import triton_ops  # noqa: E402
from randsae.sae.topk import TopKSAE  # noqa: E402

DEV = "cpu" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"


@pytest.fixture(autouse=True, scope="module")
def _interpreter_only_for_this_module():
    yield
    if _before is None:
        os.environ.pop("TRITON_INTERPRET", None)


if DEV == "cpu":
    # Triton 3.6's interpreter turns a scalar tensor into an int with int(array), which NumPy 2
    # refuses for its 1-element arrays (loops over runtime bounds hit it); index its element.
    import numpy as np
    from triton.runtime import interpreter as _interp

    _patch = _interp._patch_lang_tensor

    def _patch_lang_tensor(tensor, scope):
        _patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda t: int(np.asarray(t.handle.data).reshape(-1)[0]))

    _interp._patch_lang_tensor = _patch_lang_tensor


def test_fixed_bags_are_the_decoder():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(50, 20, generator=g).to(DEV)
    idx = torch.randint(0, 50, (7, 4), generator=g).to(DEV)
    w = torch.rand(7, 4, generator=g).to(DEV)
    ref = F.embedding_bag(idx, table, per_sample_weights=w, mode="sum")
    torch.testing.assert_close(triton_ops.fixed_bag_sum(table, idx, w), ref)


def test_csr_bags_with_empty_and_long_bags():
    g = torch.Generator().manual_seed(1)
    table = torch.randn(9, 130, generator=g).to(DEV)  # d over one block of 128
    offsets = torch.tensor([0, 0, 3, 3, 10, 11]).to(DEV)  # bags 0 and 2 empty
    ind = torch.randint(0, 9, (11,), generator=g).to(DEV)
    w = torch.randn(11, generator=g).to(DEV)
    ref = F.embedding_bag(ind, table, offsets[:-1], mode="sum", per_sample_weights=w)
    torch.testing.assert_close(triton_ops.csr_bag_sum(table, ind, w, offsets), ref)


def test_gather_dot_is_the_values_gradient():
    g = torch.Generator().manual_seed(2)
    table = torch.randn(40, 33, generator=g).to(DEV)
    idx = torch.randint(0, 40, (6, 5), generator=g).to(DEV)  # k 5: masked to a block of 8
    grad = torch.randn(6, 33, generator=g).to(DEV)
    ref = (table[idx] * grad[:, None, :]).sum(-1)
    torch.testing.assert_close(triton_ops.gather_dot(grad, table, idx), ref)


@pytest.mark.parametrize("fused", [True, False])
def test_training_gradients_match_the_eager_path(fused):
    x = torch.randn(24, 16, generator=torch.Generator().manual_seed(3)).to(DEV)
    grads = {}
    for sparse in ("eager", "triton"):
        sae = TopKSAE(16, 64, 4, seed=5, device=DEV)
        sae.settings.sparse = sparse
        if fused:
            x_hat, _, _ = sae(x)
        else:
            vals, idx = sae.encode(x)
            x_hat = sae.decode(vals, idx)
        (x_hat - x).pow(2).sum().backward()
        grads[sparse] = {n: p.grad.clone() for n, p in sae.named_parameters() if p.grad is not None}
    assert grads["triton"].keys() == grads["eager"].keys()
    for name, ref in grads["eager"].items():
        torch.testing.assert_close(grads["triton"][name], ref, rtol=1e-5, atol=1e-5, msg=name)
