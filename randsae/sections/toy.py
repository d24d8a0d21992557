"""Sections of the toy models of superposition (paper Section 4): ``toy`` and its parts."""

from __future__ import annotations

from typing import Annotated, Literal

from randsae.sections.base import (
    FINITE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    Count,
    Section,
    at_least,
    section,
)

#: The dims GloVe 6B ships (toy.words.source glove).
GLOVE_DIMS = (50, 100, 200, 300)


@section("toy.two_d")
class TwoDConfig(Section):
    """``toy.two_d``: the 2-D illustration."""

    enabled: bool
    """Make the 2-D illustration figure."""
    num_samples: Count
    """Samples of the 3 Lomax features (paper 10000)."""
    hidden_expansion: Count
    """MLP hidden width as a multiple of 2 (paper 4, i.e. 2-8-2)."""
    lim: Annotated[float, POSITIVE]
    """Axis limits of the panels (paper 25)."""


@section("toy.sharkey")
class SharkeyData(Section):
    """The keys of ``toy.sharkey`` that define its samples (the toy data rules' params: the
    dictionary sizes and the switch rerun nothing)."""

    num_inputs: Count
    """Input dimension h (paper 256)."""
    num_features: Count
    """Number of ground-truth features G (paper 512)."""
    avg_active_features: Annotated[float, POSITIVE]
    """Mean number of active features per sample (paper 5)."""
    lambda_decay: Annotated[float, POSITIVE]
    """Decay of the feature probabilities, p^(lambda*i) (paper 0.99)."""
    num_samples: Annotated[int, at_least(2)]
    """Samples per seed (paper 10000)."""


@section()
class SharkeyConfig(SharkeyData):
    """``toy.sharkey``: Sharkey-style synthetic data with ground-truth features."""

    enabled: bool
    """Run the sweep on the synthetic data."""
    num_latents: Annotated[tuple[int, ...], at_least(1)]
    """SAE dictionary sizes (paper 512, 1024, 2048, 4096)."""


@section("toy.words.word2vec")
class Word2VecConfig(Section):
    """``toy.words.word2vec``: the offline substitute's gensim settings."""

    window: Count
    """Context window."""
    min_count: Count
    """Minimum word frequency kept in the vocabulary."""
    epochs: Count
    """Training epochs over the corpus."""
    sg: Literal[0, 1]
    """0 CBOW, 1 skip-gram."""
    max_wiki_articles: Annotated[int | None, NON_NEGATIVE]
    """Cap on wiki-sample articles; null for all."""


@section("toy.words.glove")
class GloveConfig(Section):
    """``toy.words.glove``: the GloVe 6B download."""

    url: str
    """Download URL of glove.6B.zip."""
    sha256: str | None
    """Expected sha256 of the zip; null records the checksum instead of checking it."""


@section("toy.words")
class WordsConfig(Section):
    """``toy.words``: the sweep on word vectors."""

    enabled: bool
    """Run the sweep on word vectors."""
    source: Literal["word2vec", "glove"]
    """word2vec: trained in the DAG on gensim's test corpora (offline substitute); glove: GloVe 6B download (paper)."""
    dims: Annotated[tuple[int, ...], at_least(1)]
    """Embedding dims (paper 50, 100, 200, 300; GloVe has only these)."""
    latent_multipliers: Annotated[tuple[int, ...], at_least(1)]
    """Dictionary size = multiplier x dim (paper 2, 4, 8, 16)."""
    gaussian_num_samples: Annotated[int, at_least(2)]
    """Samples of the Gaussian control (paper 10000)."""
    max_words: Annotated[int | None, at_least(2)]
    """Use only the first N vectors (most frequent words); null for all."""
    word2vec: Word2VecConfig
    """gensim word2vec settings of the offline substitute."""
    glove: GloveConfig
    """GloVe 6B download (used when source is glove)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [d for d in self.dims if d not in GLOVE_DIMS]
        if self.source == "glove" and bad:
            raise self.error("dims", f"GloVe 6B has dims {GLOVE_DIMS}, got {bad[0]!r}")


@section("toy.embeddings")
class EmbeddingsConfig(Section):
    """``toy.embeddings``: the sweep on token-embedding matrices (Section 4.3)."""

    enabled: bool
    """Run the sweep on token-embedding matrices."""
    models: tuple[str, ...]
    """Keys of models:. Source embedded: W_E of the model trained in the DAG; source pythia: embed_in of hf_name read from the Hugging Face Hub (follows HF_ENDPOINT)."""
    latent_multipliers: Annotated[tuple[int, ...], at_least(1)]
    """Dictionary size = multiplier x d_model (paper GloVe sizes 2, 4, 8, 16)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.enabled and not self.models:
            raise self.error("models", "list at least one model (or disable the part)")


@section("toy.sae.l1_coefs")
class L1CoefsConfig(Section):
    """``toy.sae.l1_coefs``: the L1 coefficients, ``np.logspace(log10_min, log10_max, num)``."""

    log10_min: Annotated[float, FINITE]
    """log10 of the smallest coefficient."""
    log10_max: Annotated[float, FINITE]
    """log10 of the largest coefficient."""
    num: Count
    """Number of coefficients."""


@section("toy.sae")
class ToySAEConfig(Section):
    """``toy.sae``: the L1 ReLU SAE sweep."""

    l1_coefs: L1CoefsConfig
    """L1 coefficients np.logspace(log10_min, log10_max, num) (paper -3, 2, 21)."""
    seeds: Count
    """Number of reported seeds 0..seeds-1 (paper 10); the figures show mean +- std over them and claim 8 bootstraps them."""
    tuning_seed: Annotated[int | None, NON_NEGATIVE]
    """The seed on which lr, batch_size, epochs and the coefficient grid were chosen (benchmarks/toy_tuning.py); it must not be one of the reported seeds 0..seeds-1. null: the settings were not tuned here (the paper's)."""
    epochs: Count
    """Training epochs (paper 100)."""
    batch_size: Count
    """Batch size for training and testing (paper 256)."""
    lr: Annotated[float, POSITIVE]
    """Adam learning rate (paper 1e-3)."""
    models_per_batch: Count
    """SAEs stacked in one vectorised training loop, across the arms, seeds and coefficients of a job (speed only; 1 trains one at a time)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        tuning = self.tuning_seed
        if tuning is not None and tuning < self.seeds:
            raise self.error(
                "tuning_seed",
                f"{tuning} is one of the reported seeds 0..{self.seeds - 1}; choose the "
                "settings on a seed that is not reported",
            )


@section("toy.figures")
class ToyFiguresConfig(Section):
    """``toy.figures``: which metrics the toy figures show."""

    grid_metrics: tuple[
        Literal["mse", "fvu", "l0", "l1", "l2", "l1_over_sqrt_l2", "hoyer", "mmcs"], ...
    ]
    """Metrics (panels) of the metrics-vs-L1-coefficient figures, one per dataset and dictionary size; an empty list makes none."""


@section("toy")
class ToyConfig(Section):
    """``toy``: toy models of superposition through random networks (paper Section 4)."""

    enabled: bool
    """Run the toy-model part (adds toy_targets to rule all)."""
    seed: Annotated[int, NON_NEGATIVE]
    """Master seed of the toy part; data, FFN, split and SAE seeds derive from it by sha256."""
    arms: tuple[Literal["plain", "ffn", "gaussian", "gaussian_ffn"], ...]
    """Arms of the sweep; plain data, data through a random FFN, Gaussian control, Gaussian through the FFN."""
    test_fraction: Annotated[float, FRACTION]
    """Fraction of samples held out for the test metrics (paper 0.1)."""
    ffn_expansion: Count
    """Hidden width of the random FFN as a multiple of the input dim (paper 4)."""
    two_d: TwoDConfig
    """The 2-D illustration (3 sparse features in 2-D through a random MLP)."""
    sharkey: SharkeyConfig
    """Sharkey-style synthetic data with ground-truth features."""
    words: WordsConfig
    """The same sweep on word vectors (paper GloVe 6B; offline word2vec substitute)."""
    embeddings: EmbeddingsConfig
    """Section 4.3, the same sweep on token-embedding matrices (rows of W_E), each with its Gaussian control, before and after the random MLP."""
    sae: ToySAEConfig
    """L1 ReLU SAE sweep settings."""
    figures: ToyFiguresConfig
    """Which metrics the toy figures show (Figs 3-5 and the frontiers need no settings)."""
