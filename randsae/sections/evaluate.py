"""Sections of the evaluation stage: ``eval`` (SAE metrics) and ``examples`` (latent windows)."""

from __future__ import annotations

from typing import Annotated, Literal

from randsae.sections.base import FINITE, NEGATIVE, NON_NEGATIVE, Count, Section, at_least, section


@section("eval")
class EvalConfig(Section):
    """``eval``: held-out tokens and settings of the quality and abstractness metrics."""

    n_tokens: Count
    """Held-out tokens (rounded down to whole sequences) on which SAE metrics are computed."""
    batch_size: Count
    """Sequences per forward pass in evaluation; peak memory grows with batch_size x context x d_vocab."""
    density_bins: Count
    """Number of equal-width bins of the log10 latent firing-density histogram on [density_log10_min, 0]."""
    density_log10_min: Annotated[float, NEGATIVE]
    """Lower edge (log10 firing frequency) of the density histogram; lower non-zero densities fall in the first bin, dead latents in n_dead."""
    entropy_top_n: Count
    """N for entropy_topN, the token-id entropy over each latent's N largest activations (paper definition UNVERIFIED)."""
    r2_min_count: Count
    """Token-identity R2 - minimum occurrences of a token id in the fitting half for its own mean to be used; rarer ids predict the global mean."""
    abstractness_min_activations: Count
    """Latents active at fewer held-out positions than this are excluded from the abstractness distributions."""
    ignore_token_ids: Annotated[tuple[int, ...], NON_NEGATIVE]
    """Token ids (e.g. BOS/EOS) whose positions are excluded from all metrics and keep their original activation when the SAE is spliced in (sae-lens exclude_special_tokens)."""
    ignore_positions: Annotated[tuple[int, ...], FINITE]
    """Positions within every sequence (0 = first; negative counts from the end) excluded like ignore_token_ids from every per-position metric (reconstruction, sparsity, CE/KL, abstractness) and from the latent examples (never activating, never highlighted). [0] drops the first position, the attention sink: sequences are cut from the token stream without a BOS, and SAEBench drops that position by writing BOS there (tokenize_and_concat_dataset) and masking BOS/EOS/PAD ids. Default [] keeps every position."""


@section("examples")
class ExamplesConfig(Section):
    """``examples``: the latent-activation cache and the windows drawn for auto-interp."""

    n_tokens: Count
    """held-out tokens in the latent-activation cache (paper: 10M)"""
    context_size: Count
    """sequence length for the latent cache (paper: 256)"""
    window: Count
    """tokens per example window (paper: 32)"""
    n_latents: Annotated[int | Literal["all"], at_least(1)]
    """latents sampled per cell and draw (paper: 100), up to the eligible count; "all" = every eligible latent"""
    n_latent_draws: Count
    """disjoint seeded random draws of n_latents latents each ("all": the eligible latents split into this many); the autointerp table gives the spread of AUROC across draws (auroc_draw_std, auroc_draw_min, auroc_draw_max). 1 = the paper's single draw"""
    min_activating_windows: Count
    """eligibility threshold (paper: 200)"""
    max_activating_windows: Count
    """a latent's activating pool: its top windows by maximum activation; quantiles and explainer/test draws come from it (delphi max_examples; paper: 10,000)"""
    n_explain: Count
    """explainer windows (paper: 40)"""
    n_test_activating: Count
    """activating test windows (paper: 100)"""
    n_test_nonactivating: Count
    """non-activating test windows (paper: 100)"""
    n_quantiles: Count
    """equal-count quantiles of the activating pool (paper: 10)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        n_drawn = self.n_explain + self.n_test_activating  # explainer + test windows of a latent
        if self.context_size % self.window:
            raise self.error("window", "must divide examples.context_size")
        if self.n_explain % self.n_quantiles or self.n_test_activating % self.n_quantiles:
            raise self.error("n_explain", "and n_test_activating must be multiples of n_quantiles")
        if self.min_activating_windows < n_drawn:
            raise self.error(
                "min_activating_windows",
                "must be >= n_explain + n_test_activating (explainer and test windows are "
                "disjoint)",
            )
        if self.max_activating_windows < n_drawn:
            raise self.error(
                "max_activating_windows",
                "must be >= n_explain + n_test_activating (both are drawn from the pool it bounds)",
            )
