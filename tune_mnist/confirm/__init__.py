"""The confirmation stage: the rule that decides which configs need more seeds, the searcher that
runs screening then confirmation rounds, its log on disk, and its summary.

May import: core, model, training (the pack planner), experiment, strategies.
"""
