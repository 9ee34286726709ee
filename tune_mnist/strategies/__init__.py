"""How a search spends its trials: early stopping and the trial schedulers, the time budget and the
screening deadline, sample limits, the adaptive spaces' study searcher (and its cost-aware kind).

May import: core, data, model, training, experiment (the budget's file).
"""
