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
"""A task group against separate tasks on CoNLL-2003: part of speech, chunks and entities, two ways.

- `group`: `run_mtdnn.py --tasks conll2003_multi`, the three heads as one task group (one encoder pass per batch
  feeds the three heads; the loss is the sum of theirs);
- `separate`: the same three heads as three tasks of their own (`pos`, `chunk`, `ner`: the group's heads redeclared
  as plain tasks), each sentence encoded once per task and epoch.

    python benchmarks/bench_task_groups.py --data_dir ../shared/data [--seeds 3] [--max_train_samples 400]
        [--max_eval_samples 400] [--epochs 3] [--arms group,separate,group_steps] [--results_dir outputs/task_groups]
        [--device cuda] [--bf16]

Both arms train on the same rows (the first `--max_train_samples` of the train split, every one labelled by all
three heads), for the same epochs, with the same recipe (the paper's, at `--learning_rate`, batch
`--batch_size`), and are scored on the same first `--max_eval_samples` validation rows. Throughput is labels trained
per second of the Trainer's training loop (`train_runtime`): a label is one row's tags for one head, so both arms
train `3 x rows x epochs` of them; the target is a speed-up of at least 1.7x. Dev scores: part-of-speech accuracy,
chunk and entity F1 (seqeval), per head the mean and spread (standard deviation) over `--seeds` seeds of each arm,
and whether the group's mean lies within one spread (the separate run's standard deviation) of the separate run's
mean, or beyond it ahead (a win) or behind (a loss): `heads_within`, `heads_ahead`, `heads_behind`. With `--arms
group_steps`, a third arm trains the group for 3x the epochs, as many optimizer steps as the separate run (and
about its time): whether a group that trails does so for its fewer encoder updates (`group_steps_heads_*`).

`--data_dir` holds the local copy `conll2003/` (or is that copy). Every (arm, seed) result is a JSON file in
`--results_dir`; a rerun resumes. It prints a table and (last line) one JSON object of the figures (with `device`
and `dtype`: both arms train on `--device`, under `--bf16` if given).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    cli_device_flags,
    device_figures,
    parse_benchmark_args,
    parse_subset,
)
from reproduce_paper import run_once  # noqa: E402

from modeling_mtdnn.saving import atomic_file  # noqa: E402
from mtdnn.training.metrics import task_score  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402

GROUP = "conll2003_multi"
# The group's heads and their names as separate tasks.
HEADS = {"conll2003_pos": "pos", "conll2003_chunk": "chunk", "conll2003_ner": "ner"}
ARMS = {
    "group": "task group (one pass)",
    "separate": "separate tasks",
    "group_steps": f"group, {len(HEADS)}x epochs",
}


def separate_task_file(path: Path) -> Path:
    """The group's heads redeclared as three plain tasks, every field as the group gives it."""
    entries = {}
    for head, spec in load_task_specs([GROUP]).items():
        fields = {key: value for key, value in dataclasses.asdict(spec).items() if key not in ("name", "group")}
        entries[HEADS[head]] = {key: value for key, value in fields.items() if value is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary:
        temporary.write_text(yaml.safe_dump({"tasks": entries}, sort_keys=False))
    return path


def head_metrics(result: dict, arm: str, head: str) -> dict[str, float]:
    """A head's dev metrics in one run's result (`eval_<head>_<metric>` or, separate, `eval_<task>_<metric>`)."""
    prefix = f"eval_{HEADS[head] if arm == 'separate' else head}_"
    return {
        key[len(prefix) :]: value
        for key, value in result.items()
        if key.startswith(prefix) and not key.endswith("_loss")
    }


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(
        __doc__, "A smoke run: 16 rows, one epoch, one seed.", "Folder of local copies (conll2003/), or the copy."
    )
    parser.add_argument("--results_dir", default="outputs/task_groups")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=400, help="Training rows (each with 3 labels).")
    parser.add_argument("--max_eval_samples", type=int, default=400, help="Validation rows scored per head.")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument(
        "--arms",
        default="group,separate",
        help="Comma-separated, among group, separate and group_steps (the group for 3x the epochs: as many "
        "optimizer steps as the separate run, to tell the grouping from the step budget). group and separate are "
        "always run.",
    )
    args = parse_benchmark_args(parser, argv)
    arms = list(dict.fromkeys(["group", "separate", *parse_subset(parser, "--arms", args.arms, ARMS)]))
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local conll2003 copy or the folder holding it.")
    if args.quick:
        args.seeds, args.max_train_samples, args.max_eval_samples, args.epochs = 1, 16, 16, 1.0
    results_dir = Path(args.results_dir)
    task_file = separate_task_file(results_dir / "separate.yaml")
    common = [
        "--model_name_or_path", args.model, "--data_dir", args.data_dir, "--task_files", str(task_file),
        "--max_seq_length", str(args.max_seq_length), "--max_train_samples", str(args.max_train_samples),
        "--max_eval_samples", str(args.max_eval_samples),
        "--recipe", "paper", "--learning_rate", str(args.learning_rate),
        "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", "64",
        "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--pooling", "mean", *cli_device_flags(args),
    ]  # fmt: skip
    tasks = {"group": GROUP, "separate": ",".join(HEADS.values()), "group_steps": GROUP}
    epochs = {arm: args.epochs * (len(HEADS) if arm == "group_steps" else 1) for arm in ARMS}
    labels = {arm: round(len(HEADS) * args.max_train_samples * epochs[arm]) for arm in ARMS}
    speed: dict[str, list[float]] = {arm: [] for arm in arms}
    scores: dict[str, dict[str, list[float]]] = {arm: {} for arm in arms}
    for seed in range(args.seeds):
        for arm in arms:
            output = results_dir / "runs" / f"{arm}-{seed}"
            flags = ["--tasks", tasks[arm], "--num_train_epochs", str(epochs[arm]), "--seed", str(42 + seed)]
            result = run_once(results_dir / arm / f"seed{seed}.json", [*common, *flags, "--output_dir", str(output)])
            speed[arm].append(labels[arm] / result["train_runtime"])
            for head in HEADS:
                metrics = head_metrics(result, arm, head)
                for name, value in metrics.items():
                    scores[arm].setdefault(f"{head}_{name}", []).append(value)
                scores[arm].setdefault(head, []).append(task_score(metrics))

    def mean_sd(values: list[float]) -> tuple[float, float]:
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    figures: dict = {
        "seeds": args.seeds,
        "max_train_samples": args.max_train_samples,
        "max_eval_samples": args.max_eval_samples,
        "epochs": args.epochs,
        "labels_per_run": labels["group"],
        **device_figures(args),
    }
    for arm in arms:
        figures[f"{arm}_labels_per_s"], figures[f"{arm}_labels_per_s_sd"] = (round(v, 2) for v in mean_sd(speed[arm]))
    figures["speedup"] = round(figures["group_labels_per_s"] / figures["separate_labels_per_s"], 3)
    figures["speedup_target_met"] = figures["speedup"] >= 1.7
    print(f"labels trained per second (mean ± sd over {args.seeds} seed(s)):")
    for arm in arms:
        spread = f"{figures[f'{arm}_labels_per_s']:>10.1f} ± {figures[f'{arm}_labels_per_s_sd']:.1f}"
        print(f"  {ARMS[arm]:<24}{spread}  ({labels[arm]} labels per run, {epochs[arm]:g} epochs)")
    print(f"  speed-up of the group {figures['speedup']:.2f}x (target >= 1.7x)\n")
    others = [arm for arm in arms if arm != "separate"]
    header = "".join(f"{ARMS[arm]:>26}" for arm in arms) + "".join(f"{arm + ' - sep.':>24}" for arm in others)
    print(f"{'dev score':<24}{header}")
    verdicts = {arm: {"within": [], "ahead": [], "behind": []} for arm in others}
    for key in sorted(scores["group"]):
        means = {arm: mean_sd(scores[arm][key]) for arm in arms}
        for arm, (mean, sd) in means.items():
            figures[f"{arm}_{key}_mean"], figures[f"{arm}_{key}_sd"] = round(mean, 4), round(sd, 4)
        cells = [f"{mean:>17.4f} ± {sd:.4f}" for mean, sd in means.values()]
        separate_mean, separate_sd = means["separate"]
        for arm in others:
            difference = means[arm][0] - separate_mean
            shown = ""
            if key in HEADS:  # the head's score: within one spread of the separate run, else a win or a loss
                verdict = "within" if abs(difference) <= separate_sd else ("ahead" if difference > 0 else "behind")
                figures[f"{key}_difference" if arm == "group" else f"{arm}_{key}_difference"] = round(difference, 4)
                verdicts[arm][verdict].append(key)
                shown = {"within": " (within)", "ahead": " (win)", "behind": " (loss)"}[verdict]
            cells.append(f"{difference:>+15.4f}{shown:<9}")
        print(f"{key:<24}" + "".join(cells))
    for arm in others:
        prefix = "heads" if arm == "group" else f"{arm}_heads"
        figures |= {f"{prefix}_{verdict}": heads for verdict, heads in verdicts[arm].items()}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
