# Auto-interpretability: explanations and detection/fuzzing scores per cell.


def autointerp_params():
    """The autointerp slice; the API key is never part of it (read from the environment)."""
    return config["autointerp"]


rule explain:
    input:
        examples=rules.latent_examples.output.examples,
    output:
        explanations="results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl",
    params:
        autointerp=autointerp_params(),
    log:
        "logs/explain/{model}/{init}/layer{layer}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/explain.py"


rule score:
    input:
        examples=rules.latent_examples.output.examples,
        explanations=rules.explain.output.explanations,
    output:
        scores="results/autointerp/{model}/{init}/layer{layer}/scores.json",
        windows="results/autointerp/{model}/{init}/layer{layer}/predictions.jsonl",
    params:
        autointerp=autointerp_params(),
        seed=config["seed"],
    log:
        "logs/score/{model}/{init}/layer{layer}.log",
    conda:
        "../envs/workflow.yaml"
    script:
        "../scripts/score.py"
