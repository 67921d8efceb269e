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

    python benchmarks/bench_inference.py [--quick] [--model PATH] [--data_dir DIR] [--device cuda] [--bf16]

Two input sets, each at batch 1 and 64: `sentences` (short single sentences built in here, about 15 tokens, where
the encoder is cheapest and the heads weigh most) and, with `--data_dir` (or `$MTDNN_DATA_DIR`, the local GLUE copy),
`pairs`: the first STS-B validation sentence pairs, as pairwise tasks see them. It also times the encoder alone and
one head of each kind on its output at batch 64, which is what bounds the speedup: K passes cost about
K x encoder + heads, one pass encoder + heads.

At inference the SAN heads that share a number of steps run together on stacked weights (one batched computation
instead of one loop of small operations per head), so the one pass costs less than the encoder plus each head
timed alone. At batch 64 the bound is the ideal speedup computed from the parts timed in the same run,
`sum over tasks of (encoder + head) / (encoder + sum of heads)`, each head timed alone on the encoder's output.

Prints a table, then (last line) one JSON object: `tasks` (K), `speedup_batch1` (the lower of `sentences` and
`pairs` at batch 1; target >= 0.9 * K), `speedup_batch64` and `ideal_batch64` (for the set where their ratio is
lowest; target ratio >= 0.95), `speedup` (the lowest over batch sizes on `sentences`), `speedup_<set>_batch<n>`,
sentences/s of both ways, the parts' milliseconds and the cost of each extra head, `device` and `dtype`.

Models and inputs go to `--device` (on a GPU every timing sits between two `torch.cuda.synchronize()`); `--bf16`
casts every model's weights to bfloat16, and the one pass and the K passes are then compared at bfloat16's
tolerance instead of float32's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    inference_device,
    parse_benchmark_args,
    synchronize,
)

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from mtdnn.training.data_loading import load_raw_split  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402

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
BATCH_SIZES = (1, 64)


def timed(function, repeats: int, device: torch.device | str = "cpu") -> float:
    """Median seconds of `repeats` calls after one warm-up (on a GPU, from an idle device to the end of its work)."""
    function()
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def input_sets(
    tokenizer, data_dir: str | None, device: torch.device | str = "cpu"
) -> dict[str, dict[int, dict[str, torch.Tensor]]]:
    """
    `{set name: {batch size: tokenized inputs on device}}`: the built-in sentences, and STS-B dev pairs given a data
    dir.
    """
    largest = max(BATCH_SIZES)
    texts = {"sentences": ((SENTENCES * (largest // len(SENTENCES) + 1))[:largest], None)}
    if data_dir:
        pairs = load_raw_split(load_task_specs(["stsb"])["stsb"], "validation", data_dir).select(range(largest))
        texts["pairs"] = (pairs["sentence1"], pairs["sentence2"])
    return {
        name: {
            size: tokenizer(
                first[:size],
                second[:size] if second else None,
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            ).to(device)
            for size in BATCH_SIZES
        }
        for name, (first, second) in texts.items()
    }


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "Fewer repeats: under a minute on 2 cores.", "Local GLUE copy (pairs).")
    args = parse_benchmark_args(parser, argv)
    with torch.no_grad():  # not torch.set_grad_enabled(False): a caller's later training keeps its gradients
        return _run(args)


def _run(args) -> dict:
    torch.manual_seed(0)
    device, dtype = inference_device(args), torch.bfloat16 if args.bf16 else torch.float32
    tolerance = {"rtol": 5e-2, "atol": 5e-2} if args.bf16 else {"rtol": 1e-4, "atol": 1e-5}
    path = args.model
    specs = load_task_specs(GLUE_HEADS)
    tasks = {name: spec.model_spec() for name, spec in specs.items()}
    tokenizer = AutoTokenizer.from_pretrained(path)
    mtdnn = MTDNNForMultiTask.from_encoder(path, tasks=tasks).eval()
    # K single-task models: each its own encoder (a copy of the same weights) and one head.
    singles = []
    for name in GLUE_HEADS:
        single = MTDNNForMultiTask.from_encoder(path, tasks={name: tasks[name]}).eval()
        single.heads[name].load_state_dict(mtdnn.heads[name].state_dict())
        singles.append((name, single.to(device, dtype)))
    mtdnn = mtdnn.to(device, dtype)

    repeats = {1: 5 if args.quick else 30, 64: 2 if args.quick else 8}
    figures = {"tasks": len(GLUE_HEADS), "encoder": Path(path).name, **device_figures(args)}
    rows, figures = [], figures | {"threads": torch.get_num_threads()}
    sets = input_sets(tokenizer, args.data_dir, device)
    for set_name, batches in sets.items():
        for batch_size, inputs in batches.items():
            together = mtdnn(**inputs, task_name=None).task_logits
            for name, single in singles:  # same predictions both ways, or the comparison means nothing
                torch.testing.assert_close(single(**inputs, task_name=name).logits, together[name], **tolerance)
            one_pass = timed(lambda: mtdnn(**inputs, task_name=None), repeats[batch_size], device)
            k_passes = timed(
                lambda: [single(**inputs, task_name=name) for name, single in singles], repeats[batch_size], device
            )
            tokens = inputs["input_ids"].shape[1]
            rows.append((set_name, batch_size, tokens, one_pass, k_passes))
            key = f"{set_name}_batch{batch_size}"
            figures[f"mtdnn_{key}_per_s"] = round(batch_size / one_pass, 2)
            figures[f"single_task_models_{key}_per_s"] = round(batch_size / k_passes, 2)
            figures[f"speedup_{key}"] = round(k_passes / one_pass, 2)
            if set_name == "sentences":  # the names earlier runs reported
                figures[f"mtdnn_sentences_per_s_batch{batch_size}"] = figures[f"mtdnn_{key}_per_s"]
    figures["speedup"] = min(figures[f"speedup_sentences_batch{size}"] for size in BATCH_SIZES)
    figures["target_speedup"] = round(0.9 * len(GLUE_HEADS), 2)

    # The parts at batch 64: the encoder alone, then each head alone on its output; the ideal speedup they allow.
    parts, ideal_ratios = [], {}
    for set_name, batches in sets.items():
        inputs = batches[max(BATCH_SIZES)]
        encoder_ms = 1000 * timed(lambda: mtdnn.encoder(**inputs), repeats[64] + 1, device)
        hidden = mtdnn.encoder(**inputs).last_hidden_state
        mask, types = inputs["attention_mask"], inputs.get("token_type_ids")
        head_ms = {
            name: 1000 * timed(lambda head=mtdnn.heads[name]: head(hidden, mask, types, hidden[:, 0]), 20, device)
            for name in GLUE_HEADS
        }
        ideal = sum(encoder_ms + ms for ms in head_ms.values()) / (encoder_ms + sum(head_ms.values()))
        measured = figures[f"speedup_{set_name}_batch64"]
        ideal_ratios[set_name] = (measured / ideal, measured, ideal)
        linear_ms, san_ms = head_ms["sst2"], head_ms["mnli"]
        parts.append((set_name, encoder_ms, linear_ms, san_ms, ideal, measured))
        figures[f"encoder_ms_{set_name}_batch64"] = round(encoder_ms, 2)
        figures[f"linear_head_ms_{set_name}_batch64"] = round(linear_ms, 3)
        figures[f"san_head_ms_{set_name}_batch64"] = round(san_ms, 3)
        figures[f"heads_ms_{set_name}_batch64"] = {name: round(ms, 3) for name, ms in head_ms.items()}
        figures[f"ideal_{set_name}_batch64"] = round(ideal, 2)
    figures["speedup_batch1"] = min(figures[f"speedup_{name}_batch1"] for name in sets)

    # What bounds batch 1: the SAN heads evaluated together cost about the same at batch 1 and 8, as reading their
    # GRU weights (2 x 3d x d per head and step) takes the time, not the arithmetic on one example.
    san_names = [name for name in GLUE_HEADS if mtdnn.config.tasks[name]["head"] == "san"]
    together_ms = {}
    for size in (1, 8):
        inputs = {key: value[:size] for key, value in sets["sentences"][max(BATCH_SIZES)].items()}
        hidden = mtdnn.encoder(**inputs).last_hidden_state
        mask, types = inputs["attention_mask"], inputs.get("token_type_ids")
        together_ms[size] = 1000 * timed(lambda: mtdnn._stacked_san_logits(san_names, hidden, mask, types), 30, device)
    steps = mtdnn.config.tasks[san_names[0]]["san_steps"]
    gru_bytes = sum(
        2 * mtdnn.heads[name].gru.weight_ih.numel() * mtdnn.heads[name].gru.weight_ih.element_size() * steps
        for name in san_names
    )
    figures["san_heads_together_ms_batch1"] = round(together_ms[1], 3)
    figures["san_heads_together_ms_batch8"] = round(together_ms[8], 3)
    figures["san_gru_weight_mb_per_call"] = round(gru_bytes / 2**20, 1)
    figures["san_gru_weight_gb_per_s_batch1"] = round(gru_bytes / 2**30 / (together_ms[1] / 1000), 1)
    worst = min(ideal_ratios, key=lambda name: ideal_ratios[name][0])
    figures["speedup_batch64"] = ideal_ratios[worst][1]
    figures["ideal_batch64"] = round(ideal_ratios[worst][2], 2)
    figures["speedup_batch64_of_ideal"] = round(ideal_ratios[worst][0], 3)
    figures["target_of_ideal"] = 0.95
    encoder_parameters = sum(p.numel() for p in mtdnn.encoder.parameters())
    head_parameters = {name: sum(p.numel() for p in mtdnn.heads[name].parameters()) for name in GLUE_HEADS}
    figures["encoder_parameters"] = encoder_parameters
    figures["head_parameters"] = head_parameters

    san_heads = sum(spec["head"] == "san" for spec in mtdnn.config.tasks.values())
    print(
        f"{len(GLUE_HEADS)} GLUE heads ({', '.join(GLUE_HEADS)}; {san_heads} SAN) on {Path(path).name}, "
        f"device {figures['device']} ({figures['dtype']}), {torch.get_num_threads()} threads"
    )
    print(
        f"{'inputs':<10}{'batch':>6}{'tokens':>7}  {'MT-DNN, 1 pass':>15}  {'K single-task':>14}  {'speedup':>7}"
        f"  {'MT-DNN /s':>10}"
    )
    for set_name, batch_size, tokens, one_pass, k_passes in rows:
        print(
            f"{set_name:<10}{batch_size:>6}{tokens:>7}  {one_pass * 1000:>12.1f} ms  {k_passes * 1000:>11.1f} ms"
            f"  {k_passes / one_pass:>6.2f}x  {batch_size / one_pass:>10.1f}"
        )
    print(
        f"batch 1: speedup {figures['speedup_batch1']:.2f}x at the lowest (target {figures['target_speedup']}, "
        f"0.9 x {len(GLUE_HEADS)}); the {len(san_names)} SAN heads together take "
        f"{figures['san_heads_together_ms_batch1']:.2f} ms at batch 1 and "
        f"{figures['san_heads_together_ms_batch8']:.2f} ms at batch 8, reading "
        f"{figures['san_gru_weight_mb_per_call']} MiB of GRU weights a call "
        f"({figures['san_gru_weight_gb_per_s_batch1']} GiB/s at batch 1)"
    )
    for set_name, encoder_ms, linear_ms, san_ms, ideal, measured in parts:
        print(
            f"batch 64 {set_name}: encoder {encoder_ms:.1f} ms, one linear head {linear_ms:.3f} ms, one SAN head "
            f"{san_ms:.2f} ms ({san_ms / encoder_ms:.1%} of the encoder); ideal speedup {ideal:.2f}x, measured "
            f"{measured:.2f}x = {measured / ideal:.3f} of it (target >= 0.95)"
        )
    print(
        f"encoder parameters {encoder_parameters:,}; per head: "
        + ", ".join(f"{k} {v:,}" for k, v in head_parameters.items())
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
