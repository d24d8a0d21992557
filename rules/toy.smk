# Toy models of superposition through random networks (paper Section 4).
# Outputs: results/toy/... (data stats, word vectors, embedding matrices, sweeps, summaries) and
# results/figures/toy/... (every figure as PDF + PNG + the CSV it plots).


wildcard_constraints:
    toy_dataset=r"sharkey|word2vec\d+|glove\d+|embed_[A-Za-z0-9_.\-]+",
    toy_model=r"[A-Za-z0-9_.\-]+",
    toy_n=r"\d+",
    toy_dim=r"\d+",


# Fig 3: 3 sparse Lomax features -> dense 2-D inputs -> random 2 -> 8 -> 2 MLP outputs.
rule toy_2d:
    output:
        pdf="results/figures/toy/fig3_toy_2d.pdf",
        png="results/figures/toy/fig3_toy_2d.png",
        csv="results/figures/toy/fig3_toy_2d.csv",
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


# Section 4.3: a model's token-embedding matrix (rows = tokens): the embedded model's W_E from
# its trained weights, a Pythia model's embed_in from the Hugging Face Hub (hf_name).
rule toy_embeddings:
    input:
        weights=_toy_embedding_weights,
    output:
        vectors="results/toy/embeddings/{toy_model}.npy",
    log:
        "logs/toy/embeddings/{toy_model}.log",
    benchmark:
        "benchmarks/runs/toy_embeddings/{toy_model}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        source=lambda wc: config["models"][wc.toy_model]["source"],
        hf_name=lambda wc: config["models"][wc.toy_model].get("hf_name"),
    script:
        "../scripts/toy_embeddings.py"


# Descriptive statistics of every (arm, seed) dataset; on demand (not a default target).
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
        seed=config["toy"]["seed"],
        test_fraction=config["toy"]["test_fraction"],
        ffn_expansion=config["toy"]["ffn_expansion"],
        sharkey=_toy_sharkey_params,
        gaussian_num_samples=_toy_gaussian_params,
        arms=config["toy"]["arms"],
        seeds=config["toy"]["sae"]["seeds"],
    script:
        "../scripts/toy_data.py"


rule toy_sweep:
    input:
        vectors=_toy_vectors,
    output:
        csv="results/toy/sweep/{toy_dataset}/n{toy_n}.csv",
    log:
        "logs/toy/sweep/{toy_dataset}/n{toy_n}.log",
    benchmark:
        "benchmarks/runs/toy_sweep/{toy_dataset}/n{toy_n}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        seed=config["toy"]["seed"],
        test_fraction=config["toy"]["test_fraction"],
        ffn_expansion=config["toy"]["ffn_expansion"],
        sharkey=_toy_sharkey_params,
        gaussian_num_samples=_toy_gaussian_params,
        arms=config["toy"]["arms"],
        sae=config["toy"]["sae"],
        device=config["device"],
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


# Fig 4: MMCS vs L1 coefficient, one line per dictionary size (synthetic data).
rule toy_fig4:
    input:
        summary="results/toy/summary/sharkey_summary.csv",
    output:
        pdf="results/figures/toy/fig4_mmcs.pdf",
        png="results/figures/toy/fig4_mmcs.png",
        csv="results/figures/toy/fig4_mmcs.csv",
    log:
        "logs/toy/figures/fig4_mmcs.log",
    benchmark:
        "benchmarks/runs/toy_fig4.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    script:
        "../scripts/toy_fig4.py"


# Fig 5: EV vs L0 Pareto frontiers; (a) synthetic data, (b) word vectors, then embeddings.
rule toy_fig5:
    input:
        summaries=_toy_fig5_summaries,
    output:
        pdf="results/figures/toy/fig5_frontiers.pdf",
        png="results/figures/toy/fig5_frontiers.png",
        csv="results/figures/toy/fig5_frontiers.csv",
    log:
        "logs/toy/figures/fig5_frontiers.log",
    benchmark:
        "benchmarks/runs/toy_fig5.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    script:
        "../scripts/toy_fig5.py"


# Figs 22-25 (sharkey), 26-29 (glove50..300), Section 4.3 (embed_<model>): EV vs L0, L1,
# L1/sqrt(L2) and Hoyer frontiers of the four arms, a row per dictionary size.
rule toy_frontiers:
    input:
        summary=rules.toy_summary.output.summary,
    output:
        pdf="results/figures/toy/{toy_dataset}_frontiers.pdf",
        png="results/figures/toy/{toy_dataset}_frontiers.png",
        csv="results/figures/toy/{toy_dataset}_frontiers.csv",
    log:
        "logs/toy/figures/{toy_dataset}_frontiers.log",
    benchmark:
        "benchmarks/runs/toy_frontiers/{toy_dataset}_frontiers.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    script:
        "../scripts/toy_frontiers.py"


# Every metric vs L1 coefficient for one dictionary size, lines = arms (toy.figures.grid_metrics;
# an empty list leaves these out of the targets).
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
