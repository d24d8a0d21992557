# Helper functions of the toy-model rules (rules/toy.smk).
from randsae.toy import ARMS
from randsae.toy.config import (
    check_toy_config,
    dictionary_sizes,
    parse_dataset,
    toy_datasets,
)


def toy_targets(config):
    """Final toy outputs (figures and their CSVs, summaries, data stats) for `rule all`."""
    toy = check_toy_config(config["toy"])
    out = []
    if toy["two_d"]["enabled"]:
        out += expand("results/figures/toy/toy_2d.{ext}", ext=["pdf", "png", "csv"])
    for ds in toy_datasets(toy):
        out += expand(
            "results/figures/toy/{ds}_main.{ext}", ds=ds, ext=["pdf", "png", "csv"]
        )
        out += expand(
            "results/figures/toy/{ds}_n{n}.{ext}",
            ds=ds,
            n=dictionary_sizes(toy, ds),
            ext=["pdf", "png", "csv"],
        )
        out += [
            f"results/toy/summary/{ds}_summary.csv",
            f"results/toy/data/{ds}_stats.csv",
        ]
    return out


def _toy_vectors(wildcards):
    """Word-vector file of a word dataset; nothing for the synthetic data."""
    kind, _dim = parse_dataset(wildcards.toy_dataset)
    return (
        [] if kind == "sharkey" else [f"results/toy/words/{wildcards.toy_dataset}.npy"]
    )


def _toy_data_params(wildcards):
    """The config slice that defines a dataset's samples (so changes rerun its jobs)."""
    kind, _dim = parse_dataset(wildcards.toy_dataset)
    if kind == "sharkey":
        return {
            k: v
            for k, v in config["toy"]["sharkey"].items()
            if k not in ("enabled", "num_latents")
        }
    return {"gaussian_num_samples": config["toy"]["words"]["gaussian_num_samples"]}


def _toy_sweep_csvs(wildcards):
    """All sweep CSVs of one dataset."""
    toy = config["toy"]
    return expand(
        "results/toy/sweep/{ds}/{arm}/n{n}.csv",
        ds=wildcards.toy_dataset,
        arm=toy["arms"],
        n=dictionary_sizes(toy, wildcards.toy_dataset),
    )


def _toy_common_params():
    toy = config["toy"]
    return {k: toy[k] for k in ("seed", "test_fraction", "ffn_expansion")}
