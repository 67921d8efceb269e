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
"""Memory: peak RSS of MT-DNN training and inference, and what each extra task head costs in parameters and disk.

    python benchmarks/bench_memory.py [--quick] [--model PATH]

Each phase runs in its own Python process, so its peak resident set size is its own. Prints a table, then (last
line) one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark_args import benchmark_parser, parse_benchmark_args  # noqa: E402

HEADS = {
    "linear classification (2 labels)": {"task_type": "classification", "num_labels": 2},
    "regression": {"task_type": "regression"},
    "ranking": {"task_type": "ranking"},
    "SAN classification (3 labels)": {"task_type": "classification", "num_labels": 3, "head": "san"},
}
TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]


def phase(name: str, model_path: str, steps: int) -> float:
    """Runs one phase here and returns this process's peak RSS in MiB."""
    import torch
    from transformers import AutoTokenizer

    from modeling_mtdnn import MTDNNForMultiTask
    from training.task_files import load_task_specs

    torch.manual_seed(0)
    specs = load_task_specs(TASKS)
    model = MTDNNForMultiTask.from_encoder(model_path, tasks={n: s.model_spec() for n, s in specs.items()})
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    texts = ["The film is a gripping, funny and humane portrait of a family that keeps surprising."] * 32
    inputs = tokenizer(texts, texts, padding="max_length", max_length=128, truncation=True, return_tensors="pt")
    if name == "inference":
        model.eval()
        with torch.no_grad():
            for _ in range(steps):
                model(**inputs, task_name=None)
    else:
        optimizer = torch.optim.Adamax(model.parameters(), lr=5e-5)
        for step in range(steps):
            task = TASKS[step % len(TASKS)]
            labels = torch.zeros(32) if task == "stsb" else torch.zeros(32, dtype=torch.long)
            if task == "qnli":
                grouped = {k: v.view(8, 4, -1) for k, v in inputs.items()}
                loss = model(**grouped, task_name=task, labels=torch.zeros(8, dtype=torch.long)).loss
            else:
                loss = model(**inputs, task_name=task, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def head_costs(model_path: str) -> dict[str, dict[str, int]]:
    from modeling_mtdnn import MTDNNForMultiTask

    model = MTDNNForMultiTask.from_encoder(model_path, tasks={})
    costs = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, spec in HEADS.items():
            name = label.split(" ")[0].lower()
            head = model.add_task(name, spec)
            saved = model.save_head(name, Path(folder) / name)
            costs[label] = {
                "parameters": sum(p.numel() for p in head.parameters()),
                "head_safetensors_bytes": (saved / "head.safetensors").stat().st_size,
            }
        costs["encoder (shared)"] = {"parameters": sum(p.numel() for p in model.encoder.parameters())}
    return costs


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "Fewer steps: under a minute on 2 cores.")
    parser.add_argument("--phase", choices=["training", "inference"], help=argparse.SUPPRESS)
    args = parse_benchmark_args(parser, argv)
    path = args.model
    steps = 4 if args.quick else 16
    if args.phase:  # a child process: report this phase's peak and stop
        print(json.dumps({"peak_rss_mib": round(phase(args.phase, path, steps), 1)}))
        return {}
    figures = {"encoder": Path(path).name, "batch": 32, "seq_len": 128, "tasks": len(TASKS), "steps": steps}
    for name in ("training", "inference"):
        command = [sys.executable, __file__, "--phase", name, "--model", path] + (["--quick"] if args.quick else [])
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        figures[f"{name}_peak_rss_mib"] = json.loads(output)["peak_rss_mib"]
    figures["heads"] = head_costs(path)
    print(f"MT-DNN with {len(TASKS)} GLUE heads on {figures['encoder']}, batch 32 x 128 tokens, {steps} steps")
    print(
        f"peak RSS: training {figures['training_peak_rss_mib']} MiB, inference {figures['inference_peak_rss_mib']} MiB"
    )
    print(f"{'head':<36}{'parameters':>12}{'head.safetensors':>18}")
    for label, cost in figures["heads"].items():
        size = cost.get("head_safetensors_bytes")
        print(f"{label:<36}{cost['parameters']:>12,}{'' if size is None else f'{size / 1024:.1f} KiB':>18}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
