"""Toy models of superposition through random networks (the paper's Section 4).

Modules: ``data`` (Sharkey-style synthetic data, Gaussian control, Lomax 2-D toy, seeds),
``ffn`` (the untrained d -> 4d -> d ReLU network), ``sae`` (a stack of L1 ReLU SAEs trained
in one vectorised pass), ``train`` (the L1-coefficient sweep), ``metrics``, ``words`` (word
vectors: in-DAG word2vec substitute or GloVe 6B), ``illustration`` (the 2-D figure data),
``plotting`` and ``config`` (checks on the ``toy:`` config section).
"""

ARMS = ("plain", "ffn", "gaussian", "gaussian_ffn")
METRICS = ("mse", "fvu", "l0", "l1", "l2", "l1_over_sqrt_l2", "hoyer", "mmcs", "mmcs_baseline")
