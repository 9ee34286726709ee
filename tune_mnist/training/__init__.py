"""Training in this process: the one-config loop (``loop``), the per-epoch result row (``rows``), and
the packed engine that trains K configs as one (``packed/``).

May import: core, data, model. Never Ray.
"""
