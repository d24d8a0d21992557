#!/usr/bin/env bash
# Runs inside the freshly created conda env (snakemake --use-conda): make the randsae package
# importable there. Snakemake runs this from the working directory, i.e. the repository root.
set -euo pipefail
pip install --no-deps -e "${SNAKEMAKE_WORKFLOW_ROOT:-.}"
