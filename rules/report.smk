# Tables and figures (cheap rules: the package code they use is an input, so edits rerun them).
# Every table and figure is marked for `snakemake --report report.html` with a caption under
# report/ saying what it shows and which config produced it (params.config_source).
from randsae.report.manifest import config_source, figure_report_args

REPORT_DIR = os.path.join(workflow.basedir, "report")
CONFIG_SOURCE = config_source(config, workflow.overwrite_configfiles)


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


rule figures:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        autointerp=rules.tables.output.autointerp,
        abstractness=rules.tables.output.abstractness,
        density=rules.tables.output.density,
        code=code("randsae/report/plotting.py", "randsae/report/plot_metrics.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in figure_targets(
                "results/figures",
                config["autointerp"]["scorers"],
                config["figures"]["formats"],
                INIT_SWEEP,
            )
        ],
    log:
        "logs/figures.log",
    benchmark:
        "benchmarks/runs/figures.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        scorers=config["autointerp"]["scorers"],
        formats=config["figures"]["formats"],
        init_sweep=INIT_SWEEP,
        config_source=CONFIG_SOURCE,
    script:
        "../scripts/figures.py"


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
        artifacts=sorted(
            (
                set(all_targets())
                | set(init_files())
                | set(cell_files("results/saes/{model}/{init}/layer{layer}/cfg.json"))
                | set(
                    cell_files(
                        "results/saes/{model}/{init}/layer{layer}/sae_weights.safetensors"
                    )
                )
                | set(cell_files("results/metrics/{model}/{init}/layer{layer}.json"))
                | set(
                    cell_files(
                        "results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl"
                    )
                )
                | set(
                    cell_files(
                        "results/autointerp/{model}/{init}/layer{layer}/scores.json"
                    )
                )
            )
            - {"results/manifest.tsv"}
        ),
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
