# Publishing a finished run to the Hugging Face Hub, the reviewer path that rebuilds a published
# run's tables and figures from there, and the Neuronpedia export (randsae/publish/,
# docs/publish.md).
import time


localrules:
    publish,
    neuronpedia_export,


# `snakemake publish` (a target, never part of the default run) uploads the run to publish.repo
# at publish.revision. It has no inputs on purpose: asking for it must never start training; the
# stage checks that the run is complete and clean and stops with a message when it is not. The
# log and benchmark are named by the invocation's time, so every `snakemake publish` runs (the
# upload is idempotent) and keeps its own log.
PUBLISH_STAMP = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"


rule publish:
    log:
        f"logs/publish/{PUBLISH_STAMP}.log",
    benchmark:
        f"benchmarks/runs/publish/{PUBLISH_STAMP}.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(1440),
    params:
        config=dict(config),
        manifest="results/manifest.tsv",
        expected=manifest_artifacts(),
    script:
        "../scripts/publish.py"


# Neuronpedia upload payloads of every cell's latents (documented format: docs/publish.md).
rule neuronpedia_export:
    input:
        examples=cell_files("results/examples/{model}/{init}/layer{layer}.json"),
        explanations=cell_files(
            "results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl"
        ),
        latents=cell_files("results/metrics/{model}/{init}/layer{layer}_latents.csv"),
        metrics=cell_files("results/metrics/{model}/{init}/layer{layer}.json"),
        code=code("randsae/publish/neuronpedia.py"),
    output:
        export=directory("results/neuronpedia"),
    log:
        "logs/neuronpedia_export.log",
    benchmark:
        "benchmarks/runs/neuronpedia_export.tsv"
    conda:
        "../envs/workflow.yaml"
    threads: 1
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(60),
    params:
        cells=CELLS,
        models=config["models"],
        examples=config["examples"],
        autointerp=config["autointerp"],
        repo_url=PUBLISH.repo and f"https://huggingface.co/{PUBLISH.repo}",
    script:
        "../scripts/neuronpedia_export.py"


# The reviewer path: artifacts.from = hub:<repo>@<revision> replaces every training and
# evaluation job by downloads of the published results, each checked against the published
# manifest's sha256; the report rules then rebuild the tables, claims, figures and pages on a
# CPU. The downloads run on the submitting host (compute nodes often have no network).
if REVIEWER:
    # What the downloads replace: the results the report stages read, and Table 1 (the compute
    # the published run used; this machine's compute would not be that table).
    FETCHED = sorted(set(run_results()) | {"results/tables/compute.csv"})

    localrules:
        fetch_artifacts,
        fetch_sae,

    ruleorder: fetch_artifacts > init_model
    ruleorder: fetch_artifacts > train_model
    ruleorder: fetch_artifacts > build_init
    ruleorder: fetch_artifacts > eval_sae
    ruleorder: fetch_artifacts > explain
    ruleorder: fetch_artifacts > score
    ruleorder: fetch_artifacts > compute_table
    ruleorder: fetch_artifacts > toy_sweep

    if config["activations"]["source"] == "cache":

        ruleorder: fetch_sae > train_sae

    else:

        ruleorder: fetch_sae > link_sae

    rule fetch_artifacts:
        output:
            FETCHED,
        log:
            "logs/fetch_artifacts.log",
        benchmark:
            "benchmarks/runs/fetch_artifacts.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: 1
        resources:
            mem_mb=scaled(2000),
            runtime=scaled(240),
        params:
            source=ARTIFACTS.source,
            config=dict(config),
        script:
            "../scripts/fetch_artifacts.py"

    # One published SAE (cfg.json + weights), for the cells the spot check re-evaluates.
    rule fetch_sae:
        output:
            cfg=SAE_FILES["cfg"],
            weights=SAE_FILES["weights"],
        log:
            "logs/fetch_sae/{model}/{init}/layer{layer}.log",
        benchmark:
            "benchmarks/runs/fetch_sae/{model}/{init}/layer{layer}.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: 1
        resources:
            mem_mb=scaled(2000),
            runtime=scaled(120),
        params:
            source=ARTIFACTS.source,
        script:
            "../scripts/fetch_sae.py"

    # Spot check: the cell's eval_sae metrics again, from the downloaded SAE (needs the model:
    # Pythia from the Hub, an embedded model from its published weights; the held-out tokens
    # come from the data rules).
    rule recompute_cell:
        input:
            base_model_inputs,
            sae=SAE_FILES["weights"],
            init="results/models/{model}/inits/{init}.json",
            tokens="results/data/tokens/{model}/val.npy",
        output:
            metrics="results/recompute/{model}/{init}/layer{layer}.json",
            latents="results/recompute/{model}/{init}/layer{layer}_latents.csv",
        log:
            "logs/recompute_cell/{model}/{init}/layer{layer}.log",
        benchmark:
            "benchmarks/runs/recompute_cell/{model}/{init}/layer{layer}.tsv"
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
            device=config["device"],
        script:
            "../scripts/recompute_cell.py"

    rule recompute_table:
        input:
            published=[
                f"results/metrics/{m}/{i}/layer{l}.json" for m, i, l in RECOMPUTE
            ],
            recomputed=[
                f"results/recompute/{m}/{i}/layer{l}.json" for m, i, l in RECOMPUTE
            ],
            code=code("randsae/publish/spotcheck.py"),
        output:
            table=report(
                "results/tables/recompute.csv",
                caption="../report/tables/recompute.rst",
                category="Tables",
                labels={"table": "recompute"},
            ),
        log:
            "logs/recompute_table.log",
        benchmark:
            "benchmarks/runs/recompute_table.tsv"
        conda:
            "../envs/workflow.yaml"
        threads: 1
        resources:
            mem_mb=scaled(1000),
            runtime=scaled(10),
        params:
            cells=RECOMPUTE,
            rtol=ARTIFACTS.rtol,
            atol=ARTIFACTS.atol,
            source=ARTIFACTS.source,
        script:
            "../scripts/recompute_table.py"
