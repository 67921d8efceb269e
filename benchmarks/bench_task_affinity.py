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
"""The cost of measuring task affinity during training (`--task_affinity_steps`): time per step with and without it.

    python benchmarks/bench_task_affinity.py [--rows 300] [--steps 60] [--every 10] [--probe_size 16]
        [--batch_size 16] [--methods cosine,lookahead] [--device cpu] [--bf16]

Four GLUE-shaped tasks (CoLA, RTE, STS-B and MNLI task files) on synthetic sentences, `--rows` training rows each,
on the encoder of `--model` (the packaged MiniLM by default, mean pooling). Every arm trains the same `--steps`
optimizer steps on the same rows (the probe rows are held back in the arm without measurement too), with the same
seed; the arms with a measurement measure every `--every` steps on `--probe_size` rows per task. Reported: the seconds
per step of each arm (the Trainer's `train_runtime` over the steps; the plain arm runs first and last, and
counts as the mean of both), the overhead of each method over the plain run,
and the seconds of one measurement. The last line is one JSON object of the figures (with `device` and `dtype`).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    parse_benchmark_args,
    parse_subset,
    training_device_settings,
)

TASKS = ["cola", "rte", "stsb", "mnli"]
WORDS = "the a cat dog film story runs sleeps is was big small red blue good bad funny dull not very".split()


def synthetic_sets(tokenizer, rows: int, seed: int = 0) -> tuple[dict, dict]:
    """The task specs of `TASKS` and `rows` prepared training rows of synthetic sentences for each."""
    import datasets
    import numpy as np

    from mtdnn.training.preparation import prepare_split
    from mtdnn.training.task_files import load_task_specs

    rng = np.random.default_rng(seed)
    specs = load_task_specs(TASKS)
    train = {}
    for name, spec in specs.items():
        sentence = lambda: " ".join(rng.choice(WORDS, size=rng.integers(5, 20)))  # noqa: E731
        data = {column: [sentence() for _ in range(rows)] for column in spec.text_columns}
        classes = len(spec.label_names or [])
        data[spec.label_column] = (
            rng.integers(0, classes, rows).tolist() if classes else rng.uniform(0, 5, rows).round(2).tolist()
        )
        train[name] = prepare_split(spec, datasets.Dataset.from_dict(data), tokenizer, 128)
    return specs, train


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: 32 rows, 6 steps, a measurement every 3.")
    parser.add_argument("--rows", type=int, default=300, help="Training rows per task (before the probe rows).")
    parser.add_argument("--steps", type=int, default=60, help="Optimizer steps of every arm.")
    parser.add_argument("--every", type=int, default=10, help="--task_affinity_steps of the measuring arms.")
    parser.add_argument("--probe_size", type=int, default=16, help="--task_affinity_probe_size: probe rows per task.")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--methods", default="cosine,lookahead", help="Comma-separated: cosine, lookahead.")
    args = parse_benchmark_args(parser, argv)
    methods = parse_subset(parser, "--methods", args.methods, ("cosine", "lookahead"))
    if args.quick:
        args.rows, args.steps, args.every, args.probe_size = 32, 6, 3, 4

    import torch
    from transformers import AutoTokenizer

    from modeling_mtdnn import MTDNNForMultiTask
    from mtdnn.training.arguments import MTDNNTrainingArguments
    from mtdnn.training.collator import MultiTaskDataCollator
    from mtdnn.training.task_affinity import hold_out_probes
    from mtdnn.training.trainer import MTDNNTrainer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    specs, train = synthetic_sets(tokenizer, args.rows)
    rest, _ = hold_out_probes(train, args.probe_size, seed=0)  # what the measuring arms train on

    def run(method: str | None) -> tuple[float, dict | None]:
        torch.manual_seed(0)
        model = MTDNNForMultiTask.from_encoder(
            args.model, tasks={name: spec.model_spec() for name, spec in specs.items()}, pooling="mean"
        )
        affinity = (
            {
                "task_affinity_steps": args.every,
                "task_affinity_probe_size": args.probe_size,
                "task_affinity_method": method,
            }  # fmt: skip
            if method
            else {}
        )
        with tempfile.TemporaryDirectory() as output:
            trainer = MTDNNTrainer(
                model=model,
                args=MTDNNTrainingArguments(
                    output_dir=output,
                    per_device_train_batch_size=args.batch_size,
                    max_steps=args.steps,
                    learning_rate=5e-5,
                    save_strategy="no",
                    report_to=[],
                    disable_tqdm=True,
                    logging_steps=args.steps,
                    seed=0,
                    **training_device_settings(args),
                    **affinity,
                ),
                train_dataset=train if method else rest,
                data_collator=MultiTaskDataCollator(tokenizer),
            )
            result = trainer.train()
            summary = json.loads((Path(output) / "task_affinity.json").read_text()) if method else None
        return result.metrics["train_runtime"] / args.steps, summary

    figures: dict = {
        "tasks": TASKS,
        "rows_per_task": args.rows,
        "steps": args.steps,
        "every": args.every,
        "probe_size": args.probe_size,
        "batch_size": args.batch_size,
        **device_figures(args),
    }
    first_off = run(None)[0]
    measured = {method: run(method) for method in methods}
    off = (first_off + run(None)[0]) / 2  # the plain run first and last: the mean is fair to the arms between
    figures["off_s_per_step"] = round(off, 4)
    print(f"seconds per step over {args.steps} steps ({len(TASKS)} tasks, batch {args.batch_size}):")
    print(f"  {'without measurement':<34}{off:.4f}  (mean of a run before and one after the others)")
    for method, (per_step, summary) in measured.items():
        figures[f"{method}_s_per_step"] = round(per_step, 4)
        figures[f"{method}_overhead"] = round(per_step / off - 1, 4)
        figures[f"{method}_s_per_measurement"] = summary["seconds_per_measurement"]
        print(
            f"  {method + f' every {args.every} steps':<34}{per_step:.4f}  ({figures[f'{method}_overhead']:+.1%}; "
            f"{summary['seconds_per_measurement']:.3f}s per measurement)"
        )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
