"""Targeted "abstractness" measures of SAE latents (paper v2; the exact definition is UNVERIFIED).

Per latent, from its sparse codes on held-out tokens (``docs/metrics.md`` has the formulas):

* ``entropy_all`` — entropy (nats) of the token ids at every position where the latent is active
  (activation != 0), counting each activation once.
* ``entropy_weighted`` — the same distribution weighted by activation value (``p(t) ∝`` sum of the
  latent's activations on token ``t``).
* ``entropy_topN`` — entropy of the token ids at the latent's ``top_n`` largest activations.
* ``token_r2`` — token-identity R² (beyond the paper): the fraction of the latent's activation
  variance over all positions (activation = 0 where inactive) explained by the current token id,
  with the per-token-id mean as predictor, fitted on one half of the held-out sequences and
  evaluated on the other (2-fold: even vs odd sequence index, the two directions averaged).
  Token ids seen fewer than ``r2_min_count`` times in the fitting half predict the fitting half's
  global mean. High R² = the latent is a token detector.

Low entropy / high R² = single-token latent; high entropy / low R² = fires across many tokens.

Memory: statistics are kept per *observed* (latent, token, half) triple — a sorted int64 key
``((latent * d_vocab + token) << 1) | half`` with an int32 count and a float32 activation sum
(16 bytes per pair; sums of squares are only needed per latent) — merged by sort +
unique with amortised doubling, so the cost scales with the number of distinct pairs that
actually occur (≤ n_tokens * k), never with d_sae * d_vocab. Top-N activations are kept in a
``(d_sae, top_n)`` table refreshed from thresholded candidates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

PER_LATENT_MEASURES = ("entropy_all", "entropy_weighted", "entropy_topN", "token_r2")
"""Keys of the per-latent measure arrays returned by :meth:`AbstractnessAccumulator.finalize`."""


def _coalesce(
    keys: torch.Tensor, cnt: torch.Tensor, s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sum ``cnt`` (int32) and ``s`` (float64 accumulation, stored float32) over equal
    ``keys``; returns sorted unique keys."""
    uk, inv = torch.unique(keys, sorted=True, return_inverse=True)
    n = uk.shape[0]
    c = torch.zeros(n, dtype=torch.int32, device=keys.device).index_add_(0, inv, cnt)
    ss = torch.zeros(n, dtype=torch.float64, device=keys.device).index_add_(0, inv, s.double())
    return uk, c, ss.float()


def grouped_entropy(group: torch.Tensor, weight: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Entropy (nats) per group of the distribution ``p ∝ weight`` over the group's entries.

    ``group`` (M,) int64 in ``[0, n_groups)``; each entry is one outcome (e.g. one token id) with
    non-negative ``weight``. Uses ``H = log W - (Σ w log w) / W`` with ``W = Σ w``. NaN for empty
    groups.
    """
    w = weight.double()
    wsum = torch.zeros(n_groups, dtype=torch.float64, device=w.device).index_add_(0, group, w)
    wlogw = torch.where(w > 0, w * torch.log(torch.where(w > 0, w, 1.0)), 0.0)
    t = torch.zeros(n_groups, dtype=torch.float64, device=w.device).index_add_(0, group, wlogw)
    h = torch.log(wsum) - t / wsum
    h = torch.where(wsum > 0, h.clamp_min(0.0), torch.nan)
    return h


class AbstractnessAccumulator:
    """Online accumulator of per-(latent, token) statistics from sparse SAE codes.

    Feed it every held-out position once via :meth:`update` (it can be passed to
    ``randsae.evaluate.metrics.evaluate_sae(latent_consumers=[acc.update])``), then call :meth:`finalize`.

    The (latent, token, half) table is split into ``n_shards`` contiguous latent ranges, each a
    sorted array merged independently (amortised doubling), and finalised shard by shard: the
    transient memory of a merge or of the final reduction is that of one shard, so the peak is
    close to the 16 bytes per distinct pair of the table itself.
    """

    def __init__(
        self,
        d_sae: int,
        d_vocab: int,
        *,
        top_n: int,
        r2_min_count: int,
        device: str | torch.device = "cpu",
        merge_min: int = 1 << 16,
        n_shards: int | None = None,
    ) -> None:
        if top_n < 1 or r2_min_count < 1:
            raise ValueError("top_n and r2_min_count must be >= 1")
        self.d_sae, self.d_vocab = int(d_sae), int(d_vocab)
        self.top_n, self.r2_min_count = int(top_n), int(r2_min_count)
        self.device = torch.device(device)
        self.merge_min = int(merge_min)
        n_shards = n_shards if n_shards is not None else max(1, min(64, self.d_sae // 512))
        self.n_shards = int(n_shards)
        # shard p holds latents [lat_lo[p], lat_lo[p + 1])
        self._lat_lo = [p * self.d_sae // self.n_shards for p in range(self.n_shards + 1)]
        self._key_lo = torch.tensor(
            [(lo * self.d_vocab) << 1 for lo in self._lat_lo], dtype=torch.int64, device=self.device
        )
        # per shard: sorted int64 keys ((latent * V + token) << 1 | half), int32 count,
        # float32 activation sum (16 bytes per observed pair)
        self._keys = [torch.zeros(0, dtype=torch.int64, device=self.device)] * self.n_shards
        self._cnt = [torch.zeros(0, dtype=torch.int32, device=self.device)] * self.n_shards
        self._sum = [torch.zeros(0, dtype=torch.float32, device=self.device)] * self.n_shards
        self._pending: list[list[tuple[torch.Tensor, ...]]] = [[] for _ in range(self.n_shards)]
        self._pending_n = [0] * self.n_shards
        # sums of squares are only needed per (half, latent)
        self.sumsq = torch.zeros(2, self.d_sae, dtype=torch.float64, device=self.device)
        # token counts per half (latent-independent): positions of each token id
        self.token_count = torch.zeros(2, self.d_vocab, dtype=torch.int64, device=self.device)
        # top-N table (rows sorted descending after each merge) and candidate buffer
        self._top_val = torch.full(
            (self.d_sae, self.top_n), -math.inf, dtype=torch.float32, device=self.device
        )
        self._top_tok = torch.full(
            (self.d_sae, self.top_n), -1, dtype=torch.int64, device=self.device
        )
        self._cand: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._cand_n = 0

    @property
    def n_pairs(self) -> int:
        """Distinct (latent, token, half) triples stored (after merging pending batches)."""
        for p in range(self.n_shards):
            self._merge_shard(p)
        return sum(int(k.numel()) for k in self._keys)

    # ------------------------------------------------------------------ accumulation
    @torch.no_grad()
    def update(
        self,
        vals: torch.Tensor,
        idx: torch.Tensor,
        token_ids: torch.Tensor,
        seq_index: torch.Tensor,
    ) -> None:
        """Add positions: ``vals``/``idx`` (N, k) SAE codes, ``token_ids`` (N,) the token at each
        position, ``seq_index`` (N,) the global sequence index (its parity picks the R² half)."""
        dev = self.device
        vals = vals.to(dev)
        idx = idx.to(dev, torch.int64)
        tok = token_ids.to(dev, torch.int64)
        half = seq_index.to(dev, torch.int64) & 1
        n, k = idx.shape
        self.token_count.view(-1).index_add_(0, half * self.d_vocab + tok, torch.ones_like(tok))
        active = vals != 0
        lat = idx[active]
        if lat.numel() == 0:
            return
        v = vals[active].double()
        t = tok.unsqueeze(1).expand(n, k)[active]
        h = half.unsqueeze(1).expand(n, k)[active]
        keys = ((lat * self.d_vocab + t) << 1) | h
        self.sumsq.view(-1).index_add_(0, h * self.d_sae + lat, v * v)
        bk, bc, bs = _coalesce(keys, torch.ones_like(keys, dtype=torch.int32), v)
        cuts = torch.searchsorted(bk, self._key_lo).tolist()
        for p in range(self.n_shards):
            a, b = cuts[p], cuts[p + 1]
            if b > a:
                self._pending[p].append((bk[a:b], bc[a:b], bs[a:b]))
                self._pending_n[p] += b - a
                if self._pending_n[p] >= max(self.merge_min, self._keys[p].numel()):
                    self._merge_shard(p)
        # top-N candidates: only activations above the latent's current N-th best
        keep = v.float() > self._top_val[:, -1][lat]
        if keep.any():
            self._cand.append((lat[keep], v[keep].float(), t[keep]))
            self._cand_n += int(keep.sum())
            if self._cand_n >= max(1 << 20, self.d_sae * self.top_n // 2):
                self._merge_top()

    def _merge_shard(self, p: int) -> None:
        if not self._pending[p]:
            return
        parts = [(self._keys[p], self._cnt[p], self._sum[p]), *self._pending[p]]
        self._pending[p], self._pending_n[p] = [], 0
        cat = [torch.cat([q[i] for q in parts]) for i in range(3)]
        del parts
        self._keys[p], self._cnt[p], self._sum[p] = _coalesce(*cat)

    def _merge_top(self) -> None:
        if not self._cand:
            return
        n_top = self.top_n
        filled = self._top_val > -math.inf
        lat_run = (
            torch.arange(self.d_sae, device=self.device).unsqueeze(1).expand_as(filled)[filled]
        )
        lat = torch.cat([lat_run, *[c[0] for c in self._cand]])
        val = torch.cat([self._top_val[filled], *[c[1] for c in self._cand]])
        tok = torch.cat([self._top_tok[filled], *[c[2] for c in self._cand]])
        self._cand, self._cand_n = [], 0
        # sort by value (desc), then stably by latent -> each latent's entries in desc order;
        # ties keep insertion order (earlier positions first).
        o1 = torch.argsort(val, descending=True, stable=True)
        o2 = torch.argsort(lat[o1], stable=True)
        order = o1[o2]
        lat, val, tok = lat[order], val[order], tok[order]
        counts = torch.bincount(lat, minlength=self.d_sae)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(lat.shape[0], device=self.device) - starts[lat]
        sel = rank < n_top
        self._top_val.fill_(-math.inf)
        self._top_tok.fill_(-1)
        self._top_val[lat[sel], rank[sel]] = val[sel]
        self._top_tok[lat[sel], rank[sel]] = tok[sel]

    # ------------------------------------------------------------------ results
    @torch.no_grad()
    def finalize(self, min_activations: int = 1) -> dict[str, np.ndarray]:
        """Per-latent measures for latents active at ≥ ``min_activations`` positions.

        Returns numpy arrays, aligned: ``latent`` (latent index), ``n_active`` (positions where
        active), ``n_top`` (entries in the top-N, ``min(top_n, n_active)``), and the measures
        ``entropy_all``, ``entropy_weighted``, ``entropy_topN`` (nats), ``token_r2`` (NaN when
        the latent has zero variance in both held-out halves). Can be called more than once.
        """
        self._merge_top()
        d_sae, V, dev = self.d_sae, self.d_vocab, self.device
        n_active = torch.zeros(d_sae, dtype=torch.int64, device=dev)
        ent_all = torch.full((d_sae,), torch.nan, dtype=torch.float64, device=dev)
        ent_w = torch.full_like(ent_all, torch.nan)
        r2 = torch.full((2, d_sae), torch.nan, dtype=torch.float64, device=dev)
        for p in range(self.n_shards):
            self._merge_shard(p)
            lo, hi = self._lat_lo[p], self._lat_lo[p + 1]
            keys, cnt, s = self._keys[p], self._cnt[p].long(), self._sum[p].double()
            if keys.numel() == 0:
                continue
            half = keys & 1
            pair = keys >> 1  # latent * V + token, sorted
            lat = pair // V - lo  # shard-local latent index
            tok = pair % V
            # pool the two halves of one (latent, token) for the entropies
            up, inv = torch.unique_consecutive(pair, return_inverse=True)
            c_pool = torch.zeros(up.shape[0], dtype=torch.float64, device=dev).index_add_(
                0, inv, cnt.double()
            )
            s_pool = torch.zeros(up.shape[0], dtype=torch.float64, device=dev).index_add_(0, inv, s)
            lat_pool = up // V - lo
            n = hi - lo
            n_active[lo:hi] = (
                torch.zeros(n, dtype=torch.float64, device=dev)
                .index_add_(0, lat_pool, c_pool)
                .round()
                .long()
            )
            ent_all[lo:hi] = grouped_entropy(lat_pool, c_pool, n)
            ent_w[lo:hi] = grouped_entropy(lat_pool, s_pool.abs(), n)
            del up, inv, c_pool, s_pool, lat_pool
            for fit in (0, 1):
                r2[fit, lo:hi] = self._r2(fit, lo, hi, lat, tok, half, s)

        # top-N entropy (the (d_sae, N) table is small)
        filled = self._top_tok >= 0
        lat_t = torch.arange(d_sae, device=dev).unsqueeze(1).expand_as(filled)[filled]
        ukt, ct = torch.unique(lat_t * V + self._top_tok[filled], return_counts=True)
        ent_top = grouped_entropy(ukt // V, ct.double(), d_sae)
        n_top = filled.sum(1)
        # 2-fold average; NaN only if both folds are undefined
        r2_mean = torch.where(torch.isnan(r2).all(0), torch.nan, torch.nanmean(r2, dim=0))

        idx = torch.nonzero(n_active >= max(1, int(min_activations))).squeeze(1)
        return {
            "latent": idx.cpu().numpy(),
            "n_active": n_active[idx].cpu().numpy(),
            "n_top": n_top[idx].cpu().numpy(),
            "entropy_all": ent_all[idx].cpu().numpy(),
            "entropy_weighted": ent_w[idx].cpu().numpy(),
            "entropy_topN": ent_top[idx].cpu().numpy(),
            "token_r2": r2_mean[idx].cpu().numpy(),
        }

    def _r2(
        self,
        fit: int,
        lo: int,
        hi: int,
        lat: torch.Tensor,
        tok: torch.Tensor,
        half: torch.Tensor,
        s: torch.Tensor,
    ) -> torch.Tensor:
        """R² on half ``1 - fit`` of the per-token-mean predictor fitted on half ``fit``, for the
        latents ``[lo, hi)`` of one shard (``lat`` shard-local, pairs sorted by key).

        With a_i the activation (0 where inactive), n_F(t) / n_E(t) token counts in the fit /
        eval halves, S_F(l, t) the fit-half activation sums and g(l) = Σ_t S_F(l, t) / N_F:
        pred(l, t) = S_F(l, t) / n_F(t) if n_F(t) ≥ min_count else g(l);
        SSE = Σ_E a² - 2 Σ_t pred · S_E(l, t) + Σ_t n_E(t) pred²  (sparse sums over observed
        pairs plus a closed form for the rare-token block); SST = Σ_E a² - (Σ_E a)² / N_E.
        """
        n, V, dev = hi - lo, self.d_vocab, self.device
        ev = 1 - fit
        n_fit = self.token_count[fit].double()
        n_ev = self.token_count[ev].double()
        N_F, N_E = float(n_fit.sum()), float(n_ev.sum())
        if N_F == 0 or N_E == 0:
            return torch.full((n,), torch.nan, dtype=torch.float64, device=dev)
        frequent = n_fit >= self.r2_min_count
        N_E_rare = float(n_ev[~frequent].sum())

        mf = half == fit
        me = ~mf
        lat_f, tok_f, s_f = lat[mf], tok[mf], s[mf]
        lat_e, tok_e, s_e = lat[me], tok[me], s[me]

        zeros = torch.zeros(n, dtype=torch.float64, device=dev)
        g = zeros.index_add(0, lat_f, s_f) / N_F
        sum_e = zeros.index_add(0, lat_e, s_e)
        sq_e = self.sumsq[ev, lo:hi]

        # Σ_t n_E(t) pred(l,t)²: rare tokens -> g², frequent tokens -> sparse over fit pairs
        freq_f = frequent[tok_f]
        mean_f = s_f[freq_f] / n_fit[tok_f[freq_f]]
        term_sq = (g.pow(2) * N_E_rare).index_add(
            0, lat_f[freq_f], n_ev[tok_f[freq_f]] * mean_f.pow(2)
        )

        # Σ_t pred(l,t) S_E(l,t) over eval pairs: look up the fit-half sum of the same pair
        key_f = lat_f * V + tok_f  # sorted (a subset of sorted keys)
        key_e = lat_e * V + tok_e
        if key_f.numel():
            pos = torch.searchsorted(key_f, key_e).clamp_max(key_f.shape[0] - 1)
            s_f_at_e = torch.where(key_f[pos] == key_e, s_f[pos], 0.0)
        else:
            s_f_at_e = torch.zeros_like(s_e)
        pred_e = torch.where(frequent[tok_e], s_f_at_e / n_fit[tok_e].clamp_min(1.0), g[lat_e])
        cross = zeros.index_add(0, lat_e, pred_e * s_e)

        sse = sq_e - 2.0 * cross + term_sq
        sst = sq_e - sum_e.pow(2) / N_E
        tiny = 1e-12 * sq_e.clamp_min(1e-300)
        return torch.where(sst > tiny, 1.0 - sse / sst, torch.nan)


SUMMARY_STATS = ("mean", "median", "q25", "q75", "n_latents")


def summarize_abstractness(per_latent: dict[str, Any]) -> dict[str, float]:
    """Summary of each per-latent measure: ``{measure}_{stat}`` for stat in mean, median, q25,
    q75, n_latents (NaN values — e.g. undefined R² — are excluded per measure)."""
    out: dict[str, float] = {}
    for m in PER_LATENT_MEASURES:
        if m not in per_latent:
            continue
        a = np.asarray(per_latent[m], dtype=np.float64)
        a = a[~np.isnan(a)]
        if a.size:
            q25, med, q75 = np.quantile(a, [0.25, 0.5, 0.75])
            out.update(
                {
                    f"{m}_mean": float(a.mean()),
                    f"{m}_median": float(med),
                    f"{m}_q25": float(q25),
                    f"{m}_q75": float(q75),
                }
            )
        else:
            out.update({f"{m}_{s}": math.nan for s in ("mean", "median", "q25", "q75")})
        out[f"{m}_n_latents"] = int(a.size)
    return out


def abstractness_rows(
    per_latent: dict[str, Any], *, model: str, n_params: int, init: str, layer: int
) -> list[dict[str, Any]]:
    """Long-format summary rows (one per measure) for ``results/tables/abstractness.csv`` and
    :func:`randsae.figures.plot_metrics.plot_abstractness`: columns model, n_params, init, layer,
    measure, mean, median, q25, q75, n_latents."""
    summ = summarize_abstractness(per_latent)
    rows = []
    for m in PER_LATENT_MEASURES:
        if f"{m}_n_latents" not in summ:
            continue
        row = {"model": model, "n_params": n_params, "init": init, "layer": layer, "measure": m}
        row.update({s: summ[f"{m}_{s}"] for s in SUMMARY_STATS})
        rows.append(row)
    return rows
