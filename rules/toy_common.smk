# Helper functions of the toy-model rules (rules/toy.smk).
from randsae.sections import SharkeyData
from randsae.sections.base import key_fields
from randsae.toy.config import (
    EMBED_PREFIX,
    dictionary_sizes,
    parse_dataset,
    toy_datasets,
)


def toy_targets(run):
    """Final toy outputs (figures and their CSVs, summaries) for `rule all`, from a RunConfig."""
    toy = run.toy
    exts = ["pdf", "png", "csv"]
    out = []
    if toy.two_d.enabled:
        out += expand("results/figures/toy/fig3_toy_2d.{ext}", ext=exts)
    datasets = toy_datasets(toy)
    if "sharkey" in datasets:
        out += expand("results/figures/toy/fig4_mmcs.{ext}", ext=exts)
    if datasets:
        out += expand("results/figures/toy/fig5_frontiers.{ext}", ext=exts)
    for ds in datasets:
        out += expand("results/figures/toy/{ds}_frontiers.{ext}", ds=ds, ext=exts)
        if toy.figures.grid_metrics:
            out += expand(
                "results/figures/toy/{ds}_n{n}.{ext}",
                ds=ds,
                n=dictionary_sizes(toy, ds, run.models),
                ext=exts,
            )
        out.append(f"results/toy/summary/{ds}_summary.csv")
    return out


def _toy_vectors(wildcards):
    """Vectors file of a word-vector or embedding dataset; nothing for the synthetic data."""
    kind, detail = parse_dataset(wildcards.toy_dataset)
    if kind == "sharkey":
        return []
    if kind == "embed":
        return [f"results/toy/embeddings/{detail}.npy"]
    return [f"results/toy/words/{wildcards.toy_dataset}.npy"]


def _toy_sharkey_params(wildcards):
    """The synthetic data's settings (a SharkeyData) for the sharkey dataset, else None: the keys
    of toy.sharkey that define its samples (its switch and dictionary sizes rerun nothing).
    """
    if parse_dataset(wildcards.toy_dataset)[0] != "sharkey":
        return None
    return {f.name: config["toy"]["sharkey"][f.name] for f in key_fields(SharkeyData)}


def _toy_gaussian_params(wildcards):
    """Rows of a word-vector dataset's Gaussian control; None for the synthetic data and for an
    embedding matrix (its control has as many rows as the matrix)."""
    if parse_dataset(wildcards.toy_dataset)[0] in ("sharkey", "embed"):
        return None
    return config["toy"]["words"]["gaussian_num_samples"]


def _toy_sweep_csvs(wildcards):
    """All sweep CSVs of one dataset (one per dictionary size)."""
    return expand(
        "results/toy/sweep/{ds}/n{n}.csv",
        ds=wildcards.toy_dataset,
        n=dictionary_sizes(RUN.toy, wildcards.toy_dataset, RUN.models),
    )


def _toy_fig5_summaries(wildcards):
    """Summaries drawn in Fig 5: the synthetic data (a), the first word-vector dataset (b),
    then every token-embedding matrix (Section 4.3)."""
    datasets = toy_datasets(RUN.toy)
    words = [d for d in datasets if parse_dataset(d)[0] in ("word2vec", "glove")]
    chosen = [d for d in datasets if d == "sharkey"] + words[:1]
    chosen += [d for d in datasets if d.startswith(EMBED_PREFIX)]
    return [f"results/toy/summary/{d}_summary.csv" for d in chosen]


def _toy_embedding_weights(wildcards):
    """Trained weights of an embedded model; a Pythia model is read from the Hub instead."""
    mcfg = config["models"][wildcards.toy_model]
    if mcfg["source"] == "embedded":
        return [f"results/models/{wildcards.toy_model}/trained/model.safetensors"]
    return []
