# Figures from the result tables (cheap rules: the package code they use is an input, so edits
# rerun them). Every figure is marked for `snakemake --report report.html` with a caption under
# report/figures/ (randsae/figures/captions.py) and the config that produced it.


# Figures: one rule per figure family, each output named literally here (the catalogue,
# randsae/figures/catalogue.py and docs/figures.md, maps every paper figure to its rule).
# Every figure comes in the configured formats plus the CSV of exactly what it plots.


rule plot_sae_metrics:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        code=code("randsae/figures/plotting.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand(
                "results/figures/sae_{sae_metric}_vs_layer.{ext}",
                sae_metric=FIGURE_METRICS,
                ext=FIG_EXT,
            )
        ],
    log:
        "logs/report/plot_sae_metrics.log",
    benchmark:
        "benchmarks/runs/plot_sae_metrics.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        metrics=list(FIGURE_METRICS),
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_sae_metrics.py"


rule plot_density_histograms:
    input:
        density=rules.tables.output.density,
        code=code("randsae/figures/plot_metrics.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand(
                "results/figures/sae_density_histograms.{ext}", ext=FIG_EXT
            )
        ],
    log:
        "logs/report/plot_density_histograms.log",
    benchmark:
        "benchmarks/runs/plot_density_histograms.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_density_histograms.py"


rule plot_abstractness:
    input:
        abstractness=rules.tables.output.abstractness,
        code=code("randsae/figures/plot_metrics.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand("results/figures/abstractness_vs_layer.{ext}", ext=FIG_EXT)
        ],
    log:
        "logs/report/plot_abstractness.log",
    benchmark:
        "benchmarks/runs/plot_abstractness.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_abstractness.py"


rule plot_autointerp_auroc:
    input:
        autointerp=rules.tables.output.autointerp,
        code=code("randsae/figures/plotting.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand(
                "results/figures/autointerp_{scorer}{control}_auroc_vs_layer.{ext}",
                scorer=SCORERS,
                control=["", "_random_explanation"],
                ext=FIG_EXT,
            )
        ],
    log:
        "logs/report/plot_autointerp_auroc.log",
    benchmark:
        "benchmarks/runs/plot_autointerp_auroc.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        scorers=[s + c for s in SCORERS for c in ("", "_random_explanation")],
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_autointerp_auroc.py"


rule plot_init_sweep:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        abstractness=rules.tables.output.abstractness,
        code=code("randsae/figures/plotting.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand("results/figures/init_sweep.{ext}", ext=FIG_EXT)
        ],
    log:
        "logs/report/plot_init_sweep.log",
    benchmark:
        "benchmarks/runs/plot_init_sweep.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_init_sweep.py"


rule plot_roc_curves:
    input:
        roc=rules.latent_table.output.roc,
        code=code("randsae/figures/roc.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand(
                "results/figures/roc_{scorer}_{{model}}.{ext}",
                scorer=ROC_SCORERS,
                ext=FIG_EXT,
            )
        ],
    log:
        "logs/report/plot_roc_curves/{model}.log",
    benchmark:
        "benchmarks/runs/plot_roc_curves/{model}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        scorers=ROC_SCORERS,
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_roc_curves.py"


rule plot_fig2_grid:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        autointerp=rules.tables.output.autointerp,
        latents=rules.latent_table.output.latents,
        code=code(
            "randsae/figures/grid.py",
            "randsae/tables/latents.py",
            "randsae/figures/style.py",
        ),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand("results/figures/fig2_grid.{ext}", ext=FIG_EXT)
        ],
    log:
        "logs/report/plot_fig2_grid.log",
    benchmark:
        "benchmarks/runs/plot_fig2_grid.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        formats=config["figures"]["formats"],
        models=config["models"],
        bootstrap=config["autointerp"]["bootstrap"],
        seed=config["seed"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_fig2_grid.py"


rule plot_entropy_vs_auroc:
    input:
        latents=rules.latent_table.output.latents,
        code=code("randsae/figures/latents.py", "randsae/figures/style.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in expand(
                "results/figures/entropy_vs_fuzzing_auroc_{{model}}.{ext}", ext=FIG_EXT
            )
        ],
    log:
        "logs/report/plot_entropy_vs_auroc/{model}.log",
    benchmark:
        "benchmarks/runs/plot_entropy_vs_auroc/{model}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        formats=config["figures"]["formats"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_entropy_vs_auroc.py"


# `snakemake figures` re-renders every LM figure from the tables alone.
rule figures:
    input:
        lm_figure_targets(),
