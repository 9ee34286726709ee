"""The Pareto analysis of finished experiments: ``python -m analysis.pareto [EXPERIMENT]``.

Data flows one way: this package reads what ``tune_mnist.search`` wrote to disk and uses only
tune_mnist's config, metric names, model, saved-model format and measurements; it never imports the
search, the trainable or Ray.

- ``load``: an experiment directory or URI -> trials with their status and per-epoch rows
- ``aggregate``: one row per trial at an epoch -> one row per config, seeds grouped
- ``front``: the accuracy bar, the Pareto front (moocore), the hypervolume
- ``remeasure``: latency of the front's models timed again alone, the front recomputed
- ``export``: front models as state_dict + config.json
- ``plots``, ``report``: PNGs, tables, report.md and the printed text
- ``pareto``: the command line"""
