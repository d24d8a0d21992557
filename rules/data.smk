# Corpus, tokenizer and token streams.


rule corpus:
    priority: 100
    output:
        train="results/data/corpus/train.jsonl",
        val="results/data/corpus/val.jsonl",
        meta="results/data/corpus/meta.json",
    params:
        data=config["data"],
        seed=config["seed"],
    log:
        "logs/corpus.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/corpus.py"


rule tokenizer:
    priority: 100
    input:
        train=rules.corpus.output.train,
    output:
        tokenizer="results/data/tokenizer/tokenizer.json",
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    log:
        "logs/tokenizer.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/tokenizer.py"


rule tokenize_corpus:
    priority: 100
    input:
        unpack(tokenize_inputs),
    output:
        train="results/data/tokens/{model}/train.npy",
        val="results/data/tokens/{model}/val.npy",
    params:
        model=lambda wc: {k: v for k, v in model_cfg(wc).items() if k in ("source", "hf_name")},
        data=config["data"],
        max_train_tokens=lambda wc: config["data"].get("hf_dataset", {}).get("max_train_tokens")
        if config["data"]["source"] == "hf_dataset"
        else None,
    log:
        "logs/tokenize_corpus/{model}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/tokenize_corpus.py"
