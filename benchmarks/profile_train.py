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
"""Profile a short MTDNNTrainer run with cProfile: where a training step spends its time, ours against torch's.

    python benchmarks/profile_train.py [--steps 12] [--data_dir DIR] [--group_by_length] [--device cuda] [--bf16]

Prints the top entries by own time, then the entries of this package's code (collator, sampler, losses, heads,
trainer hooks), then (last line) one JSON object with the share of the run spent in this package's own code, and
`device` and `dtype` (`--device`, `--bf16`; on a GPU the profile shows the host's side, kernels run asynchronously).
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    parse_benchmark_args,
    training_device_settings,
)
from transformers import AutoTokenizer  # noqa: E402

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from mtdnn.training import (  # noqa: E402
    MTDNNTrainer,
    MTDNNTrainingArguments,
    MultiTaskDataCollator,
    build_task_sets,
    load_task_specs,
)

OURS = (
    "training/collator.py",
    "training/samplers.py",
    "training/trainer.py",
    "modeling_mtdnn/losses.py",
    "modeling_mtdnn/modeling_mtdnn.py",
    "modeling_mtdnn/heads.py",
)


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "6 steps.", "Local GLUE copy.")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--group_by_length", action="store_true", help="Batches of similar lengths in each task.")
    args = parse_benchmark_args(parser, argv)
    steps = 6 if args.quick else args.steps
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    specs = load_task_specs(["rte", "stsb", "cola", "sst2"])
    train = build_task_sets(
        specs, tokenizer, train=True, data_dir=args.data_dir, max_seq_length=128, max_train_samples=320
    ).train_sets
    model = MTDNNForMultiTask.from_encoder(args.model, tasks={n: s.model_spec() for n, s in specs.items()})
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as output:
        trainer = MTDNNTrainer(
            model=model,
            args=MTDNNTrainingArguments(
                output_dir=output,
                per_device_train_batch_size=16,
                max_steps=steps,
                logging_steps=max(1, steps // 3),
                report_to=[],
                disable_tqdm=True,
                save_strategy="no",
                **training_device_settings(args),
                train_sampling_strategy="group_by_length" if args.group_by_length else "random",
            ),
            train_dataset=train,
            data_collator=MultiTaskDataCollator(tokenizer),
        )
        profiler.runcall(trainer.train)
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    ours = {
        f"{Path(file).parent.name}/{Path(file).name}:{function}": round(entry[3], 4)  # cumulative seconds
        for (file, _, function), entry in stats.stats.items()
        if file.endswith(OURS) and function in ("__call__", "__iter__", "compute_loss", "log", "compute_task_loss")
    }
    own_time = sum(entry[2] for (file, _, _), entry in stats.stats.items() if file.endswith(OURS))
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(10)
    print(buffer.getvalue())
    print(f"{steps} steps, {total:.2f} s profiled; own time in this package's training code: {own_time:.4f} s")
    figures = {"steps": steps, **device_figures(args), "total_seconds": round(total, 2)}
    figures["own_time_seconds"] = round(own_time, 4)
    figures["own_time_share"] = round(own_time / total, 5)
    figures["cumulative_seconds"] = ours
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
