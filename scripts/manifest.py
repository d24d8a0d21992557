"""Snakemake adapter for rule `manifest` (rules/provenance.smk). Logic lives in randsae.report.manifest."""

import logging

from randsae.provenance import git_commit, package_versions
from randsae.report.manifest import (
    manifest_rows,
    read_snakemake_metadata,
    slurm_job_ids,
    write_manifest,
)


def main(smk) -> None:
    logging.basicConfig(
        filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    rows = manifest_rows(
        list(smk.input.artifacts),
        read_snakemake_metadata(".snakemake/metadata"),
        dict(smk.params.patterns),
        git=git_commit(),
        packages=package_versions(),
        slurm_jobs=slurm_job_ids(".snakemake/slurm_logs"),
    )
    write_manifest(rows, smk.output.manifest)
    unknown = [r["path"] for r in rows if r["rule"] == "unknown"]
    logging.info(
        "manifest: %d artifacts, %d without Snakemake metadata %s",
        len(rows),
        len(unknown),
        unknown[:5],
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's script preamble
