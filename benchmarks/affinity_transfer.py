# Copyright 2026 The mt-dnn Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Does the task affinity of one multi-task run predict which tasks really gain from being trained together?

    python benchmarks/affinity_transfer.py --data_dir ../shared/data/glue [--tasks mnli,rte,stsb,cola,sst2,qnli]
        [--rows 500] [--epochs 2] [--seeds 3] [--methods cosine,lookahead] [--every 10] [--probe_size 16]
        [--predict_seeds 1]
        [--results_dir outputs/affinity_transfer]

Every task trains on its first `--rows` training rows (QNLI as the paper's ranking task, on a question-grouped half
of its validation split, `benchmarks/tasks/qnli_from_validation.yaml`) for `--epochs` epochs, with one recipe (mean
pooling, lr 1e-4, heads at 1e-3, batch 32, 128 tokens), and is scored on its dev set (its first
`--max_eval_samples` rows):

- `alone`: each task on its own, once per seed.
- `pair`: each pair of tasks in one multi-task run (same rows of each, so the target task sees the same examples the
  same number of times as alone), once per seed; both tasks of the pair are scored.
- `predict`: one multi-task run of all the tasks (seed 0) per affinity method, measuring the affinity every
  `--every` steps on `--probe_size` held-back rows per task (`--task_affinity_steps`); with `--predict_seeds N`, N
  such runs per method, the first the prediction, the others a check of how much the affinity changes between runs.

The gain of task j from task i is j's dev score in the pair run minus j's score alone, with the same seed, averaged
over the seeds. Reported: the Spearman correlation between the gains of every ordered pair (i, j) and the predicted
affinity `matrix[i][j]` (the issue's figure; also against the gain in dev loss, and within each target task), the
pairs whose ranks disagree most, and how well the gains agree with themselves from seed to seed (the highest
correlation any predictor can reach with gains this noisy). Each run's result is a JSON file in `--results_dir`, so
an interrupted run resumes; the files are named by task, seed and (measuring runs) method, interval and probe size
only, so give other `--rows`, `--epochs` or learning rates their own `--results_dir`. It prints the tables and, last,
one JSON object of the figures.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import benchmark_parser, device_figures, parse_benchmark_args, parse_subset  # noqa: E402
from mnli_transfer import transfer_flags  # noqa: E402
from reproduce_paper import QNLI_TASK_FILE, run_once, task_score_of  # noqa: E402

from modeling_mtdnn.saving import read_json  # noqa: E402
from mtdnn.training.task_affinity import AFFINITY_FILE  # noqa: E402

TASKS = ["mnli", "rte", "stsb", "cola", "sst2", "qnli"]
METHODS = ("cosine", "lookahead")


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: three tasks, 24 rows, one seed.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/affinity_transfer", help="Where results go.")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"Comma-separated subset of {', '.join(TASKS)}.")
    parser.add_argument("--rows", type=int, default=500, help="Training rows of every task (its first).")
    parser.add_argument("--epochs", type=float, default=2.0, help="Epochs of every run.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds of the alone and pair runs.")
    parser.add_argument("--methods", default=",".join(METHODS), help="Comma-separated: cosine, lookahead.")
    parser.add_argument(
        "--predict_seeds",
        type=int,
        default=1,
        help="Multi-task runs measuring the affinity, per method (seeds 0..N-1): the prediction is seed 0's, the "
        "others say how much the affinity itself changes from run to run.",
    )
    parser.add_argument("--every", type=int, default=10, help="--task_affinity_steps of the predicting runs.")
    parser.add_argument("--probe_size", type=int, default=16, help="--task_affinity_probe_size of those runs.")
    parser.add_argument("--max_eval_samples", type=int, default=1000, help="Dev rows scored per task (its first).")
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--head_learning_rate", type=float, default=1e-3)
    args = parse_benchmark_args(parser, argv)
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local GLUE copy.")
    tasks = parse_subset(parser, "--tasks", args.tasks, TASKS)
    methods = parse_subset(parser, "--methods", args.methods, METHODS)
    if len(tasks) < 3:
        parser.error(f"--tasks: {args.tasks!r} names {len(tasks)} tasks; a correlation needs at least 3.")
    if args.quick:
        tasks, args.rows, args.epochs, args.seeds = ["rte", "stsb", "qnli"], 24, 1.0, 1
        args.every, args.probe_size, args.max_eval_samples = 1, 4, 32
    results_dir = Path(args.results_dir)
    common = [
        *transfer_flags(args), "--task_files", str(QNLI_TASK_FILE), "--max_train_samples", str(args.rows),
        "--num_train_epochs", str(args.epochs),
    ]  # fmt: skip

    def run(name: str, run_tasks: list[str], seed: int, extra: tuple[str, ...] = (), inspect=None) -> dict:
        return run_once(
            results_dir / f"{name}.json",
            [*common, "--tasks", ",".join(run_tasks), "--seed", str(42 + seed), *extra,
             "--output_dir", str(results_dir / "runs" / name.replace("/", "-"))],
            inspect=inspect,
        )  # fmt: skip

    def predict(method: str, seed: int) -> dict[tuple[str, str], float]:
        result = run(
            f"predict/{method}-every{args.every}-probe{args.probe_size}-seed{seed}",
            tasks,
            seed,
            ("--task_affinity_steps", str(args.every), "--task_affinity_probe_size", str(args.probe_size),
             "--task_affinity_method", method),
            inspect=lambda output_dir: {"task_affinity": read_json(output_dir / AFFINITY_FILE, "Task affinity")},
        )  # fmt: skip
        summary = result["task_affinity"]
        order = summary["tasks"]
        return {(i, j): summary["matrix"][order.index(i)][order.index(j)] for i in tasks for j in tasks if i != j}

    affinity = {method: predict(method, 0) for method in methods}
    alone: dict[str, list[dict]] = {task: [] for task in tasks}
    pairs: dict[tuple[str, str], list[dict]] = {pair: [] for pair in itertools.combinations(tasks, 2)}
    for seed in range(args.seeds):  # seed by seed, so that a run cut short leaves whole seeds
        for task in tasks:
            alone[task].append(run(f"alone/{task}/seed{seed}", [task], seed))
        for i, j in pairs:
            pairs[(i, j)].append(run(f"pair/{i}+{j}/seed{seed}", [i, j], seed))
    repeats = {method: [predict(method, seed) for seed in range(1, args.predict_seeds)] for method in methods}
    figures = transfer_figures(tasks, alone, pairs, affinity, repeats)
    figures |= {"tasks": tasks, "rows": args.rows, "epochs": args.epochs, "seeds": args.seeds}
    figures |= {"every": args.every, "probe_size": args.probe_size, "max_eval_samples": args.max_eval_samples}
    figures |= device_figures(args)
    print_report(tasks, figures, methods)
    print(json.dumps(figures))
    return figures


def transfer_figures(
    tasks: list[str],
    alone: dict[str, list[dict]],
    pairs: dict[tuple[str, str], list[dict]],
    affinity: dict,
    repeats: dict | None = None,
) -> dict:
    """
    The measured gains and their agreement with each method's predicted affinity.

    Args:
        tasks (`list[str]`): The tasks, in order.
        alone (`dict`): Task to its runs' results, one per seed.
        pairs (`dict`): `(i, j)` (each unordered pair once) to the pair runs' results, one per seed.
        affinity (`dict`): Method to `{(i, j): matrix[i][j]}` for every ordered pair of distinct tasks.
        repeats (`dict`, *optional*): Method to more such matrices, each from a run with another seed.
    """
    ordered = [(i, j) for j in tasks for i in tasks if i != j]  # gains of each target j, partner by partner
    runs = lambda i, j: pairs[(i, j)] if (i, j) in pairs else pairs[(j, i)]  # noqa: E731
    score_gain, loss_gain = {}, {}
    for i, j in ordered:
        score_gain[(i, j)] = [
            task_score_of(pair, j) - task_score_of(single, j) for pair, single in zip(runs(i, j), alone[j])
        ]
        if f"eval_{j}_loss" in alone[j][0]:  # ranking tasks report no dev loss
            loss_gain[(i, j)] = [  # positive: the pair lowers j's dev loss
                single[f"eval_{j}_loss"] - pair[f"eval_{j}_loss"] for pair, single in zip(runs(i, j), alone[j])
            ]
    mean_gain = {pair: statistics.mean(values) for pair, values in score_gain.items()}
    figures: dict = {
        "alone": {task: _mean_sd([task_score_of(result, task) for result in alone[task]]) for task in tasks},
        "gains": {f"{i}->{j}": _mean_sd(score_gain[(i, j)]) for i, j in ordered},
        "loss_gains": {f"{i}->{j}": _mean_sd(values) for (i, j), values in loss_gain.items()},
    }
    # How much of the gains is the target's own: the share of their variance between the targets' means (a task
    # that gains from every partner, as one that profits from any extra steps of the encoder, is target variance)
    target_mean = {j: statistics.mean(mean_gain[(i, j)] for i in tasks if i != j) for j in tasks}
    centered = {(i, j): mean_gain[(i, j)] - target_mean[j] for i, j in ordered}
    total = statistics.pvariance(mean_gain.values())
    figures["target_share"] = (
        round(statistics.pvariance([target_mean[j] for _, j in ordered]) / total, 4) if total > 1e-12 else None
    )
    seeds = len(next(iter(score_gain.values())))
    if seeds > 1:  # how well one seed's gains rank like another's: the noise the gains carry
        for suffix, per_seed in (
            ("", [[score_gain[pair][seed] for pair in ordered] for seed in range(seeds)]),
            ("_centered", [_centered(ordered, tasks, score_gain, seed) for seed in range(seeds)]),
        ):
            one = statistics.mean(spearman(a, b) for a, b in itertools.combinations(per_seed, 2))
            # Spearman-Brown: the reliability of the mean of `seeds` seeds (0 when the seeds agree on no order);
            # a predictor that knew the true gains would correlate with the measured mean at its square root
            reliability = seeds * one / (1 + (seeds - 1) * one) if one > 0 else 0.0
            figures[f"seed_to_seed_spearman{suffix}"] = round(one, 4)
            figures[f"mean_of_seeds_reliability{suffix}"] = round(reliability, 4)
            figures[f"ceiling{suffix}"] = round(math.sqrt(reliability), 4)
    if len(affinity) == 2:  # do the two methods order the pairs alike?
        first, second = affinity.values()
        figures["spearman_between_methods"] = round(
            spearman([first[pair] for pair in ordered], [second[pair] for pair in ordered]), 4
        )
    for method, predicted in affinity.items():
        values = [predicted[pair] for pair in ordered]
        figures[f"affinity_{method}"] = {f"{i}->{j}": float(f"{predicted[(i, j)]:.4g}") for i, j in ordered}
        others = (repeats or {}).get(method) or []
        if others:  # does another seed's run measure the same order of pairs, and predict the gains as well?
            figures[f"affinity_{method}_seed_to_seed_spearman"] = [
                round(spearman(values, [other[pair] for pair in ordered]), 4) for other in others
            ]
            figures[f"spearman_{method}_other_seeds"] = [
                round(spearman([other[pair] for pair in ordered], [mean_gain[pair] for pair in ordered]), 4)
                for other in others
            ]
        figures[f"spearman_{method}"] = round(spearman(values, [mean_gain[pair] for pair in ordered]), 4)
        figures[f"spearman_{method}_centered"] = round(spearman(values, [centered[pair] for pair in ordered]), 4)
        figures[f"spearman_{method}_loss"] = round(
            spearman([predicted[pair] for pair in loss_gain], [statistics.mean(v) for v in loss_gain.values()]), 4
        )
        within = [
            spearman([predicted[(i, j)] for i in tasks if i != j], [mean_gain[(i, j)] for i in tasks if i != j])
            for j in tasks
        ]
        within = [value for value in within if not math.isnan(value)]
        figures[f"spearman_{method}_within_target"] = round(statistics.mean(within), 4) if within else None
        figures[f"disagree_{method}"] = disagreeing_pairs(ordered, values, [mean_gain[pair] for pair in ordered])
    return figures


def _centered(ordered: list[tuple[str, str]], tasks: list[str], gains: dict, seed: int) -> list[float]:
    """One seed's gains, each less the mean gain of its target over its partners (what ranks partners within it)."""
    mean = {j: statistics.mean(gains[(i, j)][seed] for i in tasks if i != j) for j in tasks}
    return [gains[(i, j)][seed] - mean[j] for i, j in ordered]


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank); NaN when either side is constant."""
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan
    return float(spearmanr(a, b).statistic)


def disagreeing_pairs(ordered: list[tuple[str, str]], predicted: list[float], gains: list[float], top: int = 5):
    """The `top` ordered pairs whose rank by predicted affinity differs most from their rank by measured gain."""
    from scipy.stats import rankdata

    by_affinity, by_gain = rankdata(predicted), rankdata(gains)
    worst = sorted(range(len(ordered)), key=lambda k: -abs(by_affinity[k] - by_gain[k]))[:top]
    return [
        {
            "pair": f"{ordered[k][0]}->{ordered[k][1]}",
            "affinity_rank": float(by_affinity[k]),
            "gain_rank": float(by_gain[k]),
            "gain": round(gains[k], 4),
            "affinity": float(f"{predicted[k]:.4g}"),
        }
        for k in worst
    ]


def _mean_sd(values: list[float]) -> dict:
    return {
        "mean": round(statistics.mean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "seeds": [round(value, 4) for value in values],
    }


def print_report(tasks: list[str], figures: dict, methods: list[str]) -> None:
    """The gains, each method's affinity and the correlations, as Markdown tables (docs/RESULTS.md keeps them)."""
    header = "| target | " + " | ".join(f"with {task}" for task in tasks) + " |\n" + "| --- " * (len(tasks) + 1) + "|"
    print("Gain of the target (row) from training beside each partner (column): dev score beside it minus alone,")
    print("mean ± sd over seeds (the target's score alone in brackets).\n")
    print(header)
    for j in tasks:
        cells = ["" if i == j else "{mean:+.4f} ± {sd:.4f}".format(**figures["gains"][f"{i}->{j}"]) for i in tasks]
        print(f"| {j} ({figures['alone'][j]['mean']:.4f}) | " + " | ".join(cells) + " |")
    for method in methods:
        print(f"\nAffinity ({method}) of the partner (column) on the target (row), from one run of all tasks.\n")
        print(header)
        for j in tasks:
            cells = ["" if i == j else f"{figures[f'affinity_{method}'][f'{i}->{j}']:+.3g}" for i in tasks]
            print(f"| {j} | " + " | ".join(cells) + " |")
        print(
            f"\n{method}: Spearman of affinity and gain {figures[f'spearman_{method}']:+.4f} over "
            f"{len(figures['gains'])} ordered pairs; against the dev-loss gain "
            f"{figures[f'spearman_{method}_loss']:+.4f} (the tasks with a dev loss); against the gains less their "
            f"target's mean {figures[f'spearman_{method}_centered']:+.4f}; within each target, mean "
            f"{figures[f'spearman_{method}_within_target']}."
        )
        if f"affinity_{method}_seed_to_seed_spearman" in figures:
            print(
                f"The affinity of runs with other seeds: Spearman with this one's "
                f"{figures[f'affinity_{method}_seed_to_seed_spearman']}, with the gains "
                f"{figures[f'spearman_{method}_other_seeds']}."
            )
        print("Pairs that disagree most: " + "; ".join(
            f"{d['pair']} (gain {d['gain']:+.4f}: rank {d['gain_rank']:g} by gain, {d['affinity_rank']:g} by affinity)"
            for d in figures[f"disagree_{method}"]
        ) + ".")  # fmt: skip
    if "spearman_between_methods" in figures:
        print(f"\nSpearman between the two methods' affinities: {figures['spearman_between_methods']:+.4f}.")
    print(f"\nShare of the gains' variance between the targets' means: {figures['target_share']}.")
    for suffix, what in (("", "the gains"), ("_centered", "the gains less their target's mean")):
        if f"seed_to_seed_spearman{suffix}" in figures:
            print(
                f"Seed to seed Spearman of {what}: {figures[f'seed_to_seed_spearman{suffix}']:+.4f}; reliability of "
                f"their mean over the seeds {figures[f'mean_of_seeds_reliability{suffix}']:.4f}, so a predictor that "
                f"knew the true gains would reach {figures[f'ceiling{suffix}']:.4f}."
            )


if __name__ == "__main__":
    main()
