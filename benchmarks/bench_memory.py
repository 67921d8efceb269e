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

    python benchmarks/bench_memory.py [--quick] [--model PATH] [--device cuda] [--bf16]

Each phase runs in its own Python process, so its peak resident set size is its own. On a GPU (`--device`) the
model and inputs live there and each phase also reports its peak of allocated GPU memory
(`torch.cuda.max_memory_allocated`); `--bf16` trains under bfloat16 autocast (the Trainer's `--bf16`) and serves
with the weights cast to bfloat16. Prints a table, then (last line) one JSON object of the figures, with `device`
and `dtype`.
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

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    inference_device,
    parse_benchmark_args,
)

HEADS = {
    "linear classification (2 labels)": {"task_type": "classification", "num_labels": 2},
    "regression": {"task_type": "regression"},
    "ranking": {"task_type": "ranking"},
    "SAN classification (3 labels)": {"task_type": "classification", "num_labels": 3, "head": "san"},
}
TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]


def phase(name: str, model_path: str, steps: int, device: str = "cpu", bf16: bool = False) -> dict[str, float]:
    """
    Runs one phase here: this process's peak RSS in MiB (`peak_rss_mib`) and, on a GPU, its peak of allocated GPU
    memory (`peak_device_mib`).
    """
    import torch
    from transformers import AutoTokenizer

    from modeling_mtdnn import MTDNNForMultiTask
    from mtdnn.training.task_files import load_task_specs

    torch.manual_seed(0)
    specs = load_task_specs(TASKS)
    model = MTDNNForMultiTask.from_encoder(model_path, tasks={n: s.model_spec() for n, s in specs.items()})
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    texts = ["The film is a gripping, funny and humane portrait of a family that keeps surprising."] * 32
    inputs = tokenizer(texts, texts, padding="max_length", max_length=128, truncation=True, return_tensors="pt")
    inputs = inputs.to(device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16 and name == "training")
    if name == "inference":
        model.to(device, torch.bfloat16 if bf16 else torch.float32).eval()
        with torch.no_grad():
            for _ in range(steps):
                model(**inputs, task_name=None)
    else:
        model.to(device)
        optimizer = torch.optim.Adamax(model.parameters(), lr=5e-5)
        for step in range(steps):
            task = TASKS[step % len(TASKS)]
            labels = torch.zeros(32) if task == "stsb" else torch.zeros(32, dtype=torch.long)
            with autocast:
                if task == "qnli":
                    grouped = {k: v.view(8, 4, -1) for k, v in inputs.items()}
                    labels = torch.zeros(8, dtype=torch.long, device=device)
                    loss = model(**grouped, task_name=task, labels=labels).loss
                else:
                    loss = model(**inputs, task_name=task, labels=labels.to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    peaks = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        peaks["peak_device_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peaks


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
    if args.phase:  # a child process: report this phase's peaks and stop
        print(json.dumps(phase(args.phase, path, steps, str(inference_device(args)), args.bf16)))
        return {}
    figures = {"encoder": Path(path).name, **device_figures(args), "batch": 32, "seq_len": 128, "tasks": len(TASKS)}
    figures["steps"] = steps
    for name in ("training", "inference"):
        command = [sys.executable, __file__, "--phase", name, "--model", path, "--device", args.device]
        command += (["--quick"] if args.quick else []) + (["--bf16"] if args.bf16 else [])
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        peaks = json.loads(output)
        figures[f"{name}_peak_rss_mib"] = peaks["peak_rss_mib"]
        if "peak_device_mib" in peaks:
            figures[f"{name}_peak_device_mib"] = peaks["peak_device_mib"]
    figures["heads"] = head_costs(path)
    print(
        f"MT-DNN with {len(TASKS)} GLUE heads on {figures['encoder']}, batch 32 x 128 tokens, {steps} steps, "
        f"device {figures['device']} ({figures['dtype']})"
    )
    print(
        f"peak RSS: training {figures['training_peak_rss_mib']} MiB, inference {figures['inference_peak_rss_mib']} MiB"
    )
    if "training_peak_device_mib" in figures:
        print(
            f"peak GPU memory allocated: training {figures['training_peak_device_mib']} MiB, "
            f"inference {figures['inference_peak_device_mib']} MiB"
        )
    print(f"{'head':<36}{'parameters':>12}{'head.safetensors':>18}")
    for label, cost in figures["heads"].items():
        size = cost.get("head_safetensors_bytes")
        print(f"{label:<36}{cost['parameters']:>12,}{'' if size is None else f'{size / 1024:.1f} KiB':>18}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
