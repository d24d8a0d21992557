# Toy models of superposition through random networks (paper Section 4).
# Outputs: results/toy/... (data stats, word vectors, sweeps, summaries) and
# results/figures/toy/... (every figure as PDF + PNG + the CSV it plots).

from randsae.toy import ARMS
from randsae.toy.config import check_toy_config, dictionary_sizes, parse_dataset, toy_datasets


wildcard_constraints:
    toy_dataset=r"sharkey|word2vec\d+|glove\d+",
    toy_arm="|".join(ARMS),
    toy_n=r"\d+",
    toy_dim=r"\d+",


def toy_targets(config):
    """Final toy outputs (figures and their CSVs, summaries, data stats) for `rule all`."""
    toy = check_toy_config(config["toy"])
    out = []
    if toy["two_d"]["enabled"]:
        out += expand("results/figures/toy/toy_2d.{ext}", ext=["pdf", "png", "csv"])
    for ds in toy_datasets(toy):
        out += expand("results/figures/toy/{ds}_main.{ext}", ds=ds, ext=["pdf", "png", "csv"])
        out += expand(
            "results/figures/toy/{ds}_n{n}.{ext}",
            ds=ds,
            n=dictionary_sizes(toy, ds),
            ext=["pdf", "png", "csv"],
        )
        out += [f"results/toy/summary/{ds}_summary.csv", f"results/toy/data/{ds}_stats.csv"]
    return out


def _toy_vectors(wildcards):
    """Word-vector file of a word dataset; nothing for the synthetic data."""
    kind, _dim = parse_dataset(wildcards.toy_dataset)
    return [] if kind == "sharkey" else [f"results/toy/words/{wildcards.toy_dataset}.npy"]


def _toy_data_params(wildcards):
    """The config slice that defines a dataset's samples (so changes rerun its jobs)."""
    kind, _dim = parse_dataset(wildcards.toy_dataset)
    if kind == "sharkey":
        return {k: v for k, v in config["toy"]["sharkey"].items() if k not in ("enabled", "num_latents")}
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


rule toy_2d:
    output:
        pdf="results/figures/toy/toy_2d.pdf",
        png="results/figures/toy/toy_2d.png",
        csv="results/figures/toy/toy_2d.csv",
    params:
        seed=config["toy"]["seed"],
        two_d=config["toy"]["two_d"],
    log:
        "logs/toy/toy_2d.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_2d.py"


rule word_vectors:
    output:
        vectors="results/toy/words/word2vec{toy_dim}.npy",
        vocab="results/toy/words/word2vec{toy_dim}.vocab.txt",
    params:
        seed=config["toy"]["seed"],
        word2vec=config["toy"]["words"]["word2vec"],
        max_words=config["toy"]["words"]["max_words"],
    log:
        "logs/toy/word_vectors/word2vec{toy_dim}.log",
    benchmark:
        "benchmarks/toy/word_vectors/word2vec{toy_dim}.tsv"
    threads: 1
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/word_vectors.py"


rule glove_download:
    output:
        zip="results/toy/words/glove.6B.zip",
        checksum="results/toy/words/glove.6B.sha256.json",
    params:
        glove=config["toy"]["words"]["glove"],
    log:
        "logs/toy/glove_download.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/glove_download.py"


rule toy_glove_vectors:
    input:
        zip=rules.glove_download.output.zip,
    output:
        vectors="results/toy/words/glove{toy_dim}.npy",
        vocab="results/toy/words/glove{toy_dim}.vocab.txt",
    params:
        max_words=config["toy"]["words"]["max_words"],
    log:
        "logs/toy/glove_vectors/glove{toy_dim}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_glove_vectors.py"


rule toy_data:
    input:
        vectors=_toy_vectors,
    output:
        stats="results/toy/data/{toy_dataset}_stats.csv",
    params:
        common=_toy_common_params(),
        data=_toy_data_params,
        arms=config["toy"]["arms"],
        seeds=config["toy"]["sae"]["seeds"],
    log:
        "logs/toy/data/{toy_dataset}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_data.py"


rule toy_sweep:
    input:
        vectors=_toy_vectors,
    output:
        csv="results/toy/sweep/{toy_dataset}/{toy_arm}/n{toy_n}.csv",
    params:
        common=_toy_common_params(),
        data=_toy_data_params,
        sae=config["toy"]["sae"],
        device=config.get("device", "cpu"),
    log:
        "logs/toy/sweep/{toy_dataset}/{toy_arm}/n{toy_n}.log",
    benchmark:
        "benchmarks/toy/sweep/{toy_dataset}/{toy_arm}/n{toy_n}.tsv"
    threads: 1
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_sweep.py"


rule toy_summary:
    input:
        sweeps=_toy_sweep_csvs,
    output:
        raw="results/toy/summary/{toy_dataset}.csv",
        summary="results/toy/summary/{toy_dataset}_summary.csv",
    log:
        "logs/toy/summary/{toy_dataset}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_summary.py"


rule toy_figures:
    input:
        summary=rules.toy_summary.output.summary,
    output:
        pdf="results/figures/toy/{toy_dataset}_main.pdf",
        png="results/figures/toy/{toy_dataset}_main.png",
        csv="results/figures/toy/{toy_dataset}_main.csv",
    params:
        metrics=config["toy"]["figures"]["main_metrics"],
    log:
        "logs/toy/figures/{toy_dataset}_main.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_figures.py"


rule toy_figure_grid:
    input:
        summary=rules.toy_summary.output.summary,
    output:
        pdf="results/figures/toy/{toy_dataset}_n{toy_n}.pdf",
        png="results/figures/toy/{toy_dataset}_n{toy_n}.png",
        csv="results/figures/toy/{toy_dataset}_n{toy_n}.csv",
    params:
        metrics=config["toy"]["figures"]["grid_metrics"],
    log:
        "logs/toy/figures/{toy_dataset}_n{toy_n}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/toy_figure_grid.py"
