# Evaluation: SAE quality metrics, abstractness and the latent examples for auto-interp. One job
# per (model, init) (eval_group) builds the model once and evaluates its layers into a
# content-addressed store (randsae/evaluate/group.py); light per-layer jobs give each layer its
# key (eval_key) and copy its results to the per-layer targets (eval_sae). eval_sae reads the
# group's manifest as ancient(): a group rerun for one layer rewrites no other layer's targets.
# Its own key file is an ordinary input, so what changes a layer (its SAE, the eval settings)
# reruns that layer's eval_key, and through it its eval_sae.


localrules:
    eval_key,
    eval_sae,


rule eval_key:
    input:
        sae=SAE_FILES["weights"],
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        key="results/eval_keys/{model}/{init}/layer{layer}.key",
    log:
        "logs/eval_key/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/eval_key/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(500),
        runtime=scaled(10),
    params:
        **EVAL_PARAMS,
    script:
        "../scripts/eval_key.py"


rule eval_group:
    input:
        layer_keys=lambda wc: layer_files(
            wc, "results/eval_keys/{model}/{init}/layer{layer}.key"
        ),
        saes=lambda wc: layer_files(wc, SAE_FILES["weights"]),
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
        key="results/eval_keys/{model}/{init}/layer{layer}.key",
        group=ancient("results/eval_groups/{model}/{init}.json"),
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
        store=EVAL_STORE,
    script:
        "../scripts/eval_sae.py"
