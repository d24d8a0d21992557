# randsae: reproduce "Sparse Autoencoders Can Interpret Randomly Initialized Transformers"
# (arXiv 2501.17727) end to end. Default config: embedded offline run (minutes on a CPU).
#   snakemake --cores all                                  # default (config.yaml)
#   snakemake --cores all --configfile configs/smoke.yaml  # CI-sized
#   snakemake --configfile configs/paper.yaml --workflow-profile profiles/slurm
#   snakemake publish                                      # upload the run (publish.repo)
#   snakemake --configfile configs/reviewer.yaml           # regenerate a published run's figures
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.19")

# config.yaml is the default; a --configfile replaces it (each file in configs/ is complete), and
# --config key=value overrides on top.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


from randsae.configfile import canonical
from randsae.errors import ConfigError
from randsae.sections import check_config

# Snakemake's params trigger compares dicts with their key order: canonicalize the config so
# that reordering keys in a config file (or a YAML dump that sorts them) reruns nothing.
_canonical_config = canonical(dict(config))
config.clear()
config.update(_canonical_config)

# The config's schema (keys, types, ranges), then every section's checks: RUN holds the typed
# sections the rule files read (randsae.sections.RunConfig). Rules still pass plain slices of
# `config` as params (Snakemake's rerun triggers compare them); each script adapter turns its
# params into the stage's section objects.
try:
    RUN = check_config(config, os.path.join(workflow.basedir, "config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(f"invalid config: {err}")
# publish: where `snakemake publish` uploads; artifacts: the reviewer path (rules/publish.smk)
PUBLISH, ARTIFACTS = RUN.publish, RUN.artifacts


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/sae.smk"
include: "rules/evaluate.smk"
include: "rules/autointerp.smk"
include: "rules/toy_common.smk"
include: "rules/toy.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/publish.smk"


report: "report/workflow.rst"


onstart:
    # A judge's key is read from the environment only; without it the first explain job would
    # fail after hours of SAE training; the reviewer path (artifacts.from) downloads the scores
    # and calls no judge. Nor could the manifest be built at the end under a persistence backend
    # other than files. Checked before any job runs (not on a dry run).
    from randsae.secrets import judge_key_error

    _err = None if ARTIFACTS.reviewer else judge_key_error(RUN)
    _err = _err or manifest_persistence_error()
    if _err:
        raise WorkflowError(_err)


rule all:
    default_target: True
    input:
        all_targets(),
