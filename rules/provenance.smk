# Provenance: results/manifest.tsv lists every final artifact (the default targets plus every
# per-cell result behind them) with sha256, size, producing rule, wildcards, params hash, SLURM
# job, git commit and package versions (randsae/manifest.py).


localrules:
    manifest,


rule manifest:
    input:
        artifacts=sorted(
            (
                set(all_targets())
                | set(init_files())
                | set(cell_files("results/saes/{model}/{init}/layer{layer}/cfg.json"))
                | set(cell_files("results/saes/{model}/{init}/layer{layer}/sae_weights.safetensors"))
                | set(cell_files("results/metrics/{model}/{init}/layer{layer}.json"))
                | set(cell_files("results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl"))
                | set(cell_files("results/autointerp/{model}/{init}/layer{layer}/scores.json"))
            )
            - {"results/manifest.tsv"}
        ),
        code=code("randsae/manifest.py"),
    output:
        manifest=report(
            "results/manifest.tsv",
            caption="../report/manifest.rst",
            category="Provenance",
            labels={"table": "manifest"},
        ),
    params:
        # output patterns of every rule: the manifest recovers each artifact's wildcards from them
        patterns=lambda wc: {r.name: sorted(str(o) for o in r.output) for r in workflow.rules if r.output},
        config_source=CONFIG_SOURCE,
    log:
        "logs/manifest.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/manifest.py"
