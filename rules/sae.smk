# Activations, SAE training, SAE metrics and latent examples (one job per cell).


rule cache_activations:
    input:
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/train.npy",
    output:
        cache=directory("results/activations/{model}/{init}"),
    params:
        cfg=lambda wc: load_slice(wc.model),
        activations=config["activations"],
        # The cache holds every layer up to the deepest requested one, so adding a shallower
        # layer adds only that layer's jobs.
        max_layer=lambda wc: max(config["models"][wc.model]["layers"]),
        device=config["device"],
    resources:
        disk_mb=lambda wc: 1 + (max(config["models"][wc.model]["layers"]) + 1)
        * config["activations"]["n_train_tokens"]
        * 4
        * (4096 if not is_embedded(wc.model) else config["models"][wc.model]["arch"]["d_model"])
        // 1_000_000,
    log:
        "logs/cache_activations/{model}/{init}.log",
    benchmark:
        "benchmarks/runs/cache_activations/{model}/{init}.tsv"
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/cache_activations.py"


rule train_sae:
    input:
        cache="results/activations/{model}/{init}",
    output:
        cfg="results/saes/{model}/{init}/layer{layer}/cfg.json",
        weights="results/saes/{model}/{init}/layer{layer}/sae_weights.safetensors",
        curve="results/saes/{model}/{init}/layer{layer}/training_curve.csv",
    params:
        sae=config["sae"],
        activations=config["activations"],
        seed=config["seed"],
        device=config["device"],
        # Checkpoints live outside the declared outputs: Snakemake's incomplete-output cleanup
        # never deletes them, so a killed job resumes.
        checkpoint_dir=lambda wc: f"results/checkpoints/{wc.model}/{wc.init}/layer{wc.layer}",
    log:
        "logs/train_sae/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/train_sae/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/train_sae.py"


rule eval_sae:
    input:
        sae=rules.train_sae.output.weights,
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        metrics="results/metrics/{model}/{init}/layer{layer}.json",
    params:
        cfg=lambda wc: load_slice(wc.model),
        eval=config["eval"],
        context_size=config["activations"]["context_size"],
        device=config["device"],
    log:
        "logs/eval_sae/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/eval_sae/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/eval_sae.py"


def tokenizer_path(wildcards):
    if is_embedded(wildcards.model):
        return "results/data/tokenizer"
    return config["models"][wildcards.model]["hf_name"]


rule latent_examples:
    input:
        sae=rules.train_sae.output.weights,
        init="results/models/{model}/inits/{init}.json",
        tokens="results/data/tokens/{model}/val.npy",
    output:
        examples="results/examples/{model}/{init}/layer{layer}.json",
    params:
        cfg=lambda wc: load_slice(wc.model),
        examples=config["examples"],
        batch_size=config["eval"]["batch_size"],
        seed=config["seed"],
        tokenizer=tokenizer_path,
        device=config["device"],
    log:
        "logs/latent_examples/{model}/{init}/layer{layer}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/latent_examples.py"
