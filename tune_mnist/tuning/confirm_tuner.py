"""The Tuner of a search with a confirmation stage (``--confirm K``, K > 1): the screening trials and
then the confirmation rounds, both proposed by one ``ConfirmingSearcher`` (see
``tune_mnist.confirm.searcher`` for why one searcher rather than a second Tuner).

``--confirm 1`` never comes here: ``tune_mnist.tuning.tuner`` builds today's Tuners unchanged."""

from __future__ import annotations

from typing import Any

from search_spaces import Space
from tune_mnist.core.options import SearchOptions
from tune_mnist.strategies.budget import sample_limit
from tune_mnist.tuning.trials import AUTO_PACK_CPU, pack_size, run_constants
from tune_mnist.tuning.tune_config import packed_searcher, scheduler_of, space_options, tune_config

#: Tune's "no limit" on trials: the searcher says when it has finished.
UNLIMITED = -1


def confirming_tuner(
    options: SearchOptions,
    trainable: Any,
    run_config: Any,
    points: list[dict[str, Any]] | None,
    space: Space,
    storage: str,
    packed: bool,
) -> Any:
    """A Tuner over the screening ``points`` (a list space) or the space's adaptive searcher (``points``
    None), followed by the confirmation rounds, with no fixed number of trials."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from tune_mnist.confirm.searcher import ConfirmingSearcher, Stage

    cost = options.pack_cost if points is not None else None  # --pack auto on CPU
    stage = Stage(
        k=options.confirm,
        bar=options.min_accuracy,
        pack=(AUTO_PACK_CPU if cost is not None else pack_size(options)) if points is not None else 1,
        packed=packed,
        constants=run_constants(options),
        experiment=f"{storage.rstrip('/')}/{options.name}",
        cost=cost,
        n_train=options.n_train,
    )
    param_space = run_constants(options)
    if points is None:
        assert space.searcher is not None
        adaptive = space.searcher(space_options(options, storage))
        # Under --time-budget the proposals are unlimited (negative): the budget ends the screening.
        # Packs of proposals, each over the K seeds confirmation needs (tune_mnist.strategies.pack_searcher).
        inner, samples = packed_searcher(
            options, adaptive.make_search_alg(), sample_limit(options, adaptive.num_samples)
        )
        searcher = ConfirmingSearcher(stage, inner=inner, num_samples=samples)
        param_space = {**adaptive.param_space, **param_space}
    else:
        searcher = ConfirmingSearcher(stage, screening=points)
    if options.resume:  # the stage as the experiment directory left it: finished seeds, rounds, closed screening
        searcher.resume()
    search_alg: Any = searcher
    if options.max_concurrent:
        search_alg = ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune_config(search_alg, UNLIMITED, scheduler_of(options)),
        run_config=run_config,
    )
