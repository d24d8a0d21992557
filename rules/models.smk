# Base models (embedded: initialised and trained in the DAG) and their variants ("inits").


rule init_model:
    input:
        tokenizer=rules.tokenizer.output.tokenizer,
    output:
        weights="results/models/{model}/step0/model.safetensors",
        config="results/models/{model}/step0/config.json",
    log:
        "logs/init_model/{model}.log",
    benchmark:
        "benchmarks/runs/init_model/{model}.tsv"
    priority: 100
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=model_mem,
        runtime=scaled(30),
    params:
        arch=lambda wc: config["models"][wc.model]["arch"],
        seed=lambda wc: stable_seed(config["seed"], "init_model", wc.model),
    script:
        "../scripts/init_model.py"


rule train_model:
    input:
        step0=rules.init_model.output.weights,
        train="results/data/tokens/{model}/train.npy",
        val="results/data/tokens/{model}/val.npy",
    output:
        weights="results/models/{model}/trained/model.safetensors",
        config="results/models/{model}/trained/config.json",
        metrics="results/models/{model}/trained/metrics.json",
        curve="results/models/{model}/trained/training_curve.csv",
    log:
        "logs/train_model/{model}.log",
    benchmark:
        "benchmarks/runs/train_model/{model}.tsv"
    # On the critical path: start it first; one thread leaves the other core to the step-0 and
    # toy-model jobs that do not depend on it.
    priority: 100
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: max(2000 * attempt, model_mem(wc, attempt)),
        runtime=scaled(120),
    params:
        train=lambda wc: config["models"][wc.model]["train"],
        seed=lambda wc: stable_seed(config["seed"], "train_model", wc.model),
    script:
        "../scripts/train_model.py"


rule build_init:
    input:
        base_model_inputs,
    output:
        record="results/models/{model}/inits/{init}.json",
    log:
        "logs/build_init/{model}/{init}.log",
    benchmark:
        "benchmarks/runs/build_init/{model}/{init}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=model_mem,
        runtime=scaled(60),
        gpu=GPU,
    params:
        model=lambda wc: load_params(wc.model),
        init=config["init"],
        device=config["device"],
    script:
        "../scripts/build_init.py"
