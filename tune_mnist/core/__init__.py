"""The vocabulary every stage shares: a trial's config, its key and its labels, the metric table and
the objectives, Pareto dominance, a result file's rows, the one error type, the on-disk layout's file
names, and a search's options (``SearchOptions``, typed and frozen: what every stage below the CLI is
given).

Imports nothing else of tune_mnist (the bottom of the flow).
"""
