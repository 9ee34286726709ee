"""The search summary's picks on seed means, with the seeds behind each number, and the confirmation
stage's own wall time.

Why: a pick on one seed near the bar is often a lucky seed. The summary groups a config's seeds (as
the analysis does), says how many back each pick, marks a pick with fewer than the experiment's
``--confirm`` K seeds unconfirmed, and where confirmation changed a pick shows the screening pick
(each config's first seed alone) beside the confirmed one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tune_mnist.confirm.rule import Seeds
from tune_mnist.core import metrics
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig, config_key, pack_members
from tune_mnist.core.labels import DISTINGUISHING, distinct_labels
from tune_mnist.core.metrics import finite
from tune_mnist.core.objectives import SELECTION_METRIC
from tune_mnist.experiment.rebuild import read_log


@dataclass
class Group(Seeds):
    """One config's finished seeds, as the summary names the config."""

    label: str = ""
    key: str = ""

    def first(self) -> Group:
        """The screening result: the config's first seed alone."""
        seed = min(self.rows)
        return Group({seed: self.rows[seed]}, self.label, self.key)

    def per_seed(self) -> str:
        return ", ".join(f"s{s} {self.rows[s][SELECTION_METRIC]:.4f}" for s in sorted(self.rows))


def group_rows(pairs: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> list[Group]:
    """(config, final row) pairs of finished trials -> one Group per config, seeds together."""
    groups: dict[str, Group] = {}
    settings: dict[str, dict[str, Any]] = {}
    for config, row in pairs:
        cfg = TrialConfig.from_dict(config)
        key = config_key(config)
        groups.setdefault(key, Group(label=cfg.label(seed=False), key=key)).rows[cfg.seed] = row
        settings.setdefault(key, {k: config.get(k) for k in DISTINGUISHING})
    # Named as the analysis names them: the one label, with what tells same-label configs apart.
    for group, label in zip(
        groups.values(), distinct_labels([g.label for g in groups.values()], list(settings.values())), strict=True
    ):
        group.label = label
    return list(groups.values())


def trial_rows(config: dict[str, Any], metrics: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A trial's (config, last row) for each config it trains: a pack's members, or its one config."""
    configs = pack_members(config) or [config]
    rows = metrics.get(PACK_MEMBERS) or [metrics] * len(configs)
    return list(zip(configs, rows))


def best(groups: list[Group], metric: str, mode: str, bar: float) -> Group | None:
    """The best config by ``metric`` among those whose mean selection accuracy is above ``bar``."""
    feasible = [g for g in groups if g.mean(SELECTION_METRIC) > bar and finite(g.mean(metric))]
    if not feasible:
        return None
    sign = -1 if mode == "max" else 1
    return min(feasible, key=lambda g: (sign * g.mean(metric), -g.mean(SELECTION_METRIC)))


def best_confirmed(groups: list[Group], metric: str, mode: str, bar: float, k: int) -> Group | None:
    """The best config by ``metric`` among those with ``k`` finished seeds whose mean selection accuracy
    is above ``bar``: the summary's confirmed pick, and the live table's best so far."""
    return best([g for g in groups if g.n >= k], metric, mode, bar)


#: The seed means a pick carries (the summary's line prints most of them).
PICK_METRICS = (SELECTION_METRIC, "test_acc", "flops", "params", "latency_p50_us")
#: The costs a pick's line names, in the metric table's words.
FLOPS, LATENCY = metrics.metric("flops"), metrics.metric("latency_p50_us")


@dataclass(frozen=True)
class Pick:
    """The best config above the bar by one objective, on its seeds' means: the summary's line as data."""

    objective: str
    mode: str
    label: str  # "resize8 1x256": input spec, depth x width
    architecture: str
    seeds: int
    means: dict[str, float]


def chosen(groups: list[Group], metric: str, mode: str, bar: float, k: int) -> Group | None:
    """The best config above the bar by one objective: a confirmed one (``k`` seeds) where any is above it.

    A stage cut short (a --time-budget's end) may leave a better-looking config on fewer seeds; the summary
    shows it beside the confirmed one, never instead of it, and ``run_search`` returns the same pick."""
    return best_confirmed(groups, metric, mode, bar, k) or best(groups, metric, mode, bar)


def picks(groups: list[Group], objectives: Iterable[tuple[str, str]], bar: float, k: int) -> list[Pick]:
    """One Pick per objective that has a config above ``bar`` (the ones ``pick_lines`` prints)."""
    out = []
    for metric, mode in objectives:
        pick = chosen(groups, metric, mode, bar, k)
        if pick is not None:
            architecture = str(pick.rows[min(pick.rows)].get("architecture", ""))
            means = {m: pick.mean(m) for m in PICK_METRICS}
            out.append(Pick(metric, mode, pick.label, architecture, pick.n, means))
    return out


def seeds_text(group: Group, k: int) -> str:
    """``over 3 seeds (s0 0.9008, ...)`` or ``on 1 seed, unconfirmed (fewer than 3)``."""
    if group.n >= k:
        return f"over {group.n} seeds ({group.per_seed()})"
    return f"on {_seeds(group.n)} ({group.per_seed()}), unconfirmed (fewer than {k})"


def pick_lines(groups: list[Group], objectives: Iterable[tuple[str, str]], bar: float, k: int) -> list[str]:
    """One line per objective: the best config above the bar on seed means (a confirmed one, with ``k``
    seeds, where any is above the bar); where the screening pick
    (first seeds alone) differs, a second line with it and what its seeds say now."""
    out: list[str] = []
    screening = [g.first() for g in groups]
    for metric, mode in objectives:
        pick = chosen(groups, metric, mode, bar, k)
        if pick is None:
            continue
        rival = best(groups, metric, mode, bar)
        out.append(
            f"  best by {metric} ({mode}) among {SELECTION_METRIC} > {bar:g} (seed means): {pick.label} "
            f"{pick.rows[min(pick.rows)].get('architecture', '')}: {SELECTION_METRIC} "
            f"{pick.mean(SELECTION_METRIC):.4f} {seeds_text(pick, k)}, test_acc {pick.mean('test_acc'):.4f}, "
            f"{FLOPS.heading} {pick.mean(FLOPS.name):,.0f}, {LATENCY.heading} {pick.mean(LATENCY.name):.1f} us"
        )
        if rival is not None and rival.key != pick.key and pick.n >= k:
            out.append(
                f"    not yet confirmed, and better by {metric} on its seeds so far: {rival.label} "
                f"{seeds_text(rival, k)} (--resume confirms it)"
            )
        before = best(screening, metric, mode, bar)
        if before is not None and before.key != pick.key:
            now = next(g for g in groups if g.key == before.key)
            out.append(
                f"    confirmation changed this pick: on its first seed alone it was {before.label} "
                f"({SELECTION_METRIC} {before.mean(SELECTION_METRIC):.4f}); over {_seeds(now.n)} that config has "
                f"{now.mean(SELECTION_METRIC):.4f} ({now.per_seed()})"
            )
    return out


def wall_time_line(experiment: str, fit_started: float, fit_ended: float, k: int = 1) -> str:
    """This run's fit wall time, split at the moment the confirmation stage started (from its log);
    ``k``: the run's ``--confirm``."""
    log = read_log(experiment)
    total = fit_ended - fit_started
    started = None if log is None else log.get("confirm_started")
    confirm = 0.0 if started is None else fit_ended - max(float(started), fit_started)
    search = total - confirm
    if log is None and k > 1:  # stopped (Ctrl-C, a full disk) before the stage
        return f"Wall time: search {search:.1f} s (confirmation stage not started yet; --resume runs it)."
    if log is None:
        return f"Wall time: search {search:.1f} s (no confirmation stage: --confirm 1)."
    rounds = log.get("rounds") or []
    configs = [c for r in rounds for c in r.get("configs", [])]
    sigmas = [r.get("sigma") for r in rounds if r.get("sigma") is not None]
    seeds = sum(len(c.get("seeds", [])) for c in configs)
    sigma = f", pooled seed std {sigmas[-1]:.4f}" if sigmas else ""
    ratio = f", {total / search:.2f}x the search phase" if search > 0 else ""
    resumed = " (this run resumed inside the stage)" if started is not None and float(started) < fit_started else ""
    return (
        f"Wall time: search {search:.1f} s; confirmation stage {confirm:.1f} s{resumed}{ratio} "
        f"({len(rounds)} round(s), {len(configs)} config(s), {seeds} extra seed(s){sigma})."
    )


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"
