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
"""SMART against plain multi-task training, and an MT-DNN-KD student against its teachers, at this machine's scale.

    python benchmarks/bench_smart_kd.py [--quick] [--results_dir DIR] [--seeds 3] [--data_dir DIR]

Per seed, alternating in one process: `plain` (multi-task training over RTE, STS-B, CoLA and MNLI, the same
examples for every arm) and `smart` (the same with `--adv_train --bregman_weight 1`). The plain runs of all seeds
are the teachers: their ensemble (mean class probabilities, mean score for STS-B) is scored on the dev sets, their
soft targets are written with `training/distill.py`, and a `student` per seed trains on them
(`--soft_targets --kd_weight 0.5`) with the plain run's settings. Dev scores: RTE's whole dev set and the first
`--max_eval_samples` rows of the others (MNLI matched and mismatched). The cost of SMART is the ratio of training
examples/s, smart over plain. Every (arm, seed) result is a JSON file in `--results_dir`, so a run resumes.

Prints a table, then (last line) one JSON object of the figures.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    cli_device_flags,
    device_figures,
    inference_device,
    parse_benchmark_args,
)
from reproduce_paper import run_once  # noqa: E402

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from mtdnn.training.collator import MultiTaskDataCollator  # noqa: E402
from mtdnn.training.distill import main as write_soft_targets  # noqa: E402
from mtdnn.training.distill import teacher_logits  # noqa: E402
from mtdnn.training.metrics import compute_task_metrics, task_score  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402
from mtdnn.training.task_sets import build_task_sets  # noqa: E402

TASKS = ["rte", "stsb", "cola", "mnli"]
ARMS = {"plain": "multi-task", "smart": "multi-task + SMART", "student": "MT-DNN-KD student"}


def scores_of(result: dict, keys: list[str]) -> dict[str, float]:
    """Each evaluation key's task score (`mnli` and `mnli_mm` apart)."""
    scores = {}
    for key in keys:
        prefix = f"eval_{key}_"
        metrics = {
            name[len(prefix) :]: value
            for name, value in result.items()
            if name.startswith(prefix)
            and not any(
                name.startswith(f"eval_{other}_") for other in keys if other != key and other.startswith(key)
            )  # fmt: skip
        }
        metrics.pop("loss", None)
        scores[key] = task_score(metrics)
    return scores


def ensemble_scores(
    teachers: list[Path], specs, tokenizer, data_dir, max_eval_samples, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """The teachers' ensemble on the dev sets, run on `device`: mean class probabilities (mean score, regression)."""
    models = [MTDNNForMultiTask.from_pretrained(folder).to(device).eval() for folder in teachers]
    collator = MultiTaskDataCollator(tokenizer)
    sets = build_task_sets(
        specs, tokenizer, evaluate=True, data_dir=data_dir, max_seq_length=128, max_eval_samples=max_eval_samples
    )
    scores = {}
    for key, rows in sets.eval_sets.items():
        name, metric = sets.eval_specs[key].task_name, sets.eval_specs[key].metric
        logits = torch.stack([teacher_logits(model, name, rows, collator) for model in models])  # (k, n, c)
        if specs[name].kind.predicts_value:
            predictions = logits.mean(dim=0).view(-1).numpy()
        else:
            predictions = torch.softmax(logits, dim=-1).mean(dim=0).argmax(dim=-1).numpy()
        scores[key] = task_score(compute_task_metrics(key, metric, predictions, np.asarray(rows["labels"])))
    return scores


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed, RTE and STS-B.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/smart_kd", help="Where results and checkpoints go.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=1000, help="Training rows per task.")
    parser.add_argument("--max_eval_samples", type=int, default=500, help="Dev rows per task (RTE has 277).")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    args = parse_benchmark_args(parser, argv)
    tasks = ["rte", "stsb"] if args.quick else TASKS
    samples = 32 if args.quick else args.max_train_samples
    eval_samples = 16 if args.quick else args.max_eval_samples
    seeds = 2 if args.quick else args.seeds
    results_dir = Path(args.results_dir)
    common = [
        "--model_name_or_path", args.model, "--tasks", ",".join(tasks), "--pooling", "mean",
        "--max_train_samples", str(samples), "--max_eval_samples", str(eval_samples), "--max_seq_length", "128",
        "--recipe", "paper", "--learning_rate", str(args.learning_rate), "--num_train_epochs", str(args.epochs),
        "--per_device_train_batch_size", "8" if args.quick else "32", "--do_train", "--do_eval",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--train_sampling_strategy", "group_by_length", *cli_device_flags(args),
    ]  # fmt: skip
    if args.data_dir:
        common += ["--data_dir", args.data_dir]
    specs = load_task_specs(tasks)
    keys = [key for spec in specs.values() for key in spec.eval_splits()]

    started = time.perf_counter()
    runs = results_dir / "runs"
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    teachers = [runs / f"plain-{seed}" for seed in range(seeds)]
    soft_targets, ensemble_file = results_dir / "soft_targets", results_dir / "ensemble.json"
    teachers_needed = not ensemble_file.is_file() or not all(
        (results_dir / "student" / f"seed{seed}.json").is_file() for seed in range(seeds)
    )
    for seed in range(seeds):
        seed_flags = ["--seed", str(42 + seed)]
        result_file = results_dir / "plain" / f"seed{seed}.json"
        if teachers_needed and result_file.is_file() and not teachers[seed].is_dir():  # the teacher is gone
            result_file.unlink()
        results["plain"].append(
            run_once(result_file, [*common, *seed_flags, "--output_dir", str(teachers[seed])], keep_output=True)
        )
        smart = ["--adv_train", "--bregman_weight", "1.0", "--output_dir", str(runs / f"smart-{seed}")]
        results["smart"].append(run_once(results_dir / "smart" / f"seed{seed}.json", [*common, *seed_flags, *smart]))

    if not all((soft_targets / f"{task}.soft_targets.json").is_file() for task in tasks) or not all(
        (results_dir / "student" / f"seed{seed}.json").is_file() for seed in range(seeds)
    ):
        data = ["--data_dir", args.data_dir] if args.data_dir else []
        write_soft_targets(
            ["--teachers", ",".join(map(str, teachers)), "--tasks", ",".join(tasks), "--output_dir", str(soft_targets),
             "--max_train_samples", str(samples), "--max_seq_length", "128", *data]
        )  # fmt: skip
    for seed in range(seeds):
        student = ["--soft_targets", str(soft_targets), "--kd_weight", "0.5"]
        student += ["--output_dir", str(runs / f"student-{seed}")]
        results["student"].append(
            run_once(results_dir / "student" / f"seed{seed}.json", [*common, "--seed", str(42 + seed), *student])
        )

    if ensemble_file.is_file():
        ensemble = json.loads(ensemble_file.read_text())
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(teachers[0])
        ensemble = ensemble_scores(teachers, specs, tokenizer, args.data_dir, eval_samples, inference_device(args))
        ensemble_file.write_text(json.dumps(ensemble, indent=2))

    figures = {
        "encoder": Path(args.model).name,
        **device_figures(args),
        "seeds": seeds,
        "train_samples_per_task": samples,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
    }
    speed = {arm: statistics.median(r["train_samples_per_second"] for r in results[arm]) for arm in ("plain", "smart")}
    figures["smart_cost_ratio"] = round(speed["plain"] / speed["smart"], 2)
    print(f"{'dev set':<10}" + "".join(f"{label:>24}" for label in ARMS.values()) + f"{'teacher ensemble':>20}")
    for key in keys:
        row = ""
        for arm in ARMS:
            values = [scores_of(result, keys)[key] for result in results[arm]]
            mean, sd = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
            figures[f"{arm}_{key}_scores"] = [round(v, 4) for v in values]
            figures[f"{arm}_{key}_mean"], figures[f"{arm}_{key}_sd"] = round(mean, 4), round(sd, 4)
            row += f"{mean:>15.4f} ± {sd:.4f}"
        figures[f"ensemble_{key}"] = round(ensemble[key], 4)
        print(f"{key:<10}{row}{ensemble[key]:>20.4f}")
    print(
        f"SMART trains {speed['smart']:.1f} examples/s against {speed['plain']:.1f}: "
        f"{figures['smart_cost_ratio']:.2f}x the cost per example"
    )
    figures["wall_seconds_this_call"] = round(time.perf_counter() - started, 1)
    for folder in teachers:  # every result that needs the teachers is saved
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
