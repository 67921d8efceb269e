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
"""MT-DNN's per-task stage as LoRA adapters (peft) against full fine-tuning, from the same MT-DNN checkpoint.

    python benchmarks/bench_adapters.py [--quick] [--results_dir DIR] [--seeds 3] [--data_dir DIR]

A multi-task stage over RTE, STS-B and CoLA (one seed) gives the MT-DNN checkpoint. From it, for each seed and
task, two arms fine-tune on the same examples for the same epochs, alternating: `full` (every weight, lr
`--learning_rate`) and `lora` (`--lora_r` adapter on the encoder's query and value layers plus the task's head,
the encoder frozen, lr `--lora_learning_rate`). Dev scores (RTE's whole dev set, the first `--max_eval_samples` of
the others), training examples/s, trainable parameters, disk per task (the adapter folder against the whole
model) and the weights held to serve all the tasks (one base with K adapters and heads against K fine-tuned
models). Every (arm, task, seed) result is a JSON file in `--results_dir`, so an interrupted run resumes.

Prints a table, then (last line) one JSON object of the figures; targets: LoRA within one spread of full
fine-tuning, under 2% of the parameters and under 5% of the disk per task.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import benchmark_parser, cli_device_flags, device_figures, parse_benchmark_args  # noqa: E402
from reproduce_paper import run_once, run_stage, task_score_of  # noqa: E402

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402

TASKS = ["rte", "stsb", "cola"]
ARMS = {"full": "full fine-tuning", "lora": "LoRA adapter + head"}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def tensor_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed, RTE and STS-B.", "Local GLUE copy.")
    parser.add_argument("--results_dir", default="outputs/adapters", help="Where results and checkpoints go.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=1000, help="Training rows per task.")
    parser.add_argument("--max_eval_samples", type=int, default=500, help="Dev rows per task (RTE has 277).")
    parser.add_argument("--epochs", type=float, default=2, help="Epochs of each per-task fine-tuning.")
    parser.add_argument("--learning_rate", type=float, default=1e-4, help="Full fine-tuning (and the stage).")
    parser.add_argument("--lora_learning_rate", type=float, default=1e-3)
    parser.add_argument("--lora_r", type=int, default=8)
    parser.add_argument(
        "--lora_target_modules", default=None, help="Comma-separated layers to adapt (default: peft's, query,value)."
    )
    args = parse_benchmark_args(parser, argv)
    tasks = ["rte", "stsb"] if args.quick else TASKS
    samples = 32 if args.quick else args.max_train_samples
    seeds = 1 if args.quick else args.seeds
    results_dir = Path(args.results_dir)
    common = [
        "--max_train_samples", str(samples), "--max_eval_samples", str(16 if args.quick else args.max_eval_samples),
        "--max_seq_length", "128", "--recipe", "paper", "--per_device_train_batch_size", "8" if args.quick else "32",
        "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--train_sampling_strategy", "group_by_length", *cli_device_flags(args),
    ]  # fmt: skip
    if args.data_dir:
        common += ["--data_dir", args.data_dir]

    started = time.perf_counter()
    stage = results_dir / "runs" / "stage"
    run_stage(
        results_dir / "stage.json",
        ["--model_name_or_path", args.model, "--tasks", ",".join(tasks), "--pooling", "mean", "--num_train_epochs",
         "1", "--learning_rate", str(args.learning_rate), "--output_dir", str(stage), "--seed", "42", *common],
    )  # fmt: skip

    def sizes(output_dir: Path) -> dict:
        adapters = output_dir / "adapters"
        return {
            "model_bytes": (output_dir / "model.safetensors").stat().st_size,
            "adapter_folder_bytes": folder_bytes(adapters) if adapters.is_dir() else None,
        }

    # Results of other LoRA settings are kept apart, beside the same full fine-tuning runs.
    default_lora = args.lora_target_modules is None and args.lora_r == 8 and args.lora_learning_rate == 1e-3
    targets = (args.lora_target_modules or "default").replace(",", "-")
    lora_name = "lora" if default_lora else f"lora-r{args.lora_r}-lr{args.lora_learning_rate:g}-{targets}"
    lora_flags = ["--lora_r", str(args.lora_r), "--learning_rate", str(args.lora_learning_rate)]
    if args.lora_target_modules:
        lora_flags += ["--lora_target_modules", args.lora_target_modules]
    results: dict[str, dict[str, list[dict]]] = {arm: {task: [] for task in tasks} for arm in ARMS}
    for seed in range(seeds):
        for task in tasks:
            for arm in ARMS:  # alternating, so drifts in machine load hit both arms alike
                flags = ["--init_from", str(stage), "--tasks", task, "--num_train_epochs", str(args.epochs),
                         "--output_dir", str(results_dir / "runs" / f"{arm}-{task}-{seed}"), "--seed", str(42 + seed),
                         *common]  # fmt: skip
                flags += lora_flags if arm == "lora" else ["--learning_rate", str(args.learning_rate)]
                folder = results_dir / (lora_name if arm == "lora" else arm)
                result = run_once(folder / task / f"seed{seed}.json", flags, inspect=sizes)
                results[arm][task].append(result)

    # Parameters and the weights held in memory to serve every task, from the stage checkpoint.
    model = MTDNNForMultiTask.from_pretrained(stage)
    single_model_bytes = tensor_bytes(model.encoder) + max(tensor_bytes(model.heads[task]) for task in tasks)
    for task in tasks:
        model.add_task_adapter(task, r=args.lora_r, target_modules=args.lora_target_modules)
    total = sum(parameter.numel() for parameter in model.parameters())
    adapter = [f"lora_A.{tasks[0]}.", f"lora_B.{tasks[0]}."]
    adapter_share = sum(p.numel() for n, p in model.named_parameters() if any(key in n for key in adapter)) / total
    figures = {
        "encoder": Path(args.model).name,
        **device_figures(args),
        "seeds": seeds,
        "train_samples_per_task": samples,
        "epochs": args.epochs,
        "lora_r": args.lora_r,
        "lora_target_modules": model.config.task_adapters[tasks[0]]["target_modules"],
        "learning_rate": args.learning_rate,
        "lora_learning_rate": args.lora_learning_rate,
        "adapter_share": round(adapter_share, 5),
        "serving_mib_one_base_k_adapters": round(tensor_bytes(model) / 2**20, 2),
        "serving_mib_k_full_models": round(len(tasks) * single_model_bytes / 2**20, 2),
        "tasks_served": len(tasks),
    }
    header = f"{'full (mean ± sd)':>20}{'LoRA (mean ± sd)':>20}{'difference':>12}{'ex/s full':>11}{'ex/s LoRA':>11}"
    print(f"{'task':<8}{header}")
    for task in tasks:
        row = {}
        for arm in ARMS:
            scores = [task_score_of(result, task) for result in results[arm][task]]
            speed = [result["train_samples_per_second"] for result in results[arm][task]]
            row[arm] = (statistics.mean(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0)
            figures[f"{arm}_{task}_scores"] = [round(score, 4) for score in scores]
            figures[f"{arm}_{task}_mean"] = round(row[arm][0], 4)
            figures[f"{arm}_{task}_sd"] = round(row[arm][1], 4)
            figures[f"{arm}_{task}_examples_per_s"] = round(statistics.median(speed), 2)
        figures[f"difference_{task}"] = round(row["lora"][0] - row["full"][0], 4)
        figures[f"trainable_share_{task}"] = round(model.train_adapters_only([task])["trainable"] / total, 5)
        disk = results["lora"][task][0]["adapter_folder_bytes"] / results["full"][task][0]["model_bytes"]
        figures[f"disk_share_{task}"] = round(disk, 4)
        print(
            f"{task:<8}{row['full'][0]:>11.4f} ± {row['full'][1]:.4f}{row['lora'][0]:>11.4f} ± {row['lora'][1]:.4f}"
            f"{figures[f'difference_{task}']:>+12.4f}{figures[f'full_{task}_examples_per_s']:>11.2f}"
            f"{figures[f'lora_{task}_examples_per_s']:>11.2f}"
        )
    figures["adapter_folder_mib"] = round(results["lora"][tasks[0]][0]["adapter_folder_bytes"] / 2**20, 3)
    figures["full_model_mib"] = round(results["full"][tasks[0]][0]["model_bytes"] / 2**20, 2)
    figures["wall_seconds_this_call"] = round(time.perf_counter() - started, 1)
    shares = ", ".join(f"{task} {100 * figures[f'trainable_share_{task}']:.2f}%" for task in tasks)
    print(
        f"LoRA trains the adapter ({100 * figures['adapter_share']:.2f}% of the parameters) and the head: {shares} "
        f"(target < 2%); an adapter "
        f"folder ({tasks[0]}) is {figures['adapter_folder_mib']:.2f} MiB against {figures['full_model_mib']:.1f} MiB "
        f"(target < 5%); serving {len(tasks)} tasks holds {figures['serving_mib_one_base_k_adapters']:.1f} MiB "
        f"of weights against {figures['serving_mib_k_full_models']:.1f} MiB for {len(tasks)} fine-tuned models"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
