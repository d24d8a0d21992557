"""Latent examples: the latent-activation cache, latent choice and window sampling.

Protocol (paper.md §4, improved where delphi leaks): the held-out tokens are cut into windows of
``window`` tokens; a latent's *activating pool* is the set of windows where it fires, ranked by
its maximum activation, cut to the top ``max_activating_windows`` (delphi ``max_examples``, paper
10,000) and split into ``n_quantiles`` equal-count quantiles. Positions whose token is in
``ignore_token_ids`` (e.g. Pythia's EOS/BOS, token 0) or whose index within its sequence is in
``ignore_positions`` (e.g. 0, the first position of every sequence) never count as activating
(:func:`mask_positions`); a window lists them under ``masked``. Latents are drawn in a
seeded random order among those with at least ``min_activating_windows`` activating windows (the
reason for skipping every examined latent is recorded): ``n_latents`` per draw (``"all"``: every
eligible latent), ``n_latent_draws`` disjoint random draws (each record's ``draw``; the
autointerp table reports the spread of AUROC across draws). Explainer windows (``n_explain``) and test
windows (``n_test_activating``) are drawn per quantile and are **disjoint** by construction; the
overlap is recorded and is always 0. Non-activating windows are random windows where the latent
never fires.

Robust across machines (float reductions differ in the last bits): every discrete choice depends on
integers or on activations rounded to ``RANK_DIGITS`` significant digits, never on raw float
ranks. Latents come from a seeded order and are eligible by their (integer) count of activating
windows; windows are ranked by rounded maximum activation, ties broken by window index; each
latent draws from its own random stream (``seed``, latent), which gives every window a random
priority, and a quantile's picks are its members of lowest priority, so they depend on the
quantile's membership only, and a window moving between quantiles changes at most two picks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from randsae.progress import progress
from randsae.sae.activations import residual_batches
from randsae.sae.families import cat_codes

if TYPE_CHECKING:
    from randsae.sections import ExamplesConfig

Encoder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.inference_mode()
def latent_codes(
    lm: Any, seqs: np.ndarray, layer: int, encode: Encoder, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse SAE codes of every held-out token: (vals (N, k) float32, idx (N, k) int32)."""
    all_vals, all_idx = [], []
    n_batches = -(-len(seqs) // batch_size)
    batches = residual_batches(lm, seqs, [layer], batch_size)
    for acts in progress(batches, total=n_batches, desc=f"examples layer {layer}", unit="batch"):
        vals, idx = encode(acts[layer])
        all_vals.append(vals.float().cpu())
        all_idx.append(idx.cpu().to(torch.int32))
    vals, idx = cat_codes(all_vals, all_idx)  # non-TopK families: batch widths differ
    return vals.numpy(), idx.numpy()


#: significant digits of the activations that rank windows (ties: window index); coarse enough
#: that float noise of ~1e-6 relative almost never reorders two windows
RANK_DIGITS = 3


def ignored_positions(tokens: np.ndarray, ignore_token_ids=(), ignore_positions=()) -> np.ndarray:
    """Boolean mask over the flattened positions of ``tokens`` ((n_seq, ctx)): the token is in
    ``ignore_token_ids`` or the position's index within its sequence is in ``ignore_positions``
    (negative indices count from the end)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError("ignored_positions expects (n_seq, ctx) tokens")
    ctx = tokens.shape[1]
    out = np.isin(tokens, np.asarray(list(ignore_token_ids), dtype=np.int64))
    cols = [p % ctx for p in ignore_positions if -ctx <= p < ctx]
    out[:, cols] = True
    return out.reshape(-1)


def mask_positions(vals: np.ndarray, tokens: np.ndarray, ignore_token_ids, ignore_positions=()):
    """``vals`` with the codes of ignored positions (:func:`ignored_positions`) set to 0."""
    tokens = np.asarray(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None, :]
    mask = ignored_positions(tokens, ignore_token_ids, ignore_positions)[: len(vals)]
    if not mask.any():
        return vals
    out = vals.copy()
    out[mask] = 0.0
    return out


def rank_key(values: np.ndarray) -> np.ndarray:
    """``values`` (> 0) rounded to ``RANK_DIGITS`` significant digits, for ranking."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        exp = np.floor(np.log10(np.where(v > 0, v, 1.0)))
    scale = 10.0 ** (RANK_DIGITS - 1 - exp)
    return np.round(v * scale) / scale


def window_maxima(
    vals: np.ndarray, idx: np.ndarray, window: int, d_sae: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max activation of every (window, latent) pair where the latent fires (no dense matrix).

    Returns parallel arrays (window_id, latent, max_act) for pairs with max_act > 0.
    """
    n_tokens, k = vals.shape
    pos = np.repeat(np.arange(n_tokens, dtype=np.int64), k)
    v = vals.reshape(-1)
    lat = idx.reshape(-1).astype(np.int64)
    keep = v > 0
    keys = torch.from_numpy((pos[keep] // window) * d_sae + lat[keep])
    uniq, inv = torch.unique(keys, return_inverse=True)
    maxima = torch.zeros(len(uniq), dtype=torch.float32).scatter_reduce(
        0, inv, torch.from_numpy(v[keep]), reduce="amax", include_self=False
    )
    uniq_np = uniq.numpy()
    return uniq_np // d_sae, uniq_np % d_sae, maxima.numpy()


def _window(
    w: int,
    latent: int,
    tokens: np.ndarray,
    vals: np.ndarray,
    idx: np.ndarray,
    window: int,
    strings: Callable[[np.ndarray], list[str]],
    quantile: int | None,
    masked: np.ndarray | None = None,
) -> dict[str, Any]:
    sl = slice(w * window, (w + 1) * window)
    acts = np.where(idx[sl] == latent, vals[sl], 0.0).sum(axis=1)
    toks = tokens[sl]
    out = {
        "window_id": int(w),
        "tokens": [int(t) for t in toks],
        "text": strings(toks),
        "acts": [round(float(a), 5) for a in acts],
        "quantile": quantile,
    }
    if masked is not None and masked[sl].any():
        out["masked"] = [int(i) for i in np.flatnonzero(masked[sl])]
    return out


def n_latents_wanted(n_latents: int | str, n_draws: int) -> int | None:
    """How many latents to choose: ``n_latents`` per draw, or every eligible one (None)."""
    return None if n_latents == "all" else int(n_latents) * int(n_draws)


def latent_draws(n_chosen: int, n_latents: int | str, n_draws: int) -> list[int]:
    """The draw of each chosen latent (in the seeded random choice order).

    ``n_draws`` disjoint random subsets: consecutive blocks of ``n_latents`` of the seeded
    random order (``"all"``: the eligible latents split into ``n_draws`` near-equal blocks).
    When fewer latents are eligible than asked for, the last draws are smaller or empty.
    """
    if n_chosen == 0:
        return []
    size = -(-n_chosen // n_draws) if n_latents == "all" else int(n_latents)
    return [min(pos // size, n_draws - 1) for pos in range(n_chosen)]


def sample_examples(
    tokens: np.ndarray,
    vals: np.ndarray,
    idx: np.ndarray,
    d_sae: int,
    cfg: ExamplesConfig,
    seed: int,
    strings: Callable[[np.ndarray], list[str]],
    masked: np.ndarray | None = None,
) -> dict[str, Any]:
    """Choose latents and sample explainer / test / non-activating windows (see module doc).

    ``masked``: the ignored positions (flattened, :func:`ignored_positions`), whose ``vals`` the
    caller has zeroed; windows record them so that scorers never highlight them."""
    window = cfg.window
    n_q = cfg.n_quantiles
    n_windows = len(tokens) // window
    if n_windows == 0:
        raise ValueError("examples: fewer held-out tokens than one window")
    win, lat, mx = window_maxima(
        vals[: n_windows * window], idx[: n_windows * window], window, d_sae
    )
    order = np.argsort(lat, kind="stable")
    win, lat, mx = win[order], lat[order], mx[order]
    bounds = np.searchsorted(lat, np.arange(d_sae + 1))
    counts = np.diff(bounds)

    candidates = np.random.default_rng(seed).permutation(d_sae)
    chosen: list[int] = []
    skipped: dict[str, str] = {}
    n_draws = cfg.n_latent_draws
    wanted = n_latents_wanted(cfg.n_latents, n_draws)
    for c in candidates.tolist():
        if len(chosen) == wanted:
            break
        if counts[c] == 0:
            skipped[str(c)] = "dead (no activating window)"
        elif counts[c] < cfg.min_activating_windows:
            skipped[str(c)] = (
                f"only {int(counts[c])} activating windows (< {cfg.min_activating_windows})"
            )
        else:
            chosen.append(c)

    draw_of = latent_draws(len(chosen), cfg.n_latents, n_draws)
    records = []
    for pos, c in enumerate(chosen):
        rng = np.random.default_rng([seed, c])  # the latent's own stream
        w_ids, w_max = win[bounds[c] : bounds[c + 1]], mx[bounds[c] : bounds[c + 1]]
        ranked = w_ids[np.lexsort((w_ids, -rank_key(w_max)))][: cfg.max_activating_windows]
        quantiles = np.array_split(ranked, n_q)  # equal-count slices, quantile 0 = strongest
        # a random priority per window: a quantile's picks are its members of lowest priority,
        # so a window that moves between quantiles changes at most itself and one other pick
        priority = rng.random(n_windows)
        explain, test = [], []
        for q, pool in enumerate(quantiles):
            pick = pool[np.lexsort((pool, priority[pool]))]
            n_e, n_t = cfg.n_explain // n_q, cfg.n_test_activating // n_q
            explain += [(int(w), q) for w in pick[:n_e]]
            test += [(int(w), q) for w in pick[n_e : n_e + n_t]]
        active = set(w_ids.tolist())
        n_inactive = n_windows - len(active)
        n_neg = min(cfg.n_test_nonactivating, n_inactive)
        neg: list[int] = []
        for w in rng.permutation(n_windows).tolist():
            if len(neg) == n_neg:
                break
            if w not in active:
                neg.append(w)
        overlap = len({w for w, _ in explain} & {w for w, _ in test})
        records.append(
            {
                "latent": int(c),
                "draw": draw_of[pos],
                "n_activating_windows": int(counts[c]),
                "n_pool_windows": len(ranked),
                "max_act": float(w_max.max()),
                "explain": [
                    _window(w, c, tokens, vals, idx, window, strings, q, masked) for w, q in explain
                ],
                "test_activating": [
                    _window(w, c, tokens, vals, idx, window, strings, q, masked) for w, q in test
                ],
                "test_nonactivating": [
                    _window(w, c, tokens, vals, idx, window, strings, None, masked) for w in neg
                ],
                "overlap_explain_test": overlap,
            }
        )
    return {
        "window": window,
        "n_windows": int(n_windows),
        "n_tokens": int(n_windows * window),
        "max_activating_windows": cfg.max_activating_windows,
        "n_latents_requested": cfg.n_latents,
        "n_latent_draws": n_draws,
        "n_latents_chosen": len(chosen),
        "n_examined": len(chosen) + len(skipped),
        "skipped": skipped,
        "activating_windows_per_latent": {
            "alive": int((counts > 0).sum()),
            "eligible": int((counts >= cfg.min_activating_windows).sum()),
        },
        "latents": records,
    }
