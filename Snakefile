# randsae: reproduce "Sparse Autoencoders Can Interpret Randomly Initialized Transformers"
# (arXiv 2501.17727) end to end. Default config: embedded offline run (minutes on a CPU).
#   snakemake --cores all                                  # default (config.yaml)
#   snakemake --cores all --configfile configs/smoke.yaml  # CI-sized
#   snakemake --configfile configs/paper.yaml --workflow-profile profiles/slurm
#   snakemake publish                                      # upload the run (publish.repo)
#   snakemake --configfile configs/reviewer.yaml           # regenerate a published run's figures
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

# config.yaml is the default; a --configfile replaces it (each file in configs/ is complete), and
# --config key=value overrides on top.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, "config.schema.yaml")

from randsae.configfile import canonical
from randsae.errors import ConfigError
from randsae.publish.settings import check_sections
from randsae.sections import check_config

# Snakemake's params trigger compares dicts with their key order: canonicalize the config so
# that reordering keys in a config file (or a YAML dump that sorts them) reruns nothing.
_canonical_config = canonical(dict(config))
config.clear()
config.update(_canonical_config)

try:
    check_config(config)
    # publish: where `snakemake publish` uploads; artifacts: the reviewer path (rules/publish.smk)
    PUBLISH, ARTIFACTS = check_sections(config)
except ConfigError as err:
    raise WorkflowError(f"invalid config: {err}")


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
    # fail after hours of SAE training. Checked before any job runs (not on a dry run). The
    # reviewer path (artifacts.from) downloads the scores and calls no judge.
    from randsae.secrets import judge_key_error

    _err = None if ARTIFACTS.reviewer else judge_key_error(config)
    if _err:
        raise WorkflowError(_err)


rule all:
    default_target: True
    input:
        all_targets(),
