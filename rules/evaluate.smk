# Evaluation: SAE quality metrics and abstractness (eval_sae), latent examples for auto-interp.


rule eval_sae:
    input:
        sae=SAE_FILES["weights"],
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        metrics="results/metrics/{model}/{init}/layer{layer}.json",
        latents="results/metrics/{model}/{init}/layer{layer}_latents.csv",
    log:
        "logs/eval_sae/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/eval_sae/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=eval_mem,
        runtime=scaled(120),
        gpu=GPU,
    params:
        cfg=lambda wc: load_slice(wc.model),
        eval=config["eval"],
        context_size=config["activations"]["context_size"],
        device=config["device"],
    script:
        "../scripts/eval_sae.py"


rule latent_examples:
    input:
        sae=SAE_FILES["weights"],
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        examples="results/examples/{model}/{init}/layer{layer}.json",
    log:
        "logs/latent_examples/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/latent_examples/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=eval_mem,
        runtime=scaled(180),
        gpu=GPU,
    params:
        cfg=lambda wc: load_slice(wc.model),
        examples=config["examples"],
        batch_size=config["eval"]["batch_size"],
        ignore_ids=config["eval"]["ignore_token_ids"],
        seed=config["seed"],
        tokenizer=tokenizer_path,
        device=config["device"],
    script:
        "../scripts/latent_examples.py"
