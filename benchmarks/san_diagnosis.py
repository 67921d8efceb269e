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
"""Why a SAN head learns more slowly than a linear one: the single-task pair runs of the reproduction
(`reproduce_paper.py`, same rows, epochs, recipe and seeds), with one factor of the SAN head changed at a time.

    python benchmarks/san_diagnosis.py --data_dir ../shared/data/glue [--tasks mnli,rte] [--seeds 1] [--first_seed 0]
        [--results_dir outputs/reproduction2]

Variants, each against the reproduction's own SAN and linear runs (read from `--results_dir` when there, else run):

- `head_lr_10x`: the heads train at 10x the encoder's learning rate (`--head_learning_rate`): does a fresh head, the
  GRU above all, get too small steps at a learning rate chosen for the pretrained encoder?
- `one_step`: K = 1 and no step dropout (`san_steps: 1`, `san_step_dropout: 0`): do the multi-step reasoning and the
  stochastic prediction dropout slow learning?
- `memory_dropout_0.1`: the task's dropout on the token memory SAN reads at 0.1 (MNLI's is 0.3 in the paper's
  recipe; a linear head applies it to one pooled vector, SAN to every token it attends over).
- `linear_head_lr_10x`: the linear head at 10x, to tell a general head learning-rate effect from SAN's own.

It prints the dev score and the training loss of the first and last logged steps per variant, and (last line) one
JSON object of the figures.
"""

from __future__ import annotations

import json
import statistics
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
from reproduce_paper import (  # noqa: E402
    MIXED_IN,
    QNLI_TASK_FILE,
    TRAINED,
    linear_head_task_file,
    plan_budget,
    redeclared_task_file,
    run_once,
    task_score_of,
)

VARIANTS = {
    "san": ({}, []),
    "linear": ({"head": "linear"}, []),
    "head_lr_10x": ({}, ["--head_learning_rate", "1e-3"]),
    "one_step": ({"san_steps": 1, "san_step_dropout": 0.0}, []),
    "memory_dropout_0.1": ({"dropout": 0.1}, []),
    "linear_head_lr_10x": ({"head": "linear"}, ["--head_learning_rate", "1e-3"]),
}


def loss_curve(output_dir: Path) -> dict:
    """The first and last logged training losses of a run, from its trainer_state.json."""
    state = json.loads((output_dir / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return {"first_logged_loss": losses[0], "last_logged_loss": losses[-1]} if losses else {}


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, RTE only.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/reproduction2", help="The reproduction's results folder.")
    parser.add_argument("--tasks", default="mnli,rte")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--first_seed", type=int, default=0, help="Run seeds first_seed..seeds-1 only (split seeds across processes)."
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"Comma-separated subset of {', '.join(VARIANTS)}."
    )
    parser.add_argument("--max_train_samples", type=int, default=1500)
    parser.add_argument("--max_eval_samples", type=int, default=3000)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    args = parse_benchmark_args(parser, argv)
    if args.data_dir is None:
        parser.error("--data_dir (or MTDNN_DATA_DIR) must name the local GLUE copy.")
    tasks = ["rte"] if args.quick else args.tasks.split(",")
    variants = parse_subset(parser, "--variants", args.variants, VARIANTS)
    samples = 32 if args.quick else args.max_train_samples
    _, _, epochs = plan_budget(samples, 1.0, TRAINED, MIXED_IN)
    results_dir = Path(args.results_dir)
    common = [
        "--model_name_or_path", args.model, "--pooling", "mean", "--max_seq_length", "128", "--recipe", "paper",
        "--learning_rate", str(args.learning_rate), "--per_device_train_batch_size", "8" if args.quick else "32",
        "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--per_device_eval_batch_size", "64", "--train_sampling_strategy", "group_by_length",
        "--max_train_samples", str(samples), "--max_eval_samples", "32" if args.quick else str(args.max_eval_samples),
        "--data_dir", args.data_dir, "--num_train_epochs", f"{epochs:.4f}", "--logging_steps", "10",
        *cli_device_flags(args),
    ]  # fmt: skip
    seeds = args.seeds - args.first_seed
    figures: dict = {"tasks": tasks, "variants": variants, "seeds": seeds, "epochs": round(epochs, 3)}
    figures |= device_figures(args)
    for task in tasks:
        for variant in variants:
            changes, flags = VARIANTS[variant]
            values = []
            for seed in range(args.first_seed, args.seeds):
                # The reproduction's own SAN and linear single-task runs, when it has them (no loss curve there).
                reused = {"san": results_dir / "single", "linear": results_dir / "single_linear"}.get(variant)
                path = (reused or results_dir / "san_diagnosis" / variant) / task / f"seed{seed}.json"
                if variant == "linear":
                    task_file = linear_head_task_file(results_dir / "linear_heads.yaml")
                else:
                    variant_file = results_dir / "san_diagnosis" / f"{variant}.yaml"
                    task_file = redeclared_task_file(variant_file, [task], lambda spec: changes)
                output_dir = results_dir / "runs" / f"san-{variant}-{task}-{seed}"
                result = run_once(
                    path,
                    [*common, "--tasks", task, "--seed", str(42 + seed), "--output_dir", str(output_dir),
                     "--task_files", str(QNLI_TASK_FILE), str(task_file), *flags],
                    inspect=loss_curve,
                )  # fmt: skip
                # MNLI-mismatched ("eval_mnli_mm_*") is a task of its own, not part of the matched score.
                values.append(task_score_of(result, task))
                for key in ("first_logged_loss", "last_logged_loss"):
                    if key in result:
                        figures.setdefault(f"{task}_{variant}_{key}", []).append(round(result[key], 4))
            figures[f"{task}_{variant}_mean"] = round(statistics.mean(values), 4)
            figures[f"{task}_{variant}_seeds"] = [round(value, 4) for value in values]
    print(f"{'task':<6}{'variant':<22}{'dev score':>10}{'loss first':>12}{'loss last':>11}")
    for task in tasks:
        for variant in variants:
            first = figures.get(f"{task}_{variant}_first_logged_loss", ["-"])[0]
            last = figures.get(f"{task}_{variant}_last_logged_loss", ["-"])[0]
            print(f"{task:<6}{variant:<22}{figures[f'{task}_{variant}_mean']:>10.4f}{first!s:>12}{last!s:>11}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
