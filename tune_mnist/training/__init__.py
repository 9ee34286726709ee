"""Training in this process: the one-config loop (``loop``), the per-epoch result row (``rows``),
the single-run command's body (``single_run``), and the packed engine that trains K configs as one
(``packed/``).

May import: core, data, model. Never Ray.
"""
