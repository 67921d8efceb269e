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
"""Mixed-task batches at inference: one call whose rows name their own task, against the same rows grouped by task.

    python benchmarks/bench_mixed_batches.py [--quick] [--model PATH] [--rows 64] [--batches 8] [--repeats 3]
        [--device cuda] [--bf16]

One MT-DNN model on the packaged MiniLM (or `--model`) with six heads of every kind: `mnli` (SAN classification of
sentence pairs), `sst2` (linear classification of single sentences), `ner` (token classification), `stsb`
(regression of pairs, with a LoRA adapter of rank 8 whose weights are set at random, as training would leave them),
`qnli` (ranking: each row one question and candidate sentence) and `squad` (span extraction: a question and a
paragraph). Batches of `--rows` rows (64) drawn from built-in texts, each row's task at random (seeded, every task
present), are served four ways on the same rows:

- `mixed`: the rows tokenized together (padded to the longest), one call with `task_per_row`;
- `mixed, unsplit`: the same call with one encoder pass per adapter group whatever the rows' lengths
  (`MIXED_BATCH_PADDING` set to infinity), to show what a task's own pass for much shorter rows is worth;
- `pre-grouped`: the rows sorted by task beforehand, each task's rows padded to their own longest, one call per task
  with `task_name`;
- `per row`: one call per row, unpadded.

Each way runs on the same `--batches` batches (8) per repeat, the ways alternating; of `--repeats` (3) repeats the
median is reported. Tokenizing and grouping are done beforehand and not timed: the figures are the model's. First,
every row's logits are compared between the ways (on its real tokens for the per-token tasks), which also warms every
way up: the largest difference from the row's call alone is reported, and the run fails beyond float32's rounding
(1e-5; bfloat16's 5e-2 with `--bf16`).

Prints a table, then (last line) one JSON object: `rows`, `tasks`, rows/s of each way (`mixed_rows_per_s`,
`mixed_unsplit_rows_per_s`, `pregrouped_rows_per_s`, `per_row_rows_per_s`), `ratio_to_pregrouped` (target >= 0.9),
`unsplit_ratio_to_pregrouped`, `speedup_over_per_row`, each way's encoder passes and tokens (padding included) per
batch, the largest logit difference (`max_abs_difference`), the repeats' timings, `device` and `dtype`.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inference import SENTENCES  # noqa: E402
from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    inference_device,
    parse_benchmark_args,
    synchronize,
)

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402

NER_TAGS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}
TASKS = {
    "mnli": {"task_type": "classification", "num_labels": 3, "head": "san", "inputs": "pair"},
    "sst2": {"task_type": "classification", "num_labels": 2, "inputs": "single"},
    "ner": {"task_type": "token_classification", "id2label": NER_TAGS},
    "stsb": {"task_type": "regression", "inputs": "pair"},
    "qnli": {"task_type": "ranking"},
    "squad": {"task_type": "span_extraction"},
}
ADAPTER_TASK = "stsb"
ENTITY_SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "Microsoft opened a new office in Nairobi last spring.",
    "Lionel Messi signed with Inter Miami after leaving Barcelona.",
    "The United Nations held its summit in Geneva.",
]
PAIRS = [
    ("A man is playing a guitar on the stage while people listen.", "Someone is making music."),
    ("The committee did not approve the proposal before the deadline.", "The proposal was approved on time."),
    ("Two dogs run through a field of tall grass.", "Animals are outside."),
    ("She reads the newspaper every morning with a cup of coffee.", "She never reads anything."),
]
QUESTIONS = [
    ("Where was the match moved?", "It rained all day, so the match was moved to Sunday."),
    ("Who won the championship?", "Nobody expected the small team to win the championship."),
    ("When does the library open?", "The new library opens to the public next month."),
]
PARAGRAPH = (
    "The city library was founded in 1897 by a group of teachers who wanted every family to have access to books. "
    "It moved twice before settling in the old railway building on the river, where it has stood since 1952. Today "
    "it lends more than two hundred thousand books a year and runs reading classes for children and adults."
)
SPANS = [
    ("When was the library founded?", PARAGRAPH),
    ("Who founded the library?", PARAGRAPH),
    ("Where does the library stand today?", PARAGRAPH),
]
TEXTS = {"mnli": PAIRS, "sst2": SENTENCES, "ner": ENTITY_SENTENCES, "stsb": PAIRS, "qnli": QUESTIONS, "squad": SPANS}


def draw_batch(rows: int, seed: int) -> list[tuple[str, str | tuple[str, str]]]:
    """`rows` (task, text or pair) rows in random order, every task present, each task's texts taken in turn."""
    generator = random.Random(seed)
    names = list(TASKS) + [generator.choice(list(TASKS)) for _ in range(rows - len(TASKS))]
    generator.shuffle(names)
    taken = dict.fromkeys(TASKS, 0)
    batch = []
    for name in names:
        texts = TEXTS[name]
        batch.append((name, texts[(taken[name] + seed) % len(texts)]))
        taken[name] += 1
    return batch


def encode(tokenizer, rows: list[tuple[str, str | tuple[str, str]]], device) -> dict[str, torch.Tensor]:
    """The rows tokenized one by one (a single text or a pair each, truncated to 384 tokens) and padded together."""
    features = [
        tokenizer(*(text if isinstance(text, tuple) else (text,)), truncation=True, max_length=384) for _, text in rows
    ]
    return tokenizer.pad(features, return_tensors="pt").to(device)


def prepare(tokenizer, batch, device) -> dict:
    """The three ways' inputs of one batch: the mixed call's, each task's rows padded alone, and each row alone."""
    names = [name for name, _ in batch]
    groups = {name: [row for row, task in enumerate(names) if task == name] for name in dict.fromkeys(names)}
    return {
        "names": names,
        "mixed": encode(tokenizer, batch, device),
        "grouped": {
            name: (rows, encode(tokenizer, [batch[row] for row in rows], device)) for name, rows in groups.items()
        },
        "rows": [encode(tokenizer, [row], device) for row in batch],
    }


@contextlib.contextmanager
def unsplit(model):
    """Mixed calls with one encoder pass per adapter group, whatever the rows' lengths (no pass of its own)."""
    model.MIXED_BATCH_PADDING = math.inf
    try:
        yield
    finally:
        del model.MIXED_BATCH_PADDING


def run_mixed(model, prepared) -> tuple[torch.Tensor, ...]:
    return model(**prepared["mixed"], task_per_row=prepared["names"]).row_logits


def run_unsplit(model, prepared) -> tuple[torch.Tensor, ...]:
    with unsplit(model):
        return run_mixed(model, prepared)


def run_grouped(model, prepared) -> list[torch.Tensor]:
    results: list[torch.Tensor | None] = [None] * len(prepared["names"])
    for name, (rows, inputs) in prepared["grouped"].items():
        for row, logits in zip(rows, model(**inputs, task_name=name).logits):
            results[row] = logits
    return results


def run_per_row(model, prepared) -> list[torch.Tensor]:
    return [model(**inputs, task_name=name).logits[0] for name, inputs in zip(prepared["names"], prepared["rows"])]


WAYS = {"mixed": run_mixed, "mixed, unsplit": run_unsplit, "pre-grouped": run_grouped, "per row": run_per_row}


def largest_difference(model, prepared) -> float:
    """The largest difference of any row's logits between a call of its task alone and the other ways (real tokens)."""
    results = {way: run(model, prepared) for way, run in WAYS.items()}
    worst = 0.0
    for row in range(len(prepared["names"])):
        tokens = int(prepared["rows"][row]["attention_mask"].sum())
        ways = [results[way][row].float() for way in WAYS]
        if ways[0].dim() == 2:  # per-token logits: the row's own tokens (right padding)
            ways = [logits[:tokens] for logits in ways]
        worst = max(worst, *((logits - ways[-1]).abs().max().item() for logits in ways[:-1]))
    return worst


def plan(model, prepared) -> dict[str, tuple[int, int]]:
    """`(encoder passes, tokens fed to the encoder, padding included)` of each way on one batch."""
    rows_of = {name: rows for name, (rows, _) in prepared["grouped"].items()}
    lengths = [int(row.nonzero().max()) + 1 for row in prepared["mixed"]["attention_mask"]]

    def mixed() -> tuple[int, int]:
        passes = model._mixed_passes(rows_of, lengths)
        return len(passes), sum(length * sum(len(rows_of[name]) for name in names) for _, length, names in passes)

    with unsplit(model):
        unsplit_plan = mixed()
    grouped = sum(inputs["input_ids"].numel() for _, inputs in prepared["grouped"].values())
    return {
        "mixed": mixed(),
        "mixed, unsplit": unsplit_plan,
        "pre-grouped": (len(rows_of), grouped),
        "per row": (len(lengths), sum(lengths)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: one batch of at most 24 rows, one repeat.")
    parser.add_argument("--rows", type=int, default=64, help="Rows per mixed batch (at least one per task: 6).")
    parser.add_argument("--batches", type=int, default=8, help="Batches (different rows) timed per repeat.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed repeats; the median counts.")
    args = parse_benchmark_args(parser, argv)
    if args.rows < len(TASKS):
        parser.error(f"--rows {args.rows}: at least {len(TASKS)}, one row per task.")
    with torch.no_grad():  # not torch.set_grad_enabled(False): a caller's later training keeps its gradients
        return _run(args)


def _run(args) -> dict:
    torch.manual_seed(0)
    device, dtype = inference_device(args), torch.bfloat16 if args.bf16 else torch.float32
    tolerance = 5e-2 if args.bf16 else 1e-5
    rows, batches, repeats = (min(args.rows, 24), 1, 1) if args.quick else (args.rows, args.batches, args.repeats)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = MTDNNForMultiTask.from_encoder(args.model, tasks=TASKS).eval()
    model.add_task_adapter(ADAPTER_TASK, r=8)
    generator = torch.Generator().manual_seed(5)
    for name, parameter in model.named_parameters():  # B starts at zero: give the adapter an effect
        if f"lora_B.{ADAPTER_TASK}." in name:
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    model = model.to(device, dtype)
    prepared = [prepare(tokenizer, draw_batch(rows, seed), device) for seed in range(batches)]

    difference = max(largest_difference(model, batch) for batch in prepared)  # every way warmed up too
    if difference > tolerance:
        raise SystemExit(f"The ways disagree: a logit differs by {difference:.3g} (tolerance {tolerance}).")
    seconds = {way: [] for way in WAYS}
    for _ in range(repeats):
        for way, run in WAYS.items():  # alternating, so the ways share the machine's moods
            synchronize(device)
            start = time.perf_counter()
            for batch in prepared:
                run(model, batch)
            synchronize(device)
            seconds[way].append(time.perf_counter() - start)
    per_second = {way: rows * batches / statistics.median(seconds[way]) for way in WAYS}
    plans = [plan(model, batch) for batch in prepared]
    passes = {way: statistics.mean(batch[way][0] for batch in plans) for way in WAYS}
    tokens = {way: statistics.mean(batch[way][1] for batch in plans) for way in WAYS}
    keys = {"mixed": "mixed", "mixed, unsplit": "mixed_unsplit", "pre-grouped": "pregrouped", "per row": "per_row"}
    figures = {
        "rows": rows,
        "batches": batches,
        "repeats": repeats,
        "tasks": len(TASKS),
        "task_rows": {name: sum(batch["names"].count(name) for batch in prepared) for name in TASKS},
        "adapter_task": ADAPTER_TASK,
        "encoder": model.config.encoder_name_or_path or model.config.encoder_hint or Path(args.model).name,
        **device_figures(args),
        "threads": torch.get_num_threads(),
        **{f"{keys[way]}_rows_per_s": round(per_second[way], 1) for way in WAYS},
        "ratio_to_pregrouped": round(per_second["mixed"] / per_second["pre-grouped"], 3),
        "target_ratio": 0.9,
        "unsplit_ratio_to_pregrouped": round(per_second["mixed, unsplit"] / per_second["pre-grouped"], 3),
        "speedup_over_per_row": round(per_second["mixed"] / per_second["per row"], 2),
        **{f"{keys[way]}_encoder_passes": round(passes[way], 2) for way in WAYS},
        **{f"{keys[way]}_tokens_per_batch": round(tokens[way]) for way in WAYS},
        "max_abs_difference": float(f"{difference:.3g}"),
        "seconds": {keys[way]: [round(value, 3) for value in values] for way, values in seconds.items()},
    }

    print(
        f"{len(TASKS)} tasks ({', '.join(TASKS)}; {ADAPTER_TASK} with a LoRA adapter) on {figures['encoder']}, "
        f"{batches} batches of {rows} rows a repeat, median of {repeats}; device {figures['device']} "
        f"({figures['dtype']}), {figures['threads']} threads"
    )
    print(f"{'way':<16}{'rows/s':>9}{'encoder passes':>16}{'tokens':>8}  seconds per repeat")
    for way in WAYS:
        print(
            f"{way:<16}{per_second[way]:>9.1f}{passes[way]:>16.2f}{tokens[way]:>8.0f}  {figures['seconds'][keys[way]]}"
        )
    print(
        f"mixed / pre-grouped {figures['ratio_to_pregrouped']:.3f} (target >= 0.9; one pass per adapter group, "
        f"unsplit by length: {figures['unsplit_ratio_to_pregrouped']:.3f}); mixed / per row "
        f"{figures['speedup_over_per_row']:.2f}x; largest logit difference {difference:.2g} (tolerance {tolerance})"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
