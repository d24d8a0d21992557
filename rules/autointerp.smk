# Auto-interpretability: explanations and detection/fuzzing scores per cell.


rule explain:
    input:
        examples=rules.eval_sae.output.examples,
    output:
        explanations="results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl",
    log:
        "logs/explain/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/explain/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=autointerp_minutes,
    params:
        # what makes an explanation: the judge and its settings (the scoring-only keys rerun
        # score, never explain)
        backend=config["autointerp"]["backend"],
        lexical_top_tokens=config["autointerp"]["lexical_top_tokens"],
        highlight_threshold=config["autointerp"]["highlight_threshold"],
        anthropic=config["autointerp"].get("anthropic", {}),
        openai=config["autointerp"].get("openai", {}),
    script:
        "../scripts/explain.py"


rule score:
    input:
        examples=rules.eval_sae.output.examples,
        explanations=rules.explain.output.explanations,
    output:
        scores="results/autointerp/{model}/{init}/layer{layer}/scores.json",
        windows="results/autointerp/{model}/{init}/layer{layer}/predictions.jsonl",
    log:
        "logs/score/{model}/{init}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/score/{model}/{init}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(4000),
        runtime=autointerp_minutes,
    params:
        autointerp=autointerp_params(),
        seed=config["seed"],
    script:
        "../scripts/score.py"


rule latent_page:
    input:
        examples=lambda wc: expand(
            "results/examples/{model}/{init}/layer{layer}.json",
            init=INITS,
            allow_missing=True,
            **wc,
        ),
        explanations=lambda wc: expand(
            "results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl",
            init=INITS,
            **wc,
        ),
        windows=lambda wc: expand(str(rules.score.output.windows), init=INITS, **wc),
        code=code("randsae/autointerp/pages.py", "randsae/autointerp/measures.py"),
    output:
        html="results/pages/{model}/layer{layer}.html",
    log:
        "logs/latent_page/{model}/layer{layer}.log",
    benchmark:
        "benchmarks/runs/latent_page/{model}/layer{layer}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(10),
    params:
        inits=INITS,
    script:
        "../scripts/latent_page.py"
