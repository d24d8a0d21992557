# Tables and figures (cheap rules: the package code they use is an input, so edits rerun them).
# Every table and figure is marked for `snakemake --report report.html` with a caption under
# report/ saying what it shows and which config produced it (params.config_source).
from randsae.manifest import config_source, figure_report_args

REPORT_DIR = os.path.join(workflow.basedir, "report")
CONFIG_SOURCE = config_source(config, workflow.overwrite_configfiles)


rule tables:
    input:
        metrics=cell_files("results/metrics/{model}/{init}/layer{layer}.json"),
        latents=cell_files("results/metrics/{model}/{init}/layer{layer}_latents.csv"),
        scores=cell_files("results/autointerp/{model}/{init}/layer{layer}/scores.json"),
        inits=init_files(),
        code=code("randsae/aggregate.py"),
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
    params:
        config_source=CONFIG_SOURCE,
    log:
        "logs/tables.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/tables.py"


rule figures:
    input:
        sae_metrics=rules.tables.output.sae_metrics,
        autointerp=rules.tables.output.autointerp,
        abstractness=rules.tables.output.abstractness,
        density=rules.tables.output.density,
        code=code("randsae/plotting.py", "randsae/plot_metrics.py"),
    output:
        [
            report(f, **figure_report_args(f, REPORT_DIR))
            for f in figure_targets(
                "results/figures", config["autointerp"]["scorers"], config["figures"]["formats"], INIT_SWEEP
            )
        ],
    params:
        scorers=config["autointerp"]["scorers"],
        formats=config["figures"]["formats"],
        init_sweep=INIT_SWEEP,
        config_source=CONFIG_SOURCE,
    log:
        "logs/figures.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/figures.py"
