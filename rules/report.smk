# Tables and figures (cheap rules: the package code they use is an input, so edits rerun them).


rule tables:
    input:
        metrics=cell_files("results/metrics/{model}/{init}/layer{layer}.json"),
        scores=cell_files("results/autointerp/{model}/{init}/layer{layer}/scores.json"),
        inits=init_files(),
        code=code("randsae/aggregate.py"),
    output:
        sae_metrics="results/tables/sae_metrics.csv",
        autointerp="results/tables/autointerp.csv",
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
        code=code("randsae/plotting.py"),
    output:
        figure_targets("results/figures", config["autointerp"]["scorers"], config["figures"]["formats"]),
    params:
        scorers=config["autointerp"]["scorers"],
        formats=config["figures"]["formats"],
    log:
        "logs/figures.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/figures.py"
