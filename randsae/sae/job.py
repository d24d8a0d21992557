"""One SAE in training (the fused backend's state and step) and the recipe it follows.

The recipe, backends and micro-batching are described in :mod:`randsae.sae.train`, which drives
one :class:`_SAEJob` per layer (several in stream mode) and owns checkpoints and logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from randsae.sae.curve import LOG_COLUMNS as LOG_COLUMNS  # re-exported
from randsae.sae.curve import CurveLog, fired_latents
from randsae.sae.levers import Levers, current_levers
from randsae.sae.precision import (
    EncoderSettings,
    resolve_precision,
    tf32_matmuls,
)
from randsae.sae.recipe import auto_lr, geometric_median, linear_warmup_decay  # noqa: F401
from randsae.sae.scaling import estimate_scaling_factor, fold_scaling_factor
from randsae.sae.topk import TopKSAE
from randsae.sections import SAEConfig
from randsae.seeds import stable_seed

#: A latent is dead if it has not fired in this many tokens (the fork's dead_feature_threshold);
#: capped at the run's token budget so short runs report "never fired during training".
DEAD_WINDOW_TOKENS = 10_000_000


class JobBase(CurveLog):
    """What every SAE job shares: schedule settings, dead-latent counters, the training curve
    and the sae-lens trainer plumbing (:class:`_SAEJob` and ``randsae.sae.families.FamilyJob``).

    ``levers``: speed switches (:mod:`randsae.sae.levers`; default: :func:`current_levers`).
    """

    def __init__(
        self,
        key: Any,
        *,
        d_in: int,
        cfg: SAEConfig,
        seed: int,
        device: torch.device,
        total_steps: int,
        levers: Levers | None = None,
    ) -> None:
        self.key, self.cfg, self.device = key, cfg, device
        self.levers = levers if levers is not None else current_levers()
        self.precision = resolve_precision(cfg.precision, device)
        self.d_sae = d_sae = cfg.width(d_in)
        self.lr = float(cfg.lr) if cfg.lr is not None else auto_lr(d_sae)
        self.warmup = cfg.warmup_steps
        self.total_steps = total_steps
        self.dead_window = min(DEAD_WINDOW_TOKENS, cfg.n_tokens)
        #: ``sae.normalize_activations: expected_average_only_in``: the constant input factor
        #: (from the first batch), folded into the saved SAE (randsae.sae.families).
        self.scale: float | None = None
        self.tokens_since_fired = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self._init_curve(self.levers.metrics_every)
        self.step = 0
        self._build(d_in, seed)

    def _build(self, d_in: int, seed: int) -> None:
        """Create the SAE, its optimizer and schedule (each family's own)."""
        raise NotImplementedError

    def _saelens_trainer(self, sl_sae: Any) -> Any:
        """sae-lens's trainer on ``sl_sae`` with this job's LR schedule and dead window.

        A constant main phase of 0 steps + linear decay to 0 == warm-up then linear decay
        (``SAETrainerConfig`` asserts ``lr_end`` is not None).
        """
        from sae_lens.config import LoggingConfig, SAETrainerConfig
        from sae_lens.training.sae_trainer import SAETrainer

        bs = self.cfg.batch_size
        tcfg = SAETrainerConfig(
            total_training_samples=self.total_steps * bs,
            train_batch_size_samples=bs,
            lr=self.lr,
            lr_end=self.lr,
            lr_scheduler_name="constant",
            lr_warm_up_steps=self.warmup,
            lr_decay_steps=max(0, self.total_steps - self.warmup),
            device=str(self.device),
            logger=LoggingConfig(log_to_wandb=False),
            checkpoint_path=None,
            save_final_checkpoint=False,
            dead_feature_window=max(1, self.dead_window // bs),
            autocast=self.precision == "bfloat16",  # sae-lens's bf16 autocast of the forward
        )
        return SAETrainer(cfg=tcfg, sae=sl_sae, data_provider=iter(()))

    @staticmethod
    def _trainer_state(tr: Any) -> dict[str, Any]:
        return {
            "n_training_steps": tr.n_training_steps,
            "n_training_samples": tr.n_training_samples,
            "act_freq_scores": tr.act_freq_scores.cpu(),
            "n_forward_passes_since_fired": tr.n_forward_passes_since_fired.cpu(),
            "n_frac_active_samples": tr.n_frac_active_samples,
        }

    @staticmethod
    def _load_trainer_state(tr: Any, st: Mapping[str, Any]) -> None:
        tr.n_training_steps = st["n_training_steps"]
        tr.n_training_samples = st["n_training_samples"]
        tr.act_freq_scores.copy_(st["act_freq_scores"])
        tr.n_forward_passes_since_fired.copy_(st["n_forward_passes_since_fired"])
        tr.n_frac_active_samples = st["n_frac_active_samples"]


class _SAEJob(JobBase):
    """One SAE being trained: model, optimizer, schedule, dead-latent counters and log."""

    def _build(self, d_in: int, seed: int) -> None:
        cfg, device, d_sae = self.cfg, self.device, self.d_sae
        self.backend = cfg.backend
        self.k = cfg.k
        self.normalize_decoder = cfg.normalize_decoder
        self.micro = cfg.micro
        self.sae = TopKSAE(d_in, d_sae, self.k, seed=stable_seed(seed, "sae-init"), device=device)
        lv = self.levers
        self.sae.settings = EncoderSettings.for_precision(
            self.precision,
            device,
            topk=lv.topk,
            topk_chunk=lv.topk_chunk,
            sparse=lv.sparse_for(device),
        )
        if lv.compile_epilogue:
            self.sae.compile_epilogue()
        self.b_dec_initialised = False
        self.normalize = cfg.normalize_activations
        if self.backend == "fused":
            # Fused Adam: one pass over each parameter instead of ~10 foreach kernels. It needs
            # contiguous tensors, and W_enc is the transposed view of a contiguous (d_sae, d_in)
            # tensor, so the optimizer steps a contiguous alias of the same storage (otherwise
            # it would clone and copy back W_enc and its state every step).
            self._pairs = [
                (p, p if p.is_contiguous() else p.detach().t()) for p in self.sae.parameters()
            ]
            for p, alias in self._pairs:
                assert alias.is_contiguous() and alias.data_ptr() == p.data_ptr()
            self.optimizer = torch.optim.Adam(
                [alias for _, alias in self._pairs], lr=self.lr, fused=True
            )
            self.sae.reuse_buffers = True
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, linear_warmup_decay(self.warmup, self.total_steps)
            )
        else:
            self._build_saelens()

    # -- sae-lens backend -------------------------------------------------------------------
    def _build_saelens(self) -> None:
        from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

        s = self.sae
        on_cpu = self.device.type == "cpu"
        sl_cfg = TopKTrainingSAEConfig(
            d_in=s.d_in,
            d_sae=s.d_sae,
            k=self.k,
            device=str(self.device),
            dtype="float32",
            normalize_activations="none",
            apply_b_dec_to_input=True,
            # Paper: no AuxK; treat the decoder as given (we keep it unit-norm ourselves).
            aux_loss_coefficient=0.0,
            rescale_acts_by_decoder_norm=False,
            # Sparse activations are the fast path on CPU (offline-stack.md §6).
            use_sparse_activations=on_cpu,
        )
        sl_sae = TopKTrainingSAE(sl_cfg)
        with torch.no_grad():  # same init as the fused backend
            for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
                getattr(sl_sae, name).copy_(getattr(s, name))
        self.sl_sae = sl_sae
        self.sl_trainer = self._saelens_trainer(sl_sae)
        self.optimizer = self.sl_trainer.optimizer
        self.scheduler = self.sl_trainer.lr_scheduler
        if self.normalize_decoder:
            # Remove the parallel gradient after backward, before sae-lens clips and steps.
            def _hook(p: torch.Tensor) -> None:
                if p.grad is not None:
                    with torch.no_grad():
                        p.grad.sub_((p.grad * p).sum(1, keepdim=True) * p)

            sl_sae.W_dec.register_post_accumulate_grad_hook(_hook)

    # -- training ---------------------------------------------------------------------------
    @torch.no_grad()
    def init_b_dec(self, x: torch.Tensor) -> None:
        how = self.cfg.b_dec_init
        if how == "geometric_median":
            val = geometric_median(x)
        elif how == "mean":
            val = x.mean(dim=0)
        else:
            val = torch.zeros_like(self.sae.b_dec)
        self.sae.b_dec.copy_(val)
        if self.backend == "saelens":
            self.sl_sae.b_dec.copy_(val)
        self.b_dec_initialised = True

    def train_step(self, x: torch.Tensor) -> None:
        x = x.to(self.device, torch.float32, non_blocking=True)
        if self.normalize == "expected_average_only_in":
            if self.scale is None:
                self.scale = estimate_scaling_factor(x)
            x = x * self.scale
        if not self.b_dec_initialised:
            self.init_b_dec(x)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.backend == "fused":
            loss, fvu, vals, idx = self._fused_step(x)
        else:
            loss, fvu, vals, idx = self._saelens_step(x)
        with torch.no_grad():
            fired = fired_latents(vals, idx, self.d_sae)
            l0 = (vals > 0).sum(dim=1).float().mean()
        self._record(x.shape[0], fired, loss, fvu, l0, lr)

    def _fused_step(self, x: torch.Tensor):
        loss, vals, idx = self._accumulate_grads(x)
        self._apply_update()
        return loss, loss, vals, idx

    def _accumulate_grads(self, x: torch.Tensor):
        """Backward the batch loss into ``.grad``, one micro-batch at a time.

        Loss (the fork's): ``sum_c (n_c / B) * FVU_c`` with ``FVU_c = sum ||x - x_hat||^2 /
        sum ||x - mean_c(x)||^2`` over chunk ``c``; one chunk (no micro-batching) is the
        whole-batch FVU. Returns the loss and the batch's ``(vals, idx)`` selections.
        """
        sae, n = self.sae, x.shape[0]
        chunks = x.split(self.micro) if self.micro is not None else (x,)
        loss = torch.zeros((), dtype=x.dtype, device=x.device)
        vals_all, idx_all = [], []
        for xc in chunks:
            x_hat, vals, idx = sae(xc)
            total_var = (xc - xc.mean(dim=0)).pow(2).sum()
            fvu = (x_hat - xc).pow(2).sum() / total_var.clamp_min(torch.finfo(x.dtype).tiny)
            if len(chunks) > 1:
                fvu = fvu * (xc.shape[0] / n)
            fvu.backward()
            loss += fvu.detach()
            vals_all.append(vals.detach())
            idx_all.append(idx)
        if len(chunks) == 1:
            return loss, vals_all[0], idx_all[0]
        return loss, torch.cat(vals_all), torch.cat(idx_all)

    def _apply_update(self) -> None:
        """Decoder-gradient projection, clipping, Adam step, schedule, decoder renormalisation."""
        sae = self.sae
        if self.normalize_decoder:
            sae.remove_gradient_parallel_to_decoder_directions()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        for p, alias in self._pairs:
            if alias is not p:
                alias.grad = p.grad.t() if p.grad is not None else None
        self.optimizer.step()
        if sae.settings.lowp is not None:
            sae.settings.lowp.invalidate()
        for p, alias in self._pairs:
            p.grad = None
            alias.grad = None
        self.scheduler.step()
        if self.normalize_decoder:
            sae.set_decoder_norm_to_unit_norm()

    def _saelens_step(self, x: torch.Tensor):
        tr = self.sl_trainer
        with tf32_matmuls(self.precision == "tf32" and self.device.type == "cuda"):
            out = tr.step(x)
        tr.n_training_steps += 1
        with torch.no_grad():
            if self.normalize_decoder:
                w = self.sl_sae.W_dec
                w.div_(w.norm(dim=1, keepdim=True).clamp_min(1e-12))
            acts = out.feature_acts
            acts = acts.to_dense() if acts.is_sparse else acts
            vals, idx = acts.topk(self.k, dim=-1)
            total_var = (x - x.mean(dim=0)).pow(2).sum()
            fvu = (out.sae_out - x).pow(2).sum() / total_var
        return out.loss.detach(), fvu, vals, idx

    def finalize(self) -> TopKSAE:
        if self.backend == "saelens":
            with torch.no_grad():
                for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
                    getattr(self.sae, name).copy_(getattr(self.sl_sae, name))
        if self.scale is not None:
            fold_scaling_factor(self.sae, self.scale)
            self.scale = None
        return self.sae

    # -- checkpoint state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model = self.sae if self.backend == "fused" else self.sl_sae
        state = {
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "tokens_since_fired": self.tokens_since_fired.cpu(),
            "log": list(self.log),
            "b_dec_initialised": self.b_dec_initialised,
            "step": self.step,
            "scale": self.scale,
        }
        if self.backend == "saelens":
            state["sl_trainer"] = self._trainer_state(self.sl_trainer)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        model = self.sae if self.backend == "fused" else self.sl_sae
        with torch.no_grad():
            for name, t in state["model"].items():
                getattr(model, name).copy_(t)
        if self.sae.settings.lowp is not None:
            self.sae.settings.lowp.invalidate()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.tokens_since_fired.copy_(state["tokens_since_fired"])
        self.log = list(state["log"])
        self.b_dec_initialised = bool(state["b_dec_initialised"])
        self.step = int(state["step"])
        self.scale = state.get("scale")
        if self.backend == "saelens":
            self._load_trainer_state(self.sl_trainer, state["sl_trainer"])
