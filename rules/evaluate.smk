# Evaluation: SAE quality metrics, abstractness and the latent examples for auto-interp. One job
# per (model, init) (eval_group) builds the model once and evaluates all its layers into a
# content-addressed store (randsae/evaluate/group.py): only layers whose inputs or settings
# changed are evaluated again. The per-layer targets come from light eval_sae jobs that copy a
# layer's entry; they read the group's manifest as ancient(), so a group rerun for one layer
# reruns (and rewrites) no other layer's targets.


localrules:
    eval_sae,


rule eval_group:
    input:
        saes=eval_group_saes,
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        manifest="results/eval_groups/{model}/{init}.json",
    log:
        "logs/eval_group/{model}/{init}.log",
    benchmark:
        "benchmarks/runs/eval_group/{model}/{init}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=eval_mem,
        runtime=lambda wc, attempt: 300 * attempt * len(RUN.models[wc.model].layers),
        gpu=GPU,
    params:
        **EVAL_PARAMS,
        layers=lambda wc: RUN.models[wc.model].layers,
        store=EVAL_STORE,
    script:
        "../scripts/eval_group.py"


rule eval_sae:
    input:
        group=ancient("results/eval_groups/{model}/{init}.json"),
        sae=SAE_FILES["weights"],
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        metrics="results/metrics/{model}/{init}/layer{layer}.json",
        latents="results/metrics/{model}/{init}/layer{layer}_latents.csv",
        examples="results/examples/{model}/{init}/layer{layer}.json",
    log:
        "logs/eval_sae/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/eval_sae/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(500),
        runtime=scaled(10),
    params:
        **EVAL_PARAMS,
        store=EVAL_STORE,
    script:
        "../scripts/eval_sae.py"
