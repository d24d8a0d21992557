# Evaluation: SAE quality metrics, abstractness and the latent examples for auto-interp, one job
# per cell (one process: the model stack is imported and the SAE read once for both).


rule eval_sae:
    input:
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
    threads: MODEL_THREADS
    resources:
        mem_mb=eval_mem,
        runtime=scaled(300),
        gpu=GPU,
    params:
        model=lambda wc: load_params(wc.model),
        init=config["init"],
        eval=config["eval"],
        context_size=config["activations"]["context_size"],
        examples=config["examples"],
        seed=config["seed"],
        tokenizer=tokenizer_path,
        device=config["device"],
    script:
        "../scripts/eval_sae.py"
