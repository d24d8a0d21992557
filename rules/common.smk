# Shared helpers: grid expansion, wildcard constraints, per-rule config slices.
#
# RUN (the Snakefile's randsae.sections.RunConfig) answers questions about the config; params are
# plain slices of `config` (canonical dicts and lists), so that Snakemake's params trigger reruns
# exactly the jobs whose slice changed. The scripts build their sections from these slices.
import re

from randsae.autointerp.measures import ROC_SCORERS as ROC_SCORER_NAMES
from randsae.figures.captions import figure_report_args
from randsae.figures.targets import FIGURE_METRICS, figure_targets
from randsae.models.inits import parse_init
from randsae.publish.settings import run_config
from randsae.resources import eval_mem_mb, model_mem_mb, sae_mem_mb
from randsae.sae.steps import layer_groups
from randsae.sections import SAEConfig, sae_config
from randsae.sections.base import key_fields
from randsae.sections.models import ModelSource
from randsae.seeds import stable_seed
from randsae.tables.manifest import config_source, persistence_error

MODELS = list(RUN.models)
INITS = list(RUN.inits)
CELLS = RUN.cells()
# An init-scale/distribution sweep (configs/init-sweep.yaml) adds the init_sweep figure.
INIT_SWEEP = any("-" in init for init in INITS)
# Every figure: the configured formats plus the CSV of exactly the data it plots.
FIG_EXT = [*config["figures"]["formats"], "csv"]
SCORERS = config["autointerp"]["scorers"]
ROC_SCORERS = [s for s in SCORERS if s in ROC_SCORER_NAMES]
# Report captions (report/) and the config every table and figure names (params.config_source):
# the digest of the canonical document (RUN.document(), what `snakemake publish` uploads as
# config.yaml), less publish/artifacts (where results go or come from, not what they are).
REPORT_DIR = os.path.join(workflow.basedir, "report")
CONFIG_SOURCE = config_source(
    run_config(RUN.document()), workflow.overwrite_configfiles
)
# The reviewer path (artifacts.from, rules/publish.smk): downloads of a published run replace
# the training and evaluation jobs; RECOMPUTE lists the cells it re-evaluates as a spot check.
REVIEWER = ARTIFACTS.reviewer
RECOMPUTE = [c.key for c in ARTIFACTS.recompute]


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    init="|".join(map(re.escape, INITS)),
    layer=r"\d+",
    group=r"\d+",


localrules:
    all,
    tables,
    figures,
    latent_table,
    compute_table,
    app_j_examples,
    plot_sae_metrics,
    plot_density_histograms,
    plot_abstractness,
    plot_autointerp_auroc,
    plot_init_sweep,
    plot_roc_curves,
    plot_fig2_grid,
    plot_entropy_vs_auroc,
    latent_page,


def code(*paths):
    """Package modules a cheap rule depends on (edits rerun it)."""
    return [os.path.join(workflow.basedir, p) for p in paths]


def is_embedded(model):
    return config["models"][model]["source"] == "embedded"


def cell_files(pattern):
    return [pattern.format(model=m, init=i, layer=l) for m, i, l in CELLS]


def sae_params(model):
    """One model's sae section (variant overrides applied) as its training rules' params:
    what changes the SAE (SAEConfig.rule_params)."""
    return SAEConfig.rule_params(sae_config(config, model), device=config["device"])


def init_files():
    return [f"results/models/{m}/inits/{i}.json" for m in MODELS for i in INITS]


def lm_figure_targets():
    """Every LM figure file (rules plot_* in rules/figures.smk)."""
    return figure_targets(
        "results/figures",
        config["autointerp"]["scorers"],
        config["figures"]["formats"],
        INIT_SWEEP,
        MODELS,
    )


def all_targets():
    targets = [
        "results/tables/sae_metrics.csv",
        "results/tables/autointerp.csv",
        "results/tables/abstractness.csv",
        "results/tables/claims.csv",
        "results/tables/distinguishability.csv",
        "results/tables/latents.csv",
        "results/tables/roc_curves.csv",
        "results/tables/compute.csv",
        "results/tables/app_j_examples.csv",
        "results/tables/app_j_examples.md",
        "results/tables/app_j_examples.html",
        *lm_figure_targets(),
        *sae_targets(),
        *[
            f"results/pages/{m}/layer{l}.html"
            for m in MODELS
            for l in config["models"][m]["layers"]
        ],
        "results/manifest.tsv",
    ]
    if RUN.toy.enabled:
        targets += toy_targets(RUN)
    if RECOMPUTE:
        targets.append("results/tables/recompute.csv")
    return targets


def sae_targets():
    """The SAEs of the run: every cell's; on the reviewer path only the cells it re-evaluates
    (the others stay on the Hub)."""
    chosen = RECOMPUTE if REVIEWER else CELLS
    return [f"results/saes/{m}/{i}/layer{l}/cfg.json" for m, i, l in chosen]


# Every per-cell result behind the tables, figures, claims and pages: in the manifest, published
# by `snakemake publish` and downloaded by the reviewer path.
CELL_RESULTS = (
    "results/metrics/{model}/{init}/layer{layer}.json",
    "results/metrics/{model}/{init}/layer{layer}_latents.csv",
    "results/examples/{model}/{init}/layer{layer}.json",
    "results/autointerp/{model}/{init}/layer{layer}/explanations.jsonl",
    "results/autointerp/{model}/{init}/layer{layer}/scores.json",
    "results/autointerp/{model}/{init}/layer{layer}/predictions.jsonl",
)


def run_results():
    """The results the report stages read that training and evaluation make: per-cell results,
    the build_init records, the embedded models' weights (to rebuild a cell for a spot check)
    and the toy sweeps."""
    files = init_files()
    for pattern in CELL_RESULTS:
        files += cell_files(pattern)
    for m in MODELS:
        if is_embedded(m):
            files += [
                f"results/models/{m}/{stage}/{name}"
                for stage in ("step0", "trained")
                for name in ("model.safetensors", "config.json")
            ]
    if RUN.toy.enabled:
        files += [
            f"results/toy/sweep/{ds}/n{n}.csv"
            for ds in toy_datasets(RUN.toy)
            for n in dictionary_sizes(RUN.toy, ds, RUN.models)
        ]
    return files


def manifest_artifacts():
    """What results/manifest.tsv lists: the default targets, every result behind them and the
    SAEs (weights included)."""
    saes = sae_targets()
    files = set(all_targets()) | set(run_results()) | set(saes)
    files |= {p.replace("cfg.json", "sae_weights.safetensors") for p in saes}
    return sorted(files - {"results/manifest.tsv"})


# What a (model, init) is rebuilt from (randsae.models.inits.load_model): ModelSource's keys.
LOAD_KEYS = tuple(f.name for f in key_fields(ModelSource))


def load_params(model):
    """The slice of models.<model> a (model, init) is rebuilt from (a ModelSource).

    Layers and training settings are left out on purpose: adding a layer must not rebuild models,
    and training settings reach downstream rules through the trained weights (an input).
    """
    mcfg = config["models"][model]
    return {k: mcfg[k] for k in LOAD_KEYS if k in mcfg}


def base_model_inputs(wildcards):
    """Saved weights an init is built from (embedded models only; Pythia loads from the hub)."""
    if not is_embedded(wildcards.model):
        return []
    base = (
        "step0" if parse_init(wildcards.init, RUN.init).base == "step0" else "trained"
    )
    return [f"results/models/{wildcards.model}/{base}/model.safetensors"]


SAE_FILES = {
    "cfg": "results/saes/{model}/{init}/layer{layer}/cfg.json",
    "weights": "results/saes/{model}/{init}/layer{layer}/sae_weights.safetensors",
    "curve": "results/saes/{model}/{init}/layer{layer}/training_curve.csv",
}


# Threads of the rules that run the model. On a GPU, host threads feed it and SLURM grants
# --cpus-per-task = threads (profiles/slurm sets no cpus_per_task); on CPU one thread per job lets
# the 2-core default run jobs side by side. Profiles may scale them (--set-threads).
MODEL_THREADS = 1 if config["device"] == "cpu" else 4


# Resources every rule declares (mem_mb in MB, runtime in minutes, gpu where it applies), sized
# from the config and scaled by `attempt`: profiles only add site settings and `retries`, and a
# job SLURM kills for memory or time is resubmitted with attempt + 1 and asks for more.
GPU = 0 if config["device"] == "cpu" else 1
VOCAB = config["tokenizer"]["vocab_size"]


def scaled(base):
    """``base * attempt`` (MB or minutes)."""
    return lambda wildcards, attempt: base * attempt


def model_mem(wildcards, attempt):
    return model_mem_mb(RUN.models[wildcards.model], VOCAB, attempt)


def sae_mem(wildcards, attempt):
    m = wildcards.model
    return sae_mem_mb(RUN.models[m], RUN.sae_for(m), GPU > 0, attempt)


def eval_mem(wildcards, attempt):
    m = wildcards.model
    return eval_mem_mb(
        RUN.models[m],
        VOCAB,
        RUN.sae_for(m),
        RUN.eval.batch_size,
        RUN.activations.context_size,
        attempt,
    )


def autointerp_minutes(wildcards, attempt):
    """The Anthropic backend waits on Message Batches (batch_timeout_s, up to 25 h)."""
    if config["autointerp"]["backend"] == "anthropic":
        return 1500 * attempt
    return 30 * attempt


def autointerp_params():
    """The autointerp slice; the API key is never part of it (read from the environment)."""
    return config["autointerp"]


def tokenize_inputs(wildcards):
    inputs = {"train": rules.corpus.output.train, "val": rules.corpus.output.val}
    if is_embedded(wildcards.model):
        inputs["tokenizer"] = rules.tokenizer.output.tokenizer
    return inputs


def tokenizer_path(wildcards):
    if is_embedded(wildcards.model):
        return "results/data/tokenizer"
    return config["models"][wildcards.model]["hf_name"]


# The evaluation of one cell: its settings (params of rules eval_key and eval_group, the same
# slices, so that a settings change reruns both) and its (model, init)'s store (rules/evaluate.smk).
EVAL_PARAMS = {
    "model": lambda wc: load_params(wc.model),
    "init": config["init"],
    "eval": config["eval"],
    "context_size": config["activations"]["context_size"],
    "examples": config["examples"],
    "seed": config["seed"],
    "tokenizer": tokenizer_path,
    "device": config["device"],
}
EVAL_STORE = "results/eval_store/{model}/{init}"


def layer_files(wildcards, pattern):
    """``pattern`` for every layer of one (model, init), in layer order."""
    return [
        pattern.format(model=wildcards.model, init=wildcards.init, layer=l)
        for l in RUN.models[wildcards.model].layers
    ]


def group_size(model):
    """Stream mode: layers per job (per-model override of sae.layer_group_size)."""
    return RUN.layer_group_size(model)


def group_layers(wildcards):
    groups = layer_groups(
        RUN.models[wildcards.model].layers, group_size(wildcards.model)
    )
    return groups[int(wildcards.group)]


def group_of_layer(wildcards):
    groups = layer_groups(
        RUN.models[wildcards.model].layers, group_size(wildcards.model)
    )
    g = next(i for i, grp in enumerate(groups) if int(wildcards.layer) in grp)
    return f"results/sae_groups/{wildcards.model}/{wildcards.init}/group{g}"


LATENTS_TABLE = "results/tables/latents.csv"


def latents_table(wildcards):
    """The per-latent table when a rule of this workflow writes it; without it the claims use
    the pooled AUROCs and leave the entropy claims untestable (randsae/tables/claims.py).
    """
    made = any(LATENTS_TABLE in map(str, r.output) for r in workflow.rules)
    return [LATENTS_TABLE] if made else []


def score_windows(wildcards):
    """The score rule's per-window rows of every cell, from which the claims take each cell's
    pooled AUROC (with the per-latent table; without it, the autointerp table's pooled AUROC).
    """
    if not latents_table(wildcards):
        return []
    return cell_files(str(rules.score.output.windows))


def toy_sweep_tables(wildcards):
    """Per-seed toy sweep rows of every toy dataset (claim 8); none when the toy part is off.

    toy_datasets comes from rules/toy_common.smk (included later; resolved when the DAG is
    built)."""
    if not RUN.toy.enabled:
        return []
    return [f"results/toy/summary/{ds}.csv" for ds in toy_datasets(RUN.toy)]


def persistence_backend():
    """This run's --persistence-backend ("file", the default, before Snakemake had others)."""
    backend = getattr(
        getattr(workflow, "workflow_settings", None), "persistence_backend", None
    )
    return "file" if backend is None else str(backend)


def manifest_persistence_error():
    """The error to stop a run with before any job: the manifest is a target (the default one
    included) and the persistence backend does not write the metadata it reads."""
    targets = set(getattr(workflow.dag_settings, "targets", ()) or ())
    wanted = not targets or bool(targets & {"all", "manifest", "results/manifest.tsv"})
    return persistence_error(persistence_backend()) if wanted else None
