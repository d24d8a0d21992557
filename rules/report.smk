# Tables and figures (cheap rules: the package code they use is an input, so edits rerun them).
# Every table and figure is marked for `snakemake --report report.html` with a caption under
# report/ saying what it shows and which config produced it (params.config_source).
from randsae.publish.settings import run_config
from randsae.report.manifest import config_source, figure_report_args

REPORT_DIR = os.path.join(workflow.basedir, "report")
# The digest leaves out publish/artifacts (where results go or come from, not what they are).
CONFIG_SOURCE = config_source(run_config(config), workflow.overwrite_configfiles)


rule tables:
    input:
        metrics=cell_files("results/metrics/{model}/{init}/layer{layer}.json"),
        latents=cell_files("results/metrics/{model}/{init}/layer{layer}_latents.csv"),
        scores=cell_files("results/autointerp/{model}/{init}/layer{layer}/scores.json"),
        inits=init_files(),
        code=code("randsae/report/aggregate.py"),
    output:
        sae_metrics=report(
            "results/tables/sae_metrics.csv",
            caption="../report/tables/sae_metrics.rst",
            category="Tables",
            labels={"table": "sae_metrics"},
        ),
        autointerp=report(
            "results/tables/autointerp.csv",
            caption="../report/tables/autointerp.rst",
            category="Tables",
            labels={"table": "autointerp"},
        ),
        abstractness=report(
            "results/tables/abstractness.csv",
            caption="../report/tables/abstractness.rst",
            category="Tables",
            labels={"table": "abstractness"},
        ),
        density=report(
            "results/tables/density_histograms.csv",
            caption="../report/tables/density_histograms.rst",
            category="Tables",
            labels={"table": "density_histograms"},
        ),
        llm_cost=report(
            "results/tables/llm_cost.csv",
            caption="../report/tables/llm_cost.rst",
            category="Tables",
            labels={"table": "llm_cost"},
        ),
        judge_agreement=report(
            "results/tables/judge_agreement.csv",
            caption="../report/tables/judge_agreement.rst",
            category="Tables",
            labels={"table": "judge_agreement"},
        ),
    log:
        "logs/tables.log",
    benchmark:
        "benchmarks/runs/tables.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/tables.py"


# Per-latent and per-window tables behind the v2 figures.


rule latent_table:
    input:
        examples=cell_files("results/examples/{model}/{init}/layer{layer}.json"),
        windows=cell_files(str(rules.score.output.windows)),
        held_out=cell_files("results/metrics/{model}/{init}/layer{layer}_latents.csv"),
        code=code("randsae/report/latents.py", "randsae/report/roc.py"),
    output:
        latents=report(
            "results/tables/latents.csv",
            caption="../report/tables/latents.rst",
            category="Tables",
            labels={"table": "latents"},
        ),
        roc=report(
            "results/tables/roc_curves.csv",
            caption="../report/tables/roc_curves.rst",
            category="Tables",
            labels={"table": "roc_curves"},
        ),
    log:
        "logs/report/latent_table.log",
    benchmark:
        "benchmarks/runs/latent_table.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        cells=CELLS,
        bootstrap=config["autointerp"]["bootstrap"],
        seed=config["seed"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/latent_table.py"


rule compute_table:
    # Table 1 reads every benchmark file present when it runs; its inputs are the run's final
    # per-cell tables, so every benchmarked model/SAE job has finished by then.
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        latents=rules.latent_table.output.latents,
        code=code("randsae/report/compute.py"),
    output:
        compute=report(
            "results/tables/compute.csv",
            caption="../report/tables/compute.rst",
            category="Tables",
            labels={"table": "compute"},
        ),
    log:
        "logs/report/compute_table.log",
    benchmark:
        "benchmarks/runs/compute_table.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        bench_root="benchmarks/runs",
        models=MODELS,
        n_variants=len(INITS),
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/compute_table.py"


rule app_j_examples:
    input:
        examples=cell_files("results/examples/{model}/{init}/layer{layer}.json"),
        explanations=cell_files(
            "results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl"
        ),
        code=code("randsae/report/app_j.py"),
    output:
        csv="results/tables/app_j_examples.csv",
        md="results/tables/app_j_examples.md",
        html=report(
            "results/tables/app_j_examples.html",
            caption="../report/tables/app_j_examples.rst",
            category="Tables",
            labels={"table": "app_j_examples"},
        ),
    log:
        "logs/report/app_j_examples.log",
    benchmark:
        "benchmarks/runs/app_j_examples.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        cells=CELLS,
        seed=config["seed"],
        n_latents=3,
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/app_j_examples.py"


# Figures: one rule per figure family, each output named literally here (the catalogue,
# randsae/report/catalogue.py and docs/figures.md, maps every paper figure to its rule).
# Every figure comes in the configured formats plus the CSV of exactly what it plots.


rule plot_sae_metrics:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        code=code("randsae/report/plotting.py", "randsae/report/style.py"),
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
        code=code("randsae/report/plot_metrics.py", "randsae/report/style.py"),
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
        code=code("randsae/report/plot_metrics.py", "randsae/report/style.py"),
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
        code=code("randsae/report/plotting.py", "randsae/report/style.py"),
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
        code=code("randsae/report/plotting.py", "randsae/report/style.py"),
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
        code=code("randsae/report/roc.py", "randsae/report/style.py"),
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
            "randsae/report/grid.py",
            "randsae/report/latents.py",
            "randsae/report/style.py",
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
        models=variant_slice(),
        bootstrap=config["autointerp"]["bootstrap"],
        seed=config["seed"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/plot_fig2_grid.py"


rule plot_entropy_vs_auroc:
    input:
        latents=rules.latent_table.output.latents,
        code=code("randsae/report/latents.py", "randsae/report/style.py"),
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


localrules:
    claims,


# The paper's eight claims checked on this run's tables, and trained minus each variant for every
# metric x model x layer (definitions: docs/claims.md).
rule claims:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        autointerp=rules.tables.output.autointerp,
        latents=latents_table,
        toy=toy_sweep_tables,
        code=code("randsae/report/claims.py"),
    output:
        claims=report(
            "results/tables/claims.csv",
            caption="../report/tables/claims.rst",
            category="Claims",
            labels={"table": "claims"},
        ),
        distinguishability=report(
            "results/tables/distinguishability.csv",
            caption="../report/tables/distinguishability.rst",
            category="Claims",
            labels={"table": "distinguishability"},
        ),
    log:
        "logs/claims.log",
    benchmark:
        "benchmarks/runs/claims.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        n_boot=config["autointerp"]["bootstrap"],
        seed=config["seed"],
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/claims.py"


# Provenance: results/manifest.tsv lists every final artifact (the default targets plus every
# per-cell result behind them) with sha256, size, producing rule, wildcards, params hash, SLURM
# job, git commit and package versions (randsae/report/manifest.py).


localrules:
    manifest,


rule manifest:
    input:
        artifacts=manifest_artifacts(),
        code=code("randsae/report/manifest.py"),
    output:
        manifest=report(
            "results/manifest.tsv",
            caption="../report/manifest.rst",
            category="Provenance",
            labels={"table": "manifest"},
        ),
    log:
        "logs/manifest.log",
    benchmark:
        "benchmarks/runs/manifest.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        # output patterns of every rule: the manifest recovers each artifact's wildcards from them
        patterns=lambda wc: {
            r.name: sorted(str(o) for o in r.output)
            for r in workflow.rules
            if r.output
        },
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/manifest.py"
