"""How a search spends its trials: early stopping and the trial schedulers, the time budget and the
screening deadline, sample limits, the cost-aware searcher and the searcher state it saves.

May import: core, data, model, training, experiment (the budget's file).
"""
