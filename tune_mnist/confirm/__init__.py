"""The confirmation stage: the rule that decides which configs need more seeds, the searcher that
runs screening then confirmation rounds (its log on disk is ``tune_mnist.experiment.rebuild``'s), and its summary.

May import: core, model, training (the pack planner), experiment, strategies.
"""
