# Toy models of superposition through random networks (paper Section 4).
# Outputs: results/toy/... (data stats, word vectors, sweeps, summaries) and
# results/figures/toy/... (every figure as PDF + PNG + the CSV it plots).


wildcard_constraints:
    toy_dataset=r"sharkey|word2vec\d+|glove\d+",
    toy_arm="|".join(ARMS),
    toy_n=r"\d+",
    toy_dim=r"\d+",


rule toy_2d:
    output:
        pdf="results/figures/toy/toy_2d.pdf",
        png="results/figures/toy/toy_2d.png",
        csv="results/figures/toy/toy_2d.csv",
    log:
        "logs/toy/toy_2d.log",
    benchmark:
        "benchmarks/runs/toy_2d.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        seed=config["toy"]["seed"],
        two_d=config["toy"]["two_d"],
    script:
        "../scripts/toy_2d.py"


rule word_vectors:
    output:
        vectors="results/toy/words/word2vec{toy_dim}.npy",
        vocab="results/toy/words/word2vec{toy_dim}.vocab.txt",
    log:
        "logs/toy/word_vectors/word2vec{toy_dim}.log",
    benchmark:
        "benchmarks/runs/word_vectors/word2vec{toy_dim}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        seed=config["toy"]["seed"],
        word2vec=config["toy"]["words"]["word2vec"],
        max_words=config["toy"]["words"]["max_words"],
    script:
        "../scripts/word_vectors.py"


rule glove_download:
    output:
        zip="results/toy/words/glove.6B.zip",
        checksum="results/toy/words/glove.6B.sha256.json",
    log:
        "logs/toy/glove_download.log",
    benchmark:
        "benchmarks/runs/glove_download.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        glove=config["toy"]["words"]["glove"],
    script:
        "../scripts/glove_download.py"


rule toy_glove_vectors:
    input:
        zip=rules.glove_download.output.zip,
    output:
        vectors="results/toy/words/glove{toy_dim}.npy",
        vocab="results/toy/words/glove{toy_dim}.vocab.txt",
    log:
        "logs/toy/glove_vectors/glove{toy_dim}.log",
    benchmark:
        "benchmarks/runs/toy_glove_vectors/glove{toy_dim}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        max_words=config["toy"]["words"]["max_words"],
    script:
        "../scripts/toy_glove_vectors.py"


rule toy_data:
    input:
        vectors=_toy_vectors,
    output:
        stats="results/toy/data/{toy_dataset}_stats.csv",
    log:
        "logs/toy/data/{toy_dataset}.log",
    benchmark:
        "benchmarks/runs/toy_data/{toy_dataset}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        common=_toy_common_params(),
        data=_toy_data_params,
        arms=config["toy"]["arms"],
        seeds=config["toy"]["sae"]["seeds"],
    script:
        "../scripts/toy_data.py"


rule toy_sweep:
    input:
        vectors=_toy_vectors,
    output:
        csv="results/toy/sweep/{toy_dataset}/{toy_arm}/n{toy_n}.csv",
    log:
        "logs/toy/sweep/{toy_dataset}/{toy_arm}/n{toy_n}.log",
    benchmark:
        "benchmarks/runs/toy_sweep/{toy_dataset}/{toy_arm}/n{toy_n}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        common=_toy_common_params(),
        data=_toy_data_params,
        sae=config["toy"]["sae"],
        device=config.get("device", "cpu"),
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
    benchmark:
        "benchmarks/runs/toy_summary/{toy_dataset}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    script:
        "../scripts/toy_summary.py"


rule toy_figures:
    input:
        summary=rules.toy_summary.output.summary,
    output:
        pdf="results/figures/toy/{toy_dataset}_main.pdf",
        png="results/figures/toy/{toy_dataset}_main.png",
        csv="results/figures/toy/{toy_dataset}_main.csv",
    log:
        "logs/toy/figures/{toy_dataset}_main.log",
    benchmark:
        "benchmarks/runs/toy_figures/{toy_dataset}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        metrics=config["toy"]["figures"]["main_metrics"],
    script:
        "../scripts/toy_figures.py"


rule toy_figure_grid:
    input:
        summary=rules.toy_summary.output.summary,
    output:
        pdf="results/figures/toy/{toy_dataset}_n{toy_n}.pdf",
        png="results/figures/toy/{toy_dataset}_n{toy_n}.png",
        csv="results/figures/toy/{toy_dataset}_n{toy_n}.csv",
    log:
        "logs/toy/figures/{toy_dataset}_n{toy_n}.log",
    benchmark:
        "benchmarks/runs/toy_figure_grid/{toy_dataset}_n{toy_n}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        metrics=config["toy"]["figures"]["grid_metrics"],
    script:
        "../scripts/toy_figure_grid.py"
