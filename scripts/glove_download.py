"""Rule glove_download: fetch glove.6B.zip and verify (or record) its sha256."""

from randsae.toy.steps import setup_logging
from randsae.toy.words import download_glove


def main(smk) -> None:
    setup_logging(smk.log[0])
    glove = smk.params.glove
    download_glove(glove["url"], smk.output.zip, glove["sha256"], smk.output.checksum)


main(snakemake)  # noqa: F821
