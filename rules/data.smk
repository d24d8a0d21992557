# Corpus, tokenizer and token streams.


rule corpus:
    output:
        train="results/data/corpus/train.jsonl",
        val="results/data/corpus/val.jsonl",
        meta="results/data/corpus/meta.json",
    log:
        "logs/corpus.log",
    benchmark:
        "benchmarks/runs/corpus.tsv"
    priority: 100
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        data=config["data"],
        seed=config["seed"],
    script:
        "../scripts/corpus.py"


rule tokenizer:
    input:
        train=rules.corpus.output.train,
    output:
        tokenizer="results/data/tokenizer/tokenizer.json",
    log:
        "logs/tokenizer.log",
    benchmark:
        "benchmarks/runs/tokenizer.tsv"
    priority: 100
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    script:
        "../scripts/tokenizer.py"


rule tokenize_corpus:
    input:
        unpack(tokenize_inputs),
    output:
        train="results/data/tokens/{model}/train.npy",
        val="results/data/tokens/{model}/val.npy",
    log:
        "logs/tokenize_corpus/{model}.log",
    benchmark:
        "benchmarks/runs/tokenize_corpus/{model}.tsv"
    priority: 100
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=scaled(240),
    params:
        tokenizer=tokenizer_path,
        data=config["data"],
    script:
        "../scripts/tokenize_corpus.py"
