# Helper functions of the toy-model rules (rules/toy.smk).
from randsae.toy.config import (
    EMBED_PREFIX,
    check_toy_config,
    dictionary_sizes,
    parse_dataset,
    toy_datasets,
)


def toy_targets(config):
    """Final toy outputs (figures and their CSVs, summaries) for `rule all`."""
    toy = check_toy_config(config["toy"], config["models"])
    exts = ["pdf", "png", "csv"]
    out = []
    if toy["two_d"]["enabled"]:
        out += expand("results/figures/toy/fig3_toy_2d.{ext}", ext=exts)
    datasets = toy_datasets(toy)
    if "sharkey" in datasets:
        out += expand("results/figures/toy/fig4_mmcs.{ext}", ext=exts)
    if datasets:
        out += expand("results/figures/toy/fig5_frontiers.{ext}", ext=exts)
    for ds in datasets:
        out += expand("results/figures/toy/{ds}_frontiers.{ext}", ds=ds, ext=exts)
        if toy["figures"]["grid_metrics"]:
            out += expand(
                "results/figures/toy/{ds}_n{n}.{ext}",
                ds=ds,
                n=dictionary_sizes(toy, ds, config["models"]),
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


def _toy_data_params(wildcards):
    """The config slice that defines a dataset's samples (so changes rerun its jobs)."""
    kind, _detail = parse_dataset(wildcards.toy_dataset)
    if kind == "sharkey":
        return {
            k: v
            for k, v in config["toy"]["sharkey"].items()
            if k not in ("enabled", "num_latents")
        }
    if kind == "embed":
        return {}  # the matrix is the input file; its Gaussian control has as many rows
    return {"gaussian_num_samples": config["toy"]["words"]["gaussian_num_samples"]}


def _toy_sweep_csvs(wildcards):
    """All sweep CSVs of one dataset (one per dictionary size)."""
    return expand(
        "results/toy/sweep/{ds}/n{n}.csv",
        ds=wildcards.toy_dataset,
        n=dictionary_sizes(config["toy"], wildcards.toy_dataset, config["models"]),
    )


def _toy_fig5_summaries(wildcards):
    """Summaries drawn in Fig 5: the synthetic data (a), the first word-vector dataset (b),
    then every token-embedding matrix (Section 4.3)."""
    datasets = toy_datasets(config["toy"])
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


def _toy_common_params():
    toy = config["toy"]
    return {k: toy[k] for k in ("seed", "test_fraction", "ffn_expansion")}
