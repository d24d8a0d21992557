"""Speed switches of the fused trainer ("levers"), none of which changes what is trained.

Each lever is A/B-measured by ``benchmarks/gpu_suite.py`` so that a GPU run decides which to keep;
the defaults here are the choices made without a GPU measurement (docs/benchmarks-gpu.md says
why each is on or off). They are implementation settings, not config keys: a run's outputs do
not depend on them beyond floating-point summation order (``sparse``, ``topk``), and the levers
a run used are written into its training summary.

``RANDSAE_SAE_LEVERS`` overrides the defaults for a whole process (the Snakemake jobs of a GPU
benchmark run), e.g. ``RANDSAE_SAE_LEVERS="metrics_every=1,topk=chunked,stream_block=host"``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

ENV = "RANDSAE_SAE_LEVERS"


@dataclass(frozen=True)
class Levers:
    """Speed switches of :class:`randsae.sae.job._SAEJob` and the activation sources."""

    #: Read the training curve (loss, FVU, L0, dead fraction) back to the host every this many
    #: steps; in between the values and the dead-latent counters stay on the device, so a step
    #: never waits for the GPU. 1 = every step. The curve is the same whatever the value.
    metrics_every: int = 16
    #: Top-k selection: ``torch`` (``torch.topk``) or ``chunked`` (top-(k+1) per chunk of
    #: latents, then over the candidates; exactly ``torch.topk``'s index set per row, rows with
    #: a tie at the k-th value are re-selected by ``torch.topk``; costs one host sync per call).
    topk: str = "torch"
    #: Latents per chunk of the ``chunked`` selection.
    topk_chunk: int = 4096
    #: Sparse decode and sparse weight gradients: ``eager`` (``embedding_bag`` kernels, the
    #: reference) or ``triton`` (fused Triton kernels, CUDA only; ``eager`` where Triton is
    #: missing).
    sparse: str = "eager"
    #: Host memory of the activation sources' blocks and batches when training on CUDA: pinned
    #: (page-locked) so that the copy to the GPU is asynchronous.
    pin_memory: bool = True
    #: Stream mode on CUDA: keep the shuffle block on the GPU (``device``: activations never
    #: leave it; stored in ``activations.dtype``), in pinned host memory (``host``), or
    #: ``auto`` (the GPU when the block takes at most a quarter of its memory).
    stream_block: str = "auto"
    #: ``torch.compile`` the decoder-constraint epilogue of the optimizer step (gradient
    #: projection, decoder renormalisation).
    compile_epilogue: bool = False

    def __post_init__(self) -> None:
        checks = {
            "topk": ("torch", "chunked"),
            "sparse": ("eager", "triton"),
            "stream_block": ("auto", "device", "host"),
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"lever {name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.metrics_every < 1 or self.topk_chunk < 2:
            raise ValueError("levers metrics_every and topk_chunk must be positive")

    def sparse_for(self, device: object) -> str:
        """``sparse`` on ``device``: ``triton`` only on CUDA with Triton installed."""
        import importlib.util

        import torch

        cuda = torch.device(device).type == "cuda"  # type: ignore[arg-type]
        ok = cuda and importlib.util.find_spec("triton") is not None
        return "triton" if self.sparse == "triton" and ok else "eager"

    def replace(self, **changes: object) -> Levers:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def parse_levers(text: str, base: Levers | None = None) -> Levers:
    """``"name=value,name=value"`` over ``base`` (the defaults): the ``RANDSAE_SAE_LEVERS`` syntax."""
    base = base or Levers()
    fields = {f.name: f.type for f in dataclasses.fields(Levers)}
    changes: dict[str, object] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ValueError(
                f"{ENV}: expected name=value with name in {sorted(fields)}, got {item!r}"
            )
        kind = fields[name]
        value = value.strip()
        if kind in ("bool", bool):
            changes[name] = value.lower() in ("1", "true", "yes", "on")
        elif kind in ("int", int):
            changes[name] = int(value)
        else:
            changes[name] = value
    return base.replace(**changes)


def current_levers() -> Levers:
    """The defaults, overridden by ``RANDSAE_SAE_LEVERS`` when it is set."""
    return parse_levers(os.environ.get(ENV, ""))
