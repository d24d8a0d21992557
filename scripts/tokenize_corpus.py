"""Rule tokenize_corpus: token streams of one model's tokenizer."""

from pathlib import Path

from randsae.data import steps
from randsae.runner import run


def main(smk):
    tok = smk.input.get("tokenizer")
    run(
        steps.tokenize,
        smk,
        model_cfg=smk.params.model,
        data=smk.params.data,
        corpus_train=smk.input.train,
        corpus_val=smk.input.val,
        tokenizer_dir=str(Path(tok).parent) if tok else None,
        out_train=smk.output.train,
        out_val=smk.output.val,
        max_train_tokens=smk.params.max_train_tokens,
    )


main(snakemake)  # noqa: F821
