"""SAE families beyond TopK, trained by sae-lens's own trainer, and one loader for them all.

``sae.architecture`` picks the family:

- ``topk``: the fused TopK trainer (:mod:`randsae.sae.train`, the paper's recipe; default).
- ``relu``: sae-lens ``StandardTrainingSAE`` (ReLU + L1 penalty, ``sae.sparsity_coefficient``).
- ``jumprelu``: ``JumpReLUTrainingSAE`` (L0 penalty, ``sae.sparsity_coefficient``).
- ``gated``: ``GatedTrainingSAE`` (L1 penalty, ``sae.sparsity_coefficient``).
- ``batchtopk``: ``BatchTopKTrainingSAE`` (``sae.k`` active latents per token on average over
  the batch; saved for inference as a JumpReLU SAE with the learned threshold, as sae-lens does).

Each family job steps sae-lens's ``SAETrainer`` on our activation batches (its loss, its
optimizer, its LR schedule with our warm-up and linear decay) and saves the trained SAE with
``save_inference_model``: a checkpoint that ``sae_lens.SAE.load_from_disk`` loads.

Activation normalisation (``sae.normalize_activations``, sae-lens's values): ``none``;
``expected_average_only_in`` (one constant factor ``sqrt(d_in) / E||x||`` so that the average
norm is ``sqrt(d_in)``; estimated from the first training batch — sae-lens averages over its
first ``n_batches_for_norm_estimate`` batches — and folded into the saved weights as sae-lens's
``fold_activation_norm_scaling_factor`` does, so the saved SAE reads and writes activations in
the original scale); ``constant_norm_rescale`` and ``layer_norm`` (per-token, applied by the
saved sae-lens SAE itself at encode time and undone at decode time; sae-lens families only).
Either way every downstream metric is computed on the original-scale activations.

:func:`load_sae` loads any of these checkpoints behind one encode interface
(``encode(x) -> (vals, idx)``, ``decode(vals, idx)``, ``d_sae``, ``k``): TopK checkpoints
without runtime normalisation through the fast :class:`randsae.sae.topk.TopKSAE`, everything
else through :class:`SAELensCodes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from randsae.sae.job import JobBase
from randsae.sae.precision import tf32_matmuls
from randsae.sae.scaling import estimate_scaling_factor
from randsae.seeds import stable_seed

if TYPE_CHECKING:
    from randsae.sections import SAEConfig


def _training_sae(arch: str, d_in: int, d_sae: int, cfg: SAEConfig, device: str):
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.gated_sae import GatedTrainingSAE, GatedTrainingSAEConfig
    from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig

    norm = cfg.normalize_activations
    # The constant factor is applied to the batches here and folded at the end (see module doc).
    common = dict(
        d_in=d_in,
        d_sae=d_sae,
        device=device,
        dtype="float32",
        normalize_activations="none" if norm == "expected_average_only_in" else norm,
        apply_b_dec_to_input=True,
    )
    coef = float(cfg.sparsity_coefficient)
    if arch == "relu":
        return StandardTrainingSAE(StandardTrainingSAEConfig(**common, l1_coefficient=coef))
    if arch == "gated":
        return GatedTrainingSAE(GatedTrainingSAEConfig(**common, l1_coefficient=coef))
    if arch == "jumprelu":
        return JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(**common, l0_coefficient=coef))
    if arch == "batchtopk":
        return BatchTopKTrainingSAE(
            BatchTopKTrainingSAEConfig(**common, k=cfg.k, aux_loss_coefficient=0.0)
        )
    raise ValueError(f"sae.architecture {arch!r} is not a sae-lens family")


class FamilyJob(JobBase):
    """One sae-lens family SAE being trained; the interface of ``randsae.sae.train._SAEJob``."""

    def _build(self, d_in: int, seed: int) -> None:
        cfg, device = self.cfg, self.device
        self.arch = cfg.architecture
        self.backend = f"saelens-{self.arch}"
        self.k = cfg.k if self.arch == "batchtopk" else 0
        self.norm = cfg.normalize_activations
        with torch.random.fork_rng(devices=[]):  # sae-lens initialises from the global RNG
            torch.manual_seed(stable_seed(seed, "sae-init"))
            self.sl_sae = _training_sae(self.arch, d_in, self.d_sae, cfg, str(device))
        self.trainer = self._saelens_trainer(self.sl_sae)
        self.optimizer = self.trainer.optimizer
        self.scheduler = self.trainer.lr_scheduler

    def train_step(self, x: torch.Tensor) -> None:
        x = x.to(self.device, torch.float32)
        if self.norm == "expected_average_only_in":
            if self.scale is None:
                self.scale = estimate_scaling_factor(x)
            x = x * self.scale
        lr = self.optimizer.param_groups[0]["lr"]
        with tf32_matmuls(self.precision == "tf32" and self.device.type == "cuda"):
            out = self.trainer.step(x)
        self.trainer.n_training_steps += 1
        with torch.no_grad():
            acts = out.feature_acts
            acts = acts.to_dense() if acts.is_sparse else acts
            fired = (acts != 0).any(dim=0)
            l0 = (acts != 0).sum(dim=1).float().mean()
            total_var = (x - x.mean(dim=0)).pow(2).sum()
            fvu = (out.sae_out - x).pow(2).sum() / total_var.clamp_min(1e-30)
        self._record(x.shape[0], fired, out.loss.detach(), fvu, l0, lr)

    def finalize(self) -> FamilySAE:
        if self.scale is not None:
            # sae-lens's own folding (W_enc *= s; W_dec, b_dec /= s). Pre-activations are
            # unchanged by it, so learned thresholds (JumpReLU, BatchTopK) stay valid.
            self.sl_sae.fold_activation_norm_scaling_factor(self.scale)
        return FamilySAE(self.sl_sae, self.scale)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.sl_sae.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "tokens_since_fired": self.tokens_since_fired.cpu(),
            "log": list(self.log),
            "step": self.step,
            "scale": self.scale,
            "sl_trainer": self._trainer_state(self.trainer),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sl_sae.load_state_dict({k: v.to(self.device) for k, v in state["model"].items()})
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.tokens_since_fired.copy_(state["tokens_since_fired"])
        self.log = list(state["log"])
        self.step = int(state["step"])
        self.scale = state["scale"]
        self._load_trainer_state(self.trainer, state["sl_trainer"])


class FamilySAE:
    """A trained sae-lens SAE with :meth:`save` (sae-lens inference checkpoint, atomic)."""

    def __init__(self, sl_sae: Any, scale: float | None) -> None:
        self.sl_sae = sl_sae
        self.scale = scale

    def save(self, out_dir: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
        import shutil

        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        for key, val in (metadata or {}).items():
            self.sl_sae.cfg.metadata[key] = val
        if self.scale is not None:
            self.sl_sae.cfg.metadata["norm_scaling_factor_folded"] = self.scale
        tmp = out.with_name(out.name + ".tmp-save")
        shutil.rmtree(tmp, ignore_errors=True)
        weights, cfg_path = self.sl_sae.save_inference_model(tmp)
        out.mkdir(parents=True, exist_ok=True)
        # weights first, config last: a config only ever describes complete weights
        weights.replace(out / weights.name)
        cfg_path.replace(out / cfg_path.name)
        shutil.rmtree(tmp, ignore_errors=True)
        return out


def cat_codes(
    vals: Sequence[torch.Tensor], idx: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate sparse codes of varying width, padding with ``val 0`` entries (never active)."""
    width = max(v.shape[1] for v in vals)
    pv, pi = [], []
    for v, i in zip(vals, idx, strict=True):
        pad = width - v.shape[1]
        if pad:
            v = torch.nn.functional.pad(v, (0, pad))
            i = torch.nn.functional.pad(i, (0, pad))
        pv.append(v)
        pi.append(i)
    return torch.cat(pv), torch.cat(pi)


class SAELensCodes:
    """Any sae-lens SAE behind the sparse-code interface of :class:`randsae.sae.topk.TopKSAE`.

    ``encode(x)`` returns the dense codes as ``(vals, idx)`` of width = the most active latents
    of any token in ``x`` (entries with ``vals == 0`` are padding and never active);
    ``decode(vals, idx)`` scatters them back and calls the SAE's own ``decode`` (which undoes
    any runtime normalisation its ``encode`` applied).
    """

    def __init__(self, sae: Any) -> None:
        self.sae = sae.eval()
        self.d_in = int(sae.cfg.d_in)
        self.d_sae = int(sae.cfg.d_sae)
        k = getattr(sae.cfg, "k", None)
        self.k = int(k) if k is not None else 0  # 0: no fixed number of active latents
        self.architecture = sae.cfg.architecture()

    @property
    def W_enc(self) -> torch.Tensor:
        return self.sae.W_enc

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dense = self.sae.encode(x.to(self.sae.W_dec.dtype))
        width = max(1, int((dense != 0).sum(dim=-1).max())) if dense.numel() else 1
        vals, idx = dense.topk(min(width, self.d_sae), dim=-1)
        return vals, idx

    @torch.no_grad()
    def decode(self, vals: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        dense = torch.zeros(vals.shape[0], self.d_sae, dtype=vals.dtype, device=vals.device)
        return self.sae.decode(dense.scatter_(1, idx.long(), vals))

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.sae.encode(x.to(self.sae.W_dec.dtype))


def load_sae(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """Load any sae-lens checkpoint this pipeline writes, behind the sparse-code interface."""
    from randsae.sae.topk import CFG_FILENAME, TopKSAE

    cfg = json.loads((Path(path) / CFG_FILENAME).read_text())
    if (
        cfg.get("architecture") == "topk"
        and cfg.get("normalize_activations", "none") == "none"
        and not cfg.get("rescale_acts_by_decoder_norm")
    ):
        return TopKSAE.load(path, device=device)
    from sae_lens import SAE

    return SAELensCodes(SAE.load_from_disk(str(path), device=str(device)))
