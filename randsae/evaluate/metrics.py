"""SAE quality metrics for one cell (model, init, layer) on held-out tokens.

``evaluate_sae`` streams the evaluation tokens in batches and returns reconstruction, sparsity
and downstream (CE / KL) metrics; every formula and its SAEBench / sae-lens counterpart is listed
in ``docs/metrics.md``. Design points:

* One clean forward pass per batch, with the residual at ``blocks.{layer}.hook_resid_post``
  captured by a hook. The spliced passes (SAE reconstruction, zero ablation) re-run only the
  blocks after the layer on that residual (``model(resid, start_at_layer=layer + 1)``), so the
  prefix is never recomputed and any stochastic input hook (the Gaussian-noise control, which
  replaces ``hook_embed`` with fresh noise on every forward) sees exactly one draw per batch:
  clean and spliced passes share the same noise.
* Per-latent statistics are accumulated online from the sparse ``(vals, idx)`` codes (bincount
  over ``idx``); no ``n_tokens x d_sae`` matrix is ever built.
* Sums are accumulated in float64 (the mean-centred variance is a difference of two large
  numbers when activations have a large mean).

Noise control (``init = noise_control``): the model never sees token identity. "Clean" CE is the
loss of the model's next-token predictions given noise inputs (near the unigram entropy or
worse); the reconstruction / sparsity metrics are as meaningful as for any other cell, while
``ce_loss_score`` / ``kl_div_score`` measure faithfulness to a model whose predictions carry no
token information (they can be high even though the model is useless as a language model).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from randsae.progress import progress
from randsae.sae.activations import hook_name as hook_name_of
from randsae.sae.families import cat_codes

LatentConsumer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]
"""``fn(vals (N, k), idx (N, k), token_ids (N,), seq_index (N,))`` called once per batch."""

# Rows of the (positions, d_vocab) logit matrix processed at once for CE / KL; bounds the
# float32 temporaries to ~ _LOGIT_CHUNK * d_vocab * 4 bytes each.
_LOGIT_CHUNK = 1024
# Tokens encoded by the SAE at once; bounds the dense (chunk, d_sae) pre-activation matrix.
_SAE_CHUNK = 4096


def _as_token_tensor(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(tokens) if not isinstance(tokens, torch.Tensor) else tokens)
    if t.ndim != 2:
        raise ValueError(f"tokens must be (n_seq, ctx); got shape {tuple(t.shape)}")
    return t.to(torch.long)


def density_edges(density_bins: int | Sequence[float], log10_min: float) -> np.ndarray:
    """Histogram edges in log10(firing frequency): ``density_bins`` equal bins on [log10_min, 0],
    or the given edges."""
    if isinstance(density_bins, int):
        if density_bins < 1:
            raise ValueError("density_bins must be >= 1")
        return np.linspace(log10_min, 0.0, density_bins + 1)
    edges = np.asarray(density_bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("density_bins edges must be increasing, at least 2 values")
    return edges


def density_histogram(density: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of alive latents per log10-density bin; values outside are clipped into the end bins.

    Dead latents (density 0, log10 = -inf) are excluded; report them separately (``n_dead``).
    """
    alive = density[density > 0]
    logd = np.clip(np.log10(alive), edges[0], edges[-1])
    counts, _ = np.histogram(logd, bins=edges)
    return counts.astype(np.int64)


def _ce_kl_sums(
    logp_clean: torch.Tensor,
    p_clean: torch.Tensor,
    logits_new: torch.Tensor,
    targets: torch.Tensor,
    ce_mask: torch.Tensor,
    kl_mask: torch.Tensor,
) -> tuple[float, float]:
    """Sums over positions of next-token CE of ``logits_new`` and of KL(clean || new).

    ``logp_clean`` / ``p_clean`` (its exp) / ``logits_new``: (P, V) over all positions
    (sequence-major, P = B * T); ``logits_new`` may also be one (1, V) row shared by every
    position. ``targets`` (P,) the next token (garbage where ``ce_mask`` is False).
    """
    if logits_new.shape[0] == 1 < logp_clean.shape[0]:
        # One row for every position: log q once; KL = sum_v p log p - p . log q per position.
        logq = torch.log_softmax(logits_new.float(), dim=-1)[0]
        ce_sum = float(-logq[targets[ce_mask]].double().sum())
        kl = (p_clean * logp_clean).sum(-1) - p_clean @ logq
        return ce_sum, float(kl[kl_mask].double().sum())
    ce_sum = 0.0
    kl_sum = 0.0
    for s in range(0, logits_new.shape[0], _LOGIT_CHUNK):
        sl = slice(s, s + _LOGIT_CHUNK)
        logq = torch.log_softmax(logits_new[sl].float(), dim=-1)
        lp = logp_clean[sl]
        cm = ce_mask[sl]
        ce = -logq.gather(-1, targets[sl].unsqueeze(-1)).squeeze(-1)
        ce_sum += float(ce[cm].double().sum())
        # KL(P_clean || P_new) = sum_v p (log p - log q), the sae-lens `_kl` definition.
        kl = (p_clean[sl] * (lp - logq)).sum(-1)
        kl_sum += float(kl[kl_mask[sl]].double().sum())
    return ce_sum, kl_sum


def _sae_encode_decode(
    sae: Any, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chunked ``sae.encode`` / ``sae.decode`` of ``x (N, d_in)`` -> ``(x_hat, vals, idx)``."""
    outs, vs, ids = [], [], []
    for s in range(0, x.shape[0], _SAE_CHUNK):
        v, i = sae.encode(x[s : s + _SAE_CHUNK])
        outs.append(sae.decode(v, i).to(x.dtype))
        vs.append(v)
        ids.append(i)
    vals, idx = cat_codes(vs, ids)  # non-TopK families: chunk widths differ
    return torch.cat(outs), vals, idx


@torch.inference_mode()
def evaluate_sae(
    lm: Any,
    sae: Any,
    tokens: np.ndarray | torch.Tensor,
    layer: int,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    density_bins: int | Sequence[float] = 40,
    density_log10_min: float = -7.0,
    ignore_token_ids: Sequence[int] = (),
    ignore_positions: Sequence[int] = (),
    latent_consumers: Sequence[LatentConsumer] = (),
) -> dict[str, Any]:
    """Reconstruction, sparsity and downstream metrics of ``sae`` at ``blocks.{layer}.hook_resid_post``.

    Args:
        lm: a ``LoadedModel`` (``.model`` HookedTransformer, ``.fwd_hooks`` active on every
            forward pass).
        sae: a ``TopKSAE`` or any SAE of ``randsae.sae.families.load_sae`` (``encode(x) ->
            (vals, idx)``, ``decode(vals, idx)``, ``d_sae``, ``k``; ``vals == 0`` is inactive).
        tokens: held-out token ids, shape ``(n_seq, ctx)``.
        layer: block index whose ``hook_resid_post`` the SAE reads.
        batch_size: sequences per forward pass.
        device: where the model and SAE live and the forward passes run.
        density_bins: number of log10-density histogram bins on ``[density_log10_min, 0]``, or
            explicit edges (log10 units).
        density_log10_min: lower end of the density histogram (densities below are clipped into
            the first bin; dead latents are counted in ``n_dead`` only).
        ignore_token_ids: positions whose *input* token is one of these (e.g. BOS) are excluded
            from every metric and keep their original activation in the spliced pass (sae-lens
            ``exclude_special_tokens``). Empty by default.
        ignore_positions: indices within each sequence (negative: from the end) excluded in
            the same way, e.g. ``[0]`` (the attention sink, as SAEBench's BOS). Empty by default.
        latent_consumers: callables ``fn(vals, idx, token_ids, seq_index)`` fed the SAE codes of
            every non-ignored position (flattened, sequence-major) — e.g.
            ``randsae.evaluate.abstractness.AbstractnessAccumulator.update`` — so abstractness measures
            come out of the same forward passes.

    Returns a flat dict. Scalars (float/int): ``n_tokens``, ``n_sequences``, ``context_size``,
    ``layer``, ``d_in``, ``d_sae``, ``k``; reconstruction ``mse``, ``mse_per_element``,
    ``cossim``, ``fvu``, ``explained_variance``, ``explained_variance_legacy``,
    ``explained_variance_about_zero``, ``explained_variance_saebench``; shrinkage
    ``l2_norm_in``, ``l2_norm_out``, ``l2_ratio``, ``relative_reconstruction_bias``; sparsity
    ``l0``, ``l1``, ``n_alive``, ``n_dead``, ``frac_alive``, ``frac_dead``,
    ``freq_over_1_percent``, ``freq_over_10_percent``; downstream ``ce_loss_without_sae``,
    ``ce_loss_with_sae``, ``ce_loss_with_ablation``, ``ce_loss_score``, ``ce_loss_increase``,
    ``kl_div_with_sae``, ``kl_div_with_ablation``, ``kl_div_score``; plus ``hook_name`` (str).
    Arrays (numpy): ``latent_density`` (d_sae,) firing frequency per latent,
    ``latent_consistent_activation`` (d_sae,) activating tokens per activating sequence (NaN if
    never active), ``density_hist_counts`` (n_bins,) alive latents per bin,
    ``density_hist_edges_log10`` (n_bins + 1,). Formulas: ``docs/metrics.md``.

    Noise control: "clean" CE/KL refer to the model fed Gaussian noise instead of token
    embeddings (see the module docstring); the reconstruction metrics keep their meaning.
    """
    model = lm.model
    fwd_hooks = list(getattr(lm, "fwd_hooks", []) or [])
    seek = getattr(lm, "seek", None)
    tok_all = _as_token_tensor(tokens)
    n_seq, ctx = tok_all.shape
    n_layers = model.cfg.n_layers
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} out of range for a {n_layers}-layer model")
    if getattr(model, "tokenizer", None) is not None and model.tokenizer.padding_side == "left":
        # A left-padding tokenizer makes the full forward build an attention mask that the
        # start_at_layer tail would not see.
        raise ValueError("evaluate_sae expects right padding (no attention mask)")
    hook_name = hook_name_of(layer)
    d_sae, k = int(sae.d_sae), int(sae.k)
    ignore = torch.as_tensor(list(ignore_token_ids), dtype=torch.long, device=device)
    skip_cols = sorted({p % ctx for p in ignore_positions if -ctx <= p < ctx})  # in-sequence
    f64 = dict(dtype=torch.float64, device=device)
    d_in = None
    sum_x = None  # (d_in,) float64
    acc = dict.fromkeys(
        [
            "sq_norm",  # sum ||x||^2
            "sse",  # sum ||x - x_hat||^2
            "norm_in",  # sum ||x||
            "norm_out",  # sum ||x_hat||
            "ratio",  # sum ||x_hat|| / ||x|| (sae-lens guard for tiny ||x||)
            "xhat_sq",  # sum ||x_hat||^2
            "x_dot_xhat",  # sum <x, x_hat>
            "cos",  # sum cos(x, x_hat)
            "ev_legacy",  # sum over tokens of 1 - ||x-x_hat||^2 / ||x - mean_batch(x)||^2
            "l0",
            "l1",
            "ce_clean",
            "ce_sae",
            "ce_zero",
            "kl_sae",
            "kl_zero",
        ],
        0.0,
    )
    n_tok = 0
    n_ce = 0
    n_kl = 0
    fire_count = torch.zeros(d_sae, dtype=torch.int64, device=device)
    seq_count = torch.zeros(d_sae, dtype=torch.int64, device=device)

    captured: dict[str, torch.Tensor] = {}

    def capture(act: torch.Tensor, hook: Any) -> None:  # noqa: ARG001
        captured["x"] = act

    for start in progress(range(0, n_seq, batch_size), desc=f"eval layer {layer}", unit="batch"):
        tok = tok_all[start : start + batch_size].to(device)
        b = tok.shape[0]
        keep = ~torch.isin(tok, ignore)  # (b, ctx) position is evaluated
        keep[:, skip_cols] = False  # ignore_positions
        keep_flat = keep.reshape(-1)

        # lm.fwd_hooks first (e.g. the noise control), then our capture of the SAE input.
        # Every forward pass (clean and the two tails) runs with lm.fwd_hooks active.
        if seek is not None:
            seek(start)  # the noise control draws this batch's noise by sequence index
        with model.hooks(fwd_hooks=fwd_hooks + [(hook_name, capture)]):
            logits_clean = model(tok, return_type="logits")
            x = captured.pop("x")  # (b, ctx, d_in)
            d_in = x.shape[-1]
            if sum_x is None:
                sum_x = torch.zeros(d_in, **f64)
            x_flat = x.reshape(-1, d_in)
            x_hat_all, vals_all, idx_all = _sae_encode_decode(sae, x_flat)
            # Spliced residual: reconstruction where evaluated, original elsewhere (sae-lens).
            resid_sae = torch.where(keep_flat[:, None], x_hat_all, x_flat).reshape(x.shape)

            # ---- downstream: CE (next token) and KL over positions, one logit tensor at a time
            v = logits_clean.shape[-1]
            logp_clean = torch.log_softmax(logits_clean.float(), dim=-1).reshape(-1, v)
            p_clean = logp_clean.exp()
            del logits_clean
            targets = torch.zeros_like(tok)
            targets[:, :-1] = tok[:, 1:]
            ce_mask = keep.clone()
            ce_mask[:, -1] = False  # no next token for the last position
            targets, ce_mask = targets.reshape(-1), ce_mask.reshape(-1)
            ce_clean = -logp_clean.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            acc["ce_clean"] += float(ce_clean[ce_mask].double().sum())
            # Zero ablation: without lm.fwd_hooks every position of the tail gets the same input
            # (zeros; positions enter only through attention patterns, which then average
            # identical values), so one position's logits stand for all of them.
            zero = torch.zeros_like(x[:1, :1] if not fwd_hooks else x)
            for tag, resid in (("sae", resid_sae.to(x.dtype)), ("zero", zero)):
                logits_new = model(resid, start_at_layer=layer + 1, return_type="logits")
                ce_s, kl_s = _ce_kl_sums(
                    logp_clean, p_clean, logits_new.reshape(-1, v), targets, ce_mask, keep_flat
                )
                del logits_new
                acc[f"ce_{tag}"] += ce_s
                acc[f"kl_{tag}"] += kl_s
            del logp_clean, p_clean, resid_sae
            n_ce += int(ce_mask.sum())
            n_kl += int(keep_flat.sum())

        # ---- reconstruction / sparsity on evaluated positions ---------------------------
        xs = x_flat[keep_flat].double()
        xh = x_hat_all[keep_flat].double()
        vals = vals_all[keep_flat]
        idx = idx_all[keep_flat]
        nb = xs.shape[0]
        if nb:
            resid_sq = (xs - xh).pow(2).sum(-1)
            n_in = xs.norm(dim=-1)
            n_out = xh.norm(dim=-1)
            sum_x += xs.sum(0)
            acc["sq_norm"] += float(xs.pow(2).sum())
            acc["sse"] += float(resid_sq.sum())
            acc["norm_in"] += float(n_in.sum())
            acc["norm_out"] += float(n_out.sum())
            acc["ratio"] += float((n_out / torch.where(n_in.abs() < 1e-4, 1.0, n_in)).sum())
            acc["xhat_sq"] += float(n_out.pow(2).sum())
            acc["x_dot_xhat"] += float((xs * xh).sum())
            eps = torch.finfo(torch.float64).tiny
            acc["cos"] += float(((xs * xh).sum(-1) / (n_in * n_out).clamp_min(eps)).sum())
            batch_var = (xs - xs.mean(0)).pow(2).sum(-1)
            acc["ev_legacy"] += float((1.0 - resid_sq / batch_var).sum())
            active = vals != 0
            acc["l0"] += float(active.sum())
            acc["l1"] += float(vals.double().abs().sum())
            fire_count += torch.bincount(idx[active], minlength=d_sae)
            # sequences in which each latent fires at least once (sae-lens
            # consistent_activation_heuristic denominator)
            seq_of_pos = torch.arange(b, device=device).repeat_interleave(ctx)[keep_flat]
            pair = torch.unique(
                seq_of_pos.unsqueeze(1).expand_as(idx)[active] * d_sae + idx[active]
            )
            seq_count += torch.bincount(pair % d_sae, minlength=d_sae)
            n_tok += nb
            if latent_consumers:
                tok_flat = tok.reshape(-1)[keep_flat]
                seq_index = (seq_of_pos + start).to(torch.long)
                for fn in latent_consumers:
                    fn(vals, idx, tok_flat, seq_index)

    if n_tok == 0:
        raise ValueError("no evaluated token positions (all ignored or empty token array)")

    # ---- finalise ------------------------------------------------------------------------
    mse = acc["sse"] / n_tok
    mean_sq_norm = acc["sq_norm"] / n_tok
    mean_x = sum_x / n_tok
    total_var = mean_sq_norm - float(mean_x.pow(2).sum())  # E||x - E x||^2
    # SAEBench 0.6 core "explained_variance" denominator (autointerp.md §3.2): the per-dimension
    # mean of x^2 is squared and collapsed to one scalar, E||x||^2 - (E||x||^2 / d_in)^2.
    saebench_var = mean_sq_norm - (mean_sq_norm / d_in) ** 2
    density = (fire_count.double() / n_tok).cpu().numpy()
    seq_cnt = seq_count.double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        consistent = np.where(seq_cnt > 0, fire_count.double().cpu().numpy() / seq_cnt, np.nan)
    edges = density_edges(density_bins, density_log10_min)
    n_alive = int((density > 0).sum())

    def _score(num: float, den: float) -> float:
        return num / den if den != 0 else math.nan

    ce_clean = acc["ce_clean"] / n_ce if n_ce else math.nan
    ce_sae = acc["ce_sae"] / n_ce if n_ce else math.nan
    ce_zero = acc["ce_zero"] / n_ce if n_ce else math.nan
    kl_sae = acc["kl_sae"] / n_kl
    kl_zero = acc["kl_zero"] / n_kl
    ev = 1.0 - mse / total_var if total_var > 0 else math.nan

    return {
        "hook_name": hook_name,
        "layer": int(layer),
        "n_tokens": int(n_tok),
        "n_sequences": int(n_seq),
        "context_size": int(ctx),
        "d_in": int(d_in),
        "d_sae": d_sae,
        "k": k,
        # reconstruction
        "mse": mse,
        "mse_per_element": mse / d_in,
        "cossim": acc["cos"] / n_tok,
        "explained_variance": ev,
        "fvu": 1.0 - ev,
        "explained_variance_legacy": acc["ev_legacy"] / n_tok,
        "explained_variance_about_zero": 1.0 - acc["sse"] / acc["sq_norm"],
        "explained_variance_saebench": 1.0 - mse / saebench_var,
        # shrinkage
        "l2_norm_in": acc["norm_in"] / n_tok,
        "l2_norm_out": acc["norm_out"] / n_tok,
        "l2_ratio": acc["ratio"] / n_tok,
        "relative_reconstruction_bias": _score(acc["xhat_sq"], acc["x_dot_xhat"]),
        # sparsity
        "l0": acc["l0"] / n_tok,
        "l1": acc["l1"] / n_tok,
        "n_alive": n_alive,
        "n_dead": d_sae - n_alive,
        "frac_alive": n_alive / d_sae,
        "frac_dead": 1.0 - n_alive / d_sae,
        "freq_over_1_percent": float((density > 0.01).mean()),
        "freq_over_10_percent": float((density > 0.1).mean()),
        # downstream
        "ce_loss_without_sae": ce_clean,
        "ce_loss_with_sae": ce_sae,
        "ce_loss_with_ablation": ce_zero,
        "ce_loss_score": _score(ce_zero - ce_sae, ce_zero - ce_clean),
        "ce_loss_increase": ce_sae - ce_clean,
        "kl_div_with_sae": kl_sae,
        "kl_div_with_ablation": kl_zero,
        "kl_div_score": _score(kl_zero - kl_sae, kl_zero),
        # arrays
        "latent_density": density,
        "latent_consistent_activation": consistent,
        "density_hist_counts": density_histogram(density, edges),
        "density_hist_edges_log10": edges,
    }
