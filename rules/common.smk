# Shared helpers: grid expansion, wildcard constraints, per-rule config slices.
import re

from randsae.config import cells, parse_init, sae_config, stable_seed
from randsae.report.steps import FIGURE_METRICS, figure_targets
from randsae.sae.steps import layer_groups

MODELS = list(config["models"])
INITS = list(config["inits"])
CELLS = cells(config)
# An init-scale/distribution sweep (configs/init-sweep.yaml) adds the init_sweep figure.
INIT_SWEEP = any("-" in init for init in INITS)
# Every figure: the configured formats plus the CSV of exactly the data it plots.
FIG_EXT = [*config["figures"]["formats"], "csv"]
SCORERS = config["autointerp"]["scorers"]
ROC_SCORERS = [s for s in SCORERS if s in ("detection", "fuzzing")]


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


def model_cfg(wildcards):
    return config["models"][wildcards.model]


def is_embedded(model):
    return config["models"][model]["source"] == "embedded"


def cell_files(pattern):
    return [pattern.format(model=m, init=i, layer=l) for m, i, l in CELLS]


def init_files():
    return [f"results/models/{m}/inits/{i}.json" for m in MODELS for i in INITS]


def lm_figure_targets():
    """Every LM figure file (rules plot_* in rules/report.smk)."""
    return figure_targets(
        "results/figures",
        config["autointerp"]["scorers"],
        config["figures"]["formats"],
        INIT_SWEEP,
        MODELS,
    )


def variant_slice():
    """What the figures need to know of each model: its SAE variant settings."""
    return {
        m: {k: mcfg[k] for k in ("variant_of", "sae") if k in mcfg}
        for m, mcfg in config["models"].items()
    }


def all_targets():
    targets = [
        "results/tables/sae_metrics.csv",
        "results/tables/autointerp.csv",
        "results/tables/abstractness.csv",
        "results/tables/latents.csv",
        "results/tables/roc_curves.csv",
        "results/tables/compute.csv",
        "results/tables/app_j_examples.csv",
        "results/tables/app_j_examples.md",
        "results/tables/app_j_examples.html",
        *lm_figure_targets(),
        *cell_files("results/saes/{model}/{init}/layer{layer}/cfg.json"),
        *[
            f"results/pages/{m}/layer{l}.html"
            for m in MODELS
            for l in config["models"][m]["layers"]
        ],
        "results/manifest.tsv",
    ]
    if config["toy"]["enabled"]:
        targets += toy_targets(config)
    return targets


LOAD_KEYS = ("source", "hf_name", "dtype", "arch")


def load_slice(model):
    """The config a (model, init) is rebuilt from (randsae.models.inits.load_model).

    Layers and training settings are left out on purpose: adding a layer must not rebuild models,
    and training settings reach downstream rules through the trained weights (an input).
    """
    mcfg = config["models"][model]
    return {
        "models": {
            model: {k: mcfg[k] for k in LOAD_KEYS if k in mcfg} | {"layers": [0]}
        },
        "init": config["init"],
    }


def base_model_inputs(wildcards):
    """Saved weights an init is built from (embedded models only; Pythia loads from the hub)."""
    if not is_embedded(wildcards.model):
        return []
    base = (
        "step0"
        if parse_init(wildcards.init, config["init"]).base == "step0"
        else "trained"
    )
    return [f"results/models/{wildcards.model}/{base}/model.safetensors"]


SAE_FILES = {
    "cfg": "results/saes/{model}/{init}/layer{layer}/cfg.json",
    "weights": "results/saes/{model}/{init}/layer{layer}/sae_weights.safetensors",
    "curve": "results/saes/{model}/{init}/layer{layer}/training_curve.csv",
}


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


def group_size(model):
    """Stream mode: layers per job (per-model override of sae.layer_group_size)."""
    return config["models"][model].get(
        "layer_group_size", config["sae"]["layer_group_size"]
    )


def group_layers(wildcards):
    groups = layer_groups(
        config["models"][wildcards.model]["layers"], group_size(wildcards.model)
    )
    return groups[int(wildcards.group)]


def group_of_layer(wildcards):
    groups = layer_groups(
        config["models"][wildcards.model]["layers"], group_size(wildcards.model)
    )
    g = next(i for i, grp in enumerate(groups) if int(wildcards.layer) in grp)
    return f"results/sae_groups/{wildcards.model}/{wildcards.init}/group{g}"
