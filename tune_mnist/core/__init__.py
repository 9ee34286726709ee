"""The vocabulary every stage shares: a trial's config and its labels, the metric and objective
names, the one error type, and the on-disk layout's file names.

Imports nothing else of tune_mnist (the bottom of the flow).
"""
