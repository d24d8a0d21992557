# Activations, SAE training, SAE metrics and latent examples (one job per cell).


if config["activations"]["source"] == "cache":

    rule cache_activations:
        input:
            init="results/models/{model}/inits/{init}.json",
            tokens="results/data/tokens/{model}/train.npy",
        output:
            cache=directory("results/activations/{model}/{init}"),
        log:
            "logs/cache_activations/{model}/{init}.log",
        benchmark:
            "benchmarks/runs/cache_activations/{model}/{init}.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: MODEL_THREADS
        resources:
            mem_mb=model_mem,
            runtime=scaled(240),
            gpu=GPU,
        params:
            model=lambda wc: load_params(wc.model),
            init=config["init"],
            activations=config["activations"],
            # The cache holds every layer up to the deepest requested one, so adding a
            # shallower layer adds only that layer's jobs.
            max_layer=lambda wc: max(config["models"][wc.model]["layers"]),
            device=config["device"],
        script:
            "../scripts/cache_activations.py"

    rule train_sae:
        input:
            cache="results/activations/{model}/{init}",
        output:
            **SAE_FILES,
        log:
            "logs/train_sae/{model}/{init}/layer{layer}.log",
        benchmark:
            "benchmarks/runs/train_sae/{model}/{init}/layer{layer}.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: MODEL_THREADS
        resources:
            mem_mb=sae_mem,
            runtime=scaled(360),
            gpu=GPU,
        params:
            sae=lambda wc: sae_params(wc.model),
            activations=config["activations"],
            seed=config["seed"],
            device=config["device"],
            # Checkpoints live outside the declared outputs: Snakemake's incomplete-output
            # cleanup never deletes them, so a killed job resumes.
            checkpoint_dir=lambda wc: f"results/checkpoints/{wc.model}/{wc.init}/layer{wc.layer}",
        script:
            "../scripts/train_sae.py"

else:

    localrules:
        link_sae,

    rule train_sae_group:
        input:
            init="results/models/{model}/inits/{init}.json",
            tokens="results/data/tokens/{model}/train.npy",
        output:
            group=directory("results/sae_groups/{model}/{init}/group{group}"),
        log:
            "logs/train_sae_group/{model}/{init}/group{group}.log",
        benchmark:
            "benchmarks/runs/train_sae_group/{model}/{init}/group{group}.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: 2 * MODEL_THREADS
        resources:
            mem_mb=lambda wc, attempt: model_mem(wc, attempt)
            + group_size(wc.model) * sae_mem(wc, attempt),
            runtime=scaled(1440),
            gpu=GPU,
        params:
            model=lambda wc: load_params(wc.model),
            init=config["init"],
            layers=group_layers,
            sae=lambda wc: sae_params(wc.model),
            activations=config["activations"],
            seed=config["seed"],
            device=config["device"],
        script:
            "../scripts/train_sae_group.py"

    rule link_sae:
        input:
            group=group_of_layer,
        output:
            **SAE_FILES,
        log:
            "logs/link_sae/{model}/{init}/layer{layer}.log",
        benchmark:
            "benchmarks/runs/link_sae/{model}/{init}/layer{layer}.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: 1
        resources:
            mem_mb=scaled(500),
            runtime=scaled(10),
        script:
            "../scripts/link_sae.py"
