"""randsae: reproduce "Sparse Autoencoders Can Interpret Randomly Initialized Transformers".

All workflow logic lives here; the Snakemake rules call thin adapters in ``scripts/``.
This package never imports snakemake.
"""

__version__ = "0.1.0"
