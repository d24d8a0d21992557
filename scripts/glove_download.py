"""Rule glove_download: fetch glove.6B.zip and verify (or record) its sha256."""

from randsae.runner import run
from randsae.toy import words


def main(smk):
    run(
        words.download_glove,
        smk,
        url=smk.params.glove["url"],
        out_path=smk.output.zip,
        sha256=smk.params.glove["sha256"],
        record_path=smk.output.checksum,
    )


main(snakemake)  # noqa: F821
