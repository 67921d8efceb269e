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
"""Does MNLI, trained well above chance, carry over to RTE? The reproduction's MNLI saw too few examples to learn
much (its stage left MNLI-m at 0.38), so its RTE result cannot tell. This run gives MNLI the larger part of a stage.

    python benchmarks/mnli_transfer.py --data_dir ../shared/data/glue [--seeds 3] [--first_seed 0]
        [--arms rte_only,mnli_then_rte] [--mnli_rows 6000,19739] [--results_dir outputs/mnli_transfer]

Per seed, with the reproduction's recipe (lr 1e-4, batch 32, 128 tokens, mean pooling, RTE and MNLI with SAN heads)
and the heads at `--head_learning_rate` (1e-3: the setting `san_diagnosis.py` found to train MNLI's SAN head fastest):

- `rte_only`: RTE alone (its first `--rte_rows` rows), two epochs.
- `mnli_then_rte`: for each of `--mnli_rows` (MNLI's first rows: the local train split is itself a random sample, all
  19,739 by default as the second size), one multi-task epoch over those MNLI rows and the same RTE rows, scored on
  MNLI-m/mm and RTE (`stage`), then that checkpoint fine-tuned on RTE for one epoch.

- `rte_only_same_examples`: for each of `--mnli_rows`, RTE alone for as many training examples as that MNLI arm
  processes (its stage plus its fine-tuning epoch): is a gain MNLI's, or that of more optimizer steps?

The first two arms see every RTE row twice; the second adds MNLI. Each (arm, MNLI size, seed) result is a JSON file in
`--results_dir`, so an interrupted run resumes. It prints a table and, last, one JSON object of the figures
(`mnli<N>_stage_<score>_*`, `mnli<N>_then_rte_rte_*`, `rte_only_rte_*`, `mnli<N>_rte_difference`).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    cli_device_flags,
    device_figures,
    parse_benchmark_args,
    parse_subset,
)
from reproduce_paper import _metrics_of, redeclared_task_file, run_once, run_stage, summarize  # noqa: E402

from mtdnn.training.metrics import task_score  # noqa: E402

ARMS = {
    "rte_only": "RTE alone, 2 epochs",
    "mnli_then_rte": "MNLI + RTE stage, then 1 RTE epoch",
    "rte_only_same_examples": "RTE alone, as many examples as the MNLI arm",
}
SCORED = ["rte", "mnli", "mnli_mm"]
ARM_FILES = ("stage", "then_rte")  # per MNLI size: the stage's scores, then its RTE fine-tuning


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/mnli_transfer", help="Where results and checkpoints go.")
    parser.add_argument("--seeds", type=int, default=3, help="Seeds first_seed..seeds-1 are run.")
    parser.add_argument("--first_seed", type=int, default=0, help="Split seeds across processes.")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"Comma-separated subset of {', '.join(ARMS)}.")
    parser.add_argument(
        "--mnli_rows", default="6000,19739", help="Comma-separated MNLI training rows of the stage, one stage each."
    )
    parser.add_argument("--rte_rows", type=int, default=1500, help="RTE training rows of both arms (its first).")
    parser.add_argument("--max_eval_samples", type=int, default=3000, help="MNLI-m/mm: their first rows.")
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--head_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--keep_stages",
        action="store_true",
        help="Keep each stage checkpoint (runs/stage-mnli<N>-<seed>), e.g. for `nli_prior.py --checkpoints`.",
    )
    args = parse_benchmark_args(parser, argv)
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local GLUE copy.")
    arms = parse_subset(parser, "--arms", args.arms, ARMS)
    mnli_sizes, rte_rows = ([64], 32) if args.quick else (_sizes(parser, args.mnli_rows), args.rte_rows)
    results_dir, seeds = Path(args.results_dir), range(args.first_seed, 1 if args.quick else args.seeds)
    common = transfer_flags(args)
    scores: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        seed_flags = ["--seed", str(42 + seed)]
        if "rte_only" in arms:
            result = run_once(
                results_dir / "rte_only" / f"seed{seed}.json",
                [*common, *_first_rows(results_dir, {"rte": rte_rows}), "--tasks", "rte", "--num_train_epochs", "2",
                 *seed_flags, "--output_dir", str(results_dir / "runs" / f"rte-only-{seed}")],
            )  # fmt: skip
            _collect(scores.setdefault("rte_only", {}), result, ["rte"])
        for size in mnli_sizes if "mnli_then_rte" in arms else []:
            rows, stage = (
                _first_rows(results_dir, {"mnli": size, "rte": rte_rows}),
                results_dir / "runs" / f"stage-mnli{size}-{seed}",
            )
            stage_path, tuned_path = (results_dir / f"mnli{size}" / arm / f"seed{seed}.json" for arm in ARM_FILES)
            stage_result = run_stage(
                stage_path,
                [*common, *rows, "--tasks", "mnli,rte", "--num_train_epochs", "1", *seed_flags,
                 "--output_dir", str(stage)],
                needed=args.keep_stages or not tuned_path.is_file(),
            )  # fmt: skip
            _collect(scores.setdefault(f"mnli{size}_stage", {}), stage_result, SCORED)
            result = run_once(
                tuned_path,
                [*common, *rows, "--init_from", str(stage), "--tasks", "rte", "--num_train_epochs", "1",
                 *seed_flags, "--output_dir", str(results_dir / "runs" / f"mnli{size}-then-rte-{seed}")],
            )  # fmt: skip
            if not args.keep_stages:
                shutil.rmtree(stage, ignore_errors=True)
            _collect(scores.setdefault(f"mnli{size}_then_rte", {}), result, ["rte"])
        for size in mnli_sizes if "rte_only_same_examples" in arms else []:
            epochs = (size + 2 * rte_rows) / rte_rows
            result = run_once(
                results_dir / f"mnli{size}" / "rte_only_same_examples" / f"seed{seed}.json",
                [*common, *_first_rows(results_dir, {"rte": rte_rows}), "--tasks", "rte",
                 "--num_train_epochs", f"{epochs:.4f}", *seed_flags,
                 "--output_dir", str(results_dir / "runs" / f"rte-only-mnli{size}-examples-{seed}")],
            )  # fmt: skip
            _collect(scores.setdefault(f"mnli{size}_rte_only_same_examples", {}), result, ["rte"])

    figures: dict = {"seeds": list(seeds), "arms": arms, "mnli_rows": mnli_sizes, "rte_rows": rte_rows}
    figures |= device_figures(args)
    figures |= {"learning_rate": args.learning_rate, "head_learning_rate": args.head_learning_rate}
    for arm, per_key in scores.items():
        for key, values in per_key.items():
            mean, spread = summarize(values)
            figures[f"{arm}_{key}_mean"], figures[f"{arm}_{key}_sd"] = round(mean, 4), round(spread, 4)
            figures[f"{arm}_{key}_seeds"] = [round(value, 4) for value in values]
    for size in mnli_sizes:
        if {"rte_only", f"mnli{size}_then_rte"} <= set(scores):
            tuned, alone = figures[f"mnli{size}_then_rte_rte_mean"], figures["rte_only_rte_mean"]
            figures[f"mnli{size}_rte_difference"] = round(tuned - alone, 4)
        if {f"mnli{size}_then_rte", f"mnli{size}_rte_only_same_examples"} <= set(scores):
            tuned, alone = (
                figures[f"mnli{size}_then_rte_rte_mean"],
                figures[f"mnli{size}_rte_only_same_examples_rte_mean"],
            )
            figures[f"mnli{size}_rte_difference_same_examples"] = round(tuned - alone, 4)
    width = max([len("arm"), *map(len, scores)]) + 2
    print(f"{'arm':<{width}}{'score':<9}{'mean ± sd':>18}  every seed")
    for arm, per_key in scores.items():
        for key in per_key:
            print(
                f"{arm:<{width}}{key:<9}{figures[f'{arm}_{key}_mean']:>10.4f} ± {figures[f'{arm}_{key}_sd']:.4f}  "
                f"{figures[f'{arm}_{key}_seeds']}"
            )
    print(json.dumps(figures))
    return figures


def transfer_flags(args) -> list[str]:
    """
    The `run_mtdnn.py` flags of this script's runs (and `affinity_transfer.py`'s), from its parsed `args`: the
    reproduction's recipe with `--learning_rate` and `--head_learning_rate`, mean pooling, 128 tokens, batch 32 (8 in
    `--quick`), the local GLUE copy and the first `--max_eval_samples` dev rows (32 in `--quick`).
    """
    return [
        "--model_name_or_path", args.model, "--pooling", "mean", "--max_seq_length", "128", "--recipe", "paper",
        "--learning_rate", str(args.learning_rate), "--head_learning_rate", str(args.head_learning_rate),
        "--per_device_train_batch_size", "8" if args.quick else "32", "--per_device_eval_batch_size", "64",
        "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--train_sampling_strategy", "group_by_length", "--data_dir", args.data_dir,
        "--max_eval_samples", "32" if args.quick else str(args.max_eval_samples), *cli_device_flags(args),
    ]  # fmt: skip


def _sizes(parser, value: str) -> list[int]:
    try:
        sizes = [int(size) for size in value.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        parser.error(f"--mnli_rows: {value!r} is not a comma-separated list of row counts >= 1 (e.g. 6000,19739).")
    return sizes


def _first_rows(results_dir: Path, rows: dict[str, int]) -> list[str]:
    """A task file with each task trained on its first `rows` (MNLI's local train split is already a sample)."""
    sliced = lambda spec: {"splits": {**spec.splits, "train": f"{spec.splits['train']}[:{rows[spec.name]}]"}}  # noqa: E731
    path = results_dir / ("tasks_" + "_".join(f"{task}{count}" for task, count in rows.items()) + ".yaml")
    return ["--task_files", str(redeclared_task_file(path, list(rows), sliced))]


def _collect(scores: dict[str, list[float]], result: dict, keys: list[str]) -> None:
    """Appends each key's task score; MNLI-mismatched ("eval_mnli_mm_*") is kept apart from the matched score."""
    for key in keys:
        scores.setdefault(key, []).append(task_score(_metrics_of(result, key, SCORED)))


if __name__ == "__main__":
    main()
