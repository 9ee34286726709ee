"""The vocabulary every stage shares: a trial's config and its labels, the metric and objective
names, the one error type, the on-disk layout's file names, and a search's options (``SearchOptions``,
typed and frozen: what every stage below the CLI is given).

Imports nothing else of tune_mnist (the bottom of the flow).
"""
