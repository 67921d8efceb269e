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
"""Training throughput: MTDNNTrainer on a mix of GLUE tasks against the stock Trainer on the same examples.

    python benchmarks/bench_train.py [--quick] [--data_dir DIR] [--model PATH] [--device cuda] [--bf16]
        [--batch_size 32] [--steps 30] [--rounds 3]

Both arms train the same encoder on the same tokenized examples (RTE, STS-B, CoLA, SST-2 from the local GLUE copy)
in the same single-task batches (the stock arm reads them in the MT-DNN sampler's order) with the same padding
policy, alternating in one process. The stock arm is
`AutoModelForSequenceClassification` under `transformers.Trainer` with `DataCollatorWithPadding`, its labels the
examples' class ids (STS-B's rounded), so only the training machinery differs; MT-DNN uses linear heads here for
the same reason. A third arm pads every batch to 128 tokens, as `run_glue.py` does by default. Incomplete batches
are dropped (`dataloader_drop_last`), so at any `--batch_size` both arms read the same full batches; each task gets
`--steps` batches' worth of rows (fewer when its train split is smaller), and the arms run at most as many steps
as one epoch holds. Tokens/s count the padded tokens of the timed batches, and model TFLOP/s are
6 x encoder parameters x tokens/s (forward and backward of the encoder's matrix multiplications, attention left out).

Length grouping (`train_sampling_strategy="group_by_length"`) changes which examples a fixed number of steps
sees, so its arms each train one whole epoch over the same examples (all of them, 4 x the steps of the other arms):
MTDNNTrainer with random batches, MTDNNTrainer grouped by length within each task, and the stock Trainer grouped by
its `LengthGroupedSampler` over all the examples (free to mix tasks in a batch, which MT-DNN is not).
The `eval` arm times `MTDNNTrainer.evaluate` over 500 dev rows per task, reading them in order and grouped by length
(sorted, then put back in dataset order), alternating, and prints both average scores (equal up to rounding).
`--dev_scores` adds 3 rounds of real training (1,000 examples per task, one epoch, the paper's heads) with random
and with length-grouped batches, alternating in one process, and scores the dev sets (500 examples each).

Prints a table, then (last line) one JSON object: `ratio` (ours / stock examples/s, target >= 0.97),
`dynamic_padding_gain` (dynamic / padded-to-128 examples/s), `group_by_length_gain` (grouped / random batches,
MTDNNTrainer, target >= 1.3), `group_by_length_ratio` (ours / stock, both grouped, target >= 0.97),
`group_by_length_ratio_stock_mega_batches` (the same with each task grouped in the stock arm's mega-batch size,
`--group_by_length_mega_batches`), `eval_group_by_length_gain` (evaluation rows/s, grouped / in order), the dev scores
with `--dev_scores`, `device` and `dtype` (`--device`, `--bf16`; on a GPU every step is timed between two
`torch.cuda.synchronize()`), `mtdnn_tokens_per_s` / `stock_tokens_per_s`, `encoder_parameters`,
`mtdnn_model_tflops_per_s` / `stock_model_tflops_per_s`, and the raw figures.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    device_figures,
    inference_device,
    parse_benchmark_args,
    parse_subset,
    synchronize,
    training_device_settings,
)

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from mtdnn.training.arguments import MTDNNTrainingArguments  # noqa: E402
from mtdnn.training.collator import MultiTaskDataCollator  # noqa: E402
from mtdnn.training.samplers import MultiTaskBatchSampler  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402
from mtdnn.training.task_sets import build_task_sets  # noqa: E402
from mtdnn.training.trainer import MTDNNTrainer  # noqa: E402

TASKS = ["rte", "stsb", "cola", "sst2"]


class StepClock(TrainerCallback):
    """
    Examples (and tokens) per second over the optimizer steps after the first (warm-up) one; on a GPU each step is
    timed between two `torch.cuda.synchronize()`, so its queued work is in its time.
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.times = []
        self.device = device

    def on_step_begin(self, args, state, control, **kwargs):
        synchronize(self.device)
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        synchronize(self.device)
        self.times.append(time.perf_counter() - self.start)

    def examples_per_second(self, batch_size: int) -> float:
        return batch_size * (len(self.times) - 1) / sum(self.times[1:])

    def tokens_per_second(self, tokens: list[int]) -> float:
        """`tokens[i]`: the (padded) tokens of step i's batch; the steps after the first over their time."""
        return sum(tokens[1 : len(self.times)]) / sum(self.times[1:])

    def epoch_examples_per_second(self, examples: int) -> float:
        """A whole epoch's examples over the time of all its steps."""
        return examples / sum(self.times)


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "Few steps: under a minute on 2 cores.", "Local GLUE copy.")
    parser.add_argument(
        "--dev_scores", action="store_true", help="Also train 3 rounds per arm and score the dev sets."
    )
    parser.add_argument(
        "--arms",
        default="steps,epoch,eval",
        help="steps (fixed steps: ours, stock, padded), epoch (length grouping), eval (evaluation by length).",
    )
    parser.add_argument("--batch_size", type=int, default=None, help="Training batch size (default 32; quick 16).")
    parser.add_argument("--steps", type=int, default=None, help="Optimizer steps per run (default 30; quick 6).")
    parser.add_argument("--rounds", type=int, default=None, help="Timed rounds per arm, after one warm-up (3; 1).")
    parser.add_argument(
        "--optim",
        default=None,
        help="The optimizer of both arms (a transformers OptimizerNames, e.g. adamw_torch_fused); default AdamW.",
    )
    parser.add_argument(
        "--torch_compile", action="store_true", help="Both arms' models under torch.compile (TrainingArguments)."
    )
    args = parse_benchmark_args(parser, argv)
    arms = parse_subset(parser, "--arms", args.arms, ["steps", "epoch", "eval"])
    steps, rounds, batch_size = (6, 1, 16) if args.quick else (30, 3, 32)
    for flag, value, least, why in (
        ("--batch_size", args.batch_size, 1, ""),
        ("--steps", args.steps, 2, " (a run's first step warms up and is not timed)"),
        ("--rounds", args.rounds, 1, ""),
    ):
        if value is not None and value < least:
            parser.error(f"{flag} {value}: must be at least {least}{why}.")
    steps, rounds, batch_size = args.steps or steps, args.rounds or rounds, args.batch_size or batch_size
    device = inference_device(args)
    per_task = steps * batch_size  # enough examples that no task runs out (fewer where a train split is smaller)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    specs = load_task_specs(TASKS)
    train = build_task_sets(
        specs, tokenizer, train=True, data_dir=args.data_dir, max_seq_length=128, seed=0, max_train_samples=per_task
    ).train_sets
    heads = {name: dataclasses.replace(spec, head="linear").model_spec() for name, spec in specs.items()}
    # The stock arm: the same examples in the same batches (the MT-DNN sampler's order, read sequentially), one
    # classification head, integer labels. Batches of one task are padded alike in both arms.
    sampler = MultiTaskBatchSampler(
        {name: len(dataset) for name, dataset in train.items()}, batch_size, seed=0, drop_last=True
    )
    batches = list(sampler)
    if len(batches) < steps:
        print(f"--steps {steps}: one epoch holds {len(batches)} full batches of {batch_size}; running {len(batches)}.")
        steps = len(batches)
    order = [index for batch in batches for index in batch]
    stock_rows = datasets.concatenate_datasets(
        [
            ds.map(lambda row: {"stock_labels": int(round(row["labels"])) % 2})
            .remove_columns(["labels", "task_name"])
            .rename_column("stock_labels", "labels")
            for ds in train.values()
        ]
    ).select(order)
    lengths = [len(ids) for ids in stock_rows["input_ids"]]
    # The tokens of each step's batch padded to its longest row (the same batches in both dynamic-padding arms).
    tokens = [batch_size * max(lengths[k * batch_size : (k + 1) * batch_size]) for k in range(steps)]
    encoder_parameters = _parameters(args.model)

    common = {
        "per_device_train_batch_size": batch_size,
        "max_steps": steps,
        "learning_rate": 2e-5,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "logging_steps": steps,
        **training_device_settings(args),
        "dataloader_pin_memory": args.device != "cpu",
        "dataloader_drop_last": True,
        "seed": 0,
        "torch_compile": args.torch_compile,
        **({"optim": args.optim} if args.optim else {}),
    }
    speeds: dict[str, list[float]] = {"mtdnn": [], "stock": []}  # tokens/s of the dynamic-padding arms

    # transformers groups lengths in mega-batches of up to 50 batches, at least 4 per dataset: each task needs
    # several batches' worth of examples for grouping to change anything, as real tasks have.
    quarter, quarter_rows = train, stock_rows
    epoch = {key: value for key, value in common.items() if key != "max_steps"} | {"num_train_epochs": 1}

    def run_mtdnn(padding: str, strategy: str = "random", whole_epoch: bool = False, **extra) -> float:
        clock = StepClock(device)
        settings = (epoch if whole_epoch else common) | extra
        with tempfile.TemporaryDirectory() as output:
            trainer = MTDNNTrainer(
                model=MTDNNForMultiTask.from_encoder(args.model, tasks=heads),
                args=MTDNNTrainingArguments(output_dir=output, train_sampling_strategy=strategy, **settings),
                train_dataset=quarter if whole_epoch else train,
                data_collator=MultiTaskDataCollator(tokenizer, padding=padding, max_length=128),
                callbacks=[clock],
            )
            trainer.train()
        if whole_epoch:
            return clock.epoch_examples_per_second(sum(len(dataset) for dataset in quarter.values()))
        if padding == "longest":
            speeds["mtdnn"].append(clock.tokens_per_second(tokens))
        return clock.examples_per_second(batch_size)

    def run_stock(strategy: str = "sequential", whole_epoch: bool = False) -> float:
        clock = StepClock(device)
        settings = epoch if whole_epoch else common
        with tempfile.TemporaryDirectory() as output:
            trainer = Trainer(
                model=AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2),
                args=TrainingArguments(output_dir=output, train_sampling_strategy=strategy, **settings),
                train_dataset=quarter_rows if whole_epoch else stock_rows,
                data_collator=DataCollatorWithPadding(tokenizer),
                callbacks=[clock],
            )
            trainer.train()
        if whole_epoch:
            return clock.epoch_examples_per_second(len(quarter_rows))
        speeds["stock"].append(clock.tokens_per_second(tokens))
        return clock.examples_per_second(batch_size)

    # The stock sampler cuts all examples into mega-batches of min(examples // (4 x batch), 50) batches; ours cuts each
    # task by the same rule, so a task with fewer than 200 batches gets smaller groups (more padding). The last arm
    # gives each task the stock arm's mega-batch size, to measure how much of the gap that is.
    stock_mega_batches = max(1, min(len(quarter_rows) // (batch_size * 4), 50))
    ours, stock, padded, ungrouped, grouped, stock_grouped, same_groups = [], [], [], [], [], [], []
    nothing = lambda *arguments, **keywords: float("nan")  # noqa: E731  (an arm left out)
    steps_mtdnn, steps_stock = (run_mtdnn, run_stock) if "steps" in arms else (nothing, nothing)
    epoch_mtdnn, epoch_stock = (run_mtdnn, run_stock) if "epoch" in arms else (nothing, nothing)
    for round_ in range(rounds + 1):  # alternate the arms so drifts in machine load hit both alike
        figures = (
            steps_mtdnn("longest"),
            steps_stock(),
            steps_mtdnn("max_length"),
            epoch_mtdnn("longest", "random", whole_epoch=True),
            epoch_mtdnn("longest", "group_by_length", whole_epoch=True),
            epoch_stock("group_by_length", whole_epoch=True),
            epoch_mtdnn(
                "longest", "group_by_length", whole_epoch=True, group_by_length_mega_batches=stock_mega_batches
            ),
        )
        if round_ > 0:  # round 0 warms every kernel and sequence shape up for all arms
            for series, value in zip((ours, stock, padded, ungrouped, grouped, stock_grouped, same_groups), figures):
                series.append(value)
    figures = {
        "encoder": Path(args.model).name,
        **device_figures(args),
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "steps_per_run": steps,
        "optim": args.optim or "adamw_torch",
        "torch_compile": args.torch_compile,
        "rounds": rounds,
        "mtdnn_examples_per_s": round(statistics.median(ours), 2),
        "stock_examples_per_s": round(statistics.median(stock), 2),
        "mtdnn_padded_to_128_examples_per_s": round(statistics.median(padded), 2),
        "ratio": round(statistics.median(ours) / statistics.median(stock), 3),
        "target_ratio": 0.97,
        "dynamic_padding_gain": round(statistics.median(ours) / statistics.median(padded), 2),
        "mtdnn_epoch_random_examples_per_s": round(statistics.median(ungrouped), 2),
        "mtdnn_grouped_examples_per_s": round(statistics.median(grouped), 2),
        "stock_grouped_examples_per_s": round(statistics.median(stock_grouped), 2),
        "group_by_length_gain": round(statistics.median(grouped) / statistics.median(ungrouped), 3),
        "target_group_by_length_gain": 1.3,
        "group_by_length_ratio": round(statistics.median(grouped) / statistics.median(stock_grouped), 3),
        "stock_mega_batches": stock_mega_batches,
        "mtdnn_grouped_stock_mega_batches_examples_per_s": round(statistics.median(same_groups), 2),
        "group_by_length_ratio_stock_mega_batches": round(
            statistics.median(same_groups) / statistics.median(stock_grouped), 3
        ),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "encoder_parameters": encoder_parameters,
    }
    if "steps" in arms:  # speeds[...][0] is the warm-up round
        for arm in ("mtdnn", "stock"):
            per_second = statistics.median(speeds[arm][1:])
            figures[f"{arm}_tokens_per_s"] = round(per_second, 1)
            figures[f"{arm}_model_tflops_per_s"] = round(6 * encoder_parameters * per_second / 1e12, 3)
    if args.device != "cpu":
        figures["peak_device_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(
        f"{Path(args.model).name} training on {', '.join(TASKS)}: batch {batch_size}, "
        f"{steps} steps x {rounds} rounds per arm (+1 warm-up), device {figures['device']}, {figures['dtype']}"
    )
    print(f"{'arm':<38}{'examples/s (median)':>20}")
    print(f"{'MTDNNTrainer, dynamic padding':<38}{figures['mtdnn_examples_per_s']:>20.2f}")
    print(f"{'stock Trainer, dynamic padding':<38}{figures['stock_examples_per_s']:>20.2f}")
    print(f"{'MTDNNTrainer, padded to 128':<38}{figures['mtdnn_padded_to_128_examples_per_s']:>20.2f}")
    print(f"{'one epoch: MTDNNTrainer, random':<38}{figures['mtdnn_epoch_random_examples_per_s']:>20.2f}")
    print(f"{'one epoch: MTDNNTrainer, by length':<38}{figures['mtdnn_grouped_examples_per_s']:>20.2f}")
    print(f"{'one epoch: stock Trainer, by length':<38}{figures['stock_grouped_examples_per_s']:>20.2f}")
    print(
        f"{f'one epoch: ours, {stock_mega_batches}-batch groups':<38}"
        f"{figures['mtdnn_grouped_stock_mega_batches_examples_per_s']:>20.2f}"
    )
    print(
        f"ratio ours/stock {figures['ratio']:.3f} (target >= 0.97); "
        f"dynamic padding gain {figures['dynamic_padding_gain']:.2f}x; "
        f"group_by_length gain {figures['group_by_length_gain']:.3f}x (target >= 1.3), "
        f"grouped ours/stock {figures['group_by_length_ratio']:.3f} (target >= 0.97), "
        f"with the stock mega-batch size {figures['group_by_length_ratio_stock_mega_batches']:.3f}"
    )
    if "steps" in arms:
        print(
            f"tokens/s: MTDNNTrainer {figures['mtdnn_tokens_per_s']:.0f}, stock {figures['stock_tokens_per_s']:.0f}; "
            f"model TFLOP/s (6 x {encoder_parameters:,} encoder parameters x tokens/s): "
            f"{figures['mtdnn_model_tflops_per_s']:.3f} and {figures['stock_model_tflops_per_s']:.3f}"
        )
    if "eval" in arms:
        figures |= evaluation_speed(args, tokenizer, specs, rounds, eval_rows=32 if args.quick else 500)
    if args.dev_scores:
        figures |= dev_scores(args, tokenizer, specs)
    print(json.dumps(figures))
    return figures


def _parameters(model: str) -> int:
    """The encoder's parameter count, from its config alone (built on the meta device: no weights read)."""
    with torch.device("meta"):
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(model))
    return sum(parameter.numel() for parameter in encoder.parameters())


def evaluation_speed(args, tokenizer, specs, rounds: int, eval_rows: int) -> dict:
    """
    `MTDNNTrainer.evaluate` over the first `eval_rows` dev rows of every task (the paper's heads, batch 64), reading
    the rows in order and in batches grouped by length (`group_by_length`), alternating; rows/s and both scores.
    """
    sets = build_task_sets(
        specs, tokenizer, evaluate=True, data_dir=args.data_dir, max_seq_length=128, max_eval_samples=eval_rows
    )
    evaluation, eval_specs = sets.eval_sets, sets.eval_specs
    rows = sum(len(dataset) for dataset in evaluation.values())
    model = MTDNNForMultiTask.from_encoder(args.model, tasks={name: spec.model_spec() for name, spec in specs.items()})
    speeds: dict[str, list[float]] = {"random": [], "group_by_length": []}
    averages: dict[str, float] = {}
    for round_ in range(rounds + 1):  # round 0 warms up
        for strategy in speeds:
            with tempfile.TemporaryDirectory() as output:
                trainer = MTDNNTrainer(
                    model=model,
                    args=MTDNNTrainingArguments(
                        output_dir=output,
                        train_sampling_strategy=strategy,
                        per_device_eval_batch_size=64,
                        report_to=[],
                        disable_tqdm=True,
                        **training_device_settings(args),
                    ),  # fmt: skip
                    eval_dataset=evaluation,
                    eval_specs=eval_specs,
                    data_collator=MultiTaskDataCollator(tokenizer),
                )
                start = time.perf_counter()
                averages[strategy] = trainer.evaluate()["eval_average"]
                seconds = time.perf_counter() - start
            if round_ > 0:
                speeds[strategy].append(rows / seconds)
    sequential, grouped = (statistics.median(speeds[strategy]) for strategy in speeds)
    print(
        f"evaluation, {rows} dev rows of {', '.join(evaluation)}: rows/s in order {sequential:.1f}, "
        f"grouped by length {grouped:.1f} ({grouped / sequential:.2f}x); average score "
        f"{averages['random']:.6f} and {averages['group_by_length']:.6f}"
    )
    return {
        "eval_rows": rows,
        "eval_in_order_rows_per_s": round(sequential, 2),
        "eval_grouped_rows_per_s": round(grouped, 2),
        "eval_group_by_length_gain": round(grouped / sequential, 3),
        "eval_average_in_order": averages["random"],
        "eval_average_grouped": averages["group_by_length"],
    }


def dev_scores(args, tokenizer, specs, rounds: int = 3, per_task: int = 1000, eval_rows: int = 500) -> dict:
    """Trains with random and with length-grouped batches in alternating rounds; the dev scores of each."""
    # train_fraction 1.0: every train row, shuffled with seed 0, so the first per_task rows are a seeded sample
    sets = build_task_sets(
        specs,
        tokenizer,
        train=True,
        evaluate=True,
        data_dir=args.data_dir,
        max_seq_length=128,
        seed=0,
        max_train_samples=per_task,
        train_fraction=1.0,
        max_eval_samples=eval_rows,
    )
    train, evaluation, eval_specs = sets.train_sets, sets.eval_sets, sets.eval_specs
    tasks = {name: spec.model_spec() for name, spec in specs.items()}
    scores: dict[str, list[dict[str, float]]] = {"random": [], "group_by_length": []}
    speeds: dict[str, list[float]] = {"random": [], "group_by_length": []}
    for seed in range(rounds):
        for strategy in scores:
            clock = StepClock(inference_device(args))
            with tempfile.TemporaryDirectory() as output:
                torch.manual_seed(seed)
                trainer = MTDNNTrainer(
                    model=MTDNNForMultiTask.from_encoder(args.model, tasks=tasks, pooling="mean"),
                    args=MTDNNTrainingArguments(
                        output_dir=output,
                        optim="adamax",
                        learning_rate=1e-4,
                        warmup_steps=0.1,
                        per_device_train_batch_size=32,
                        num_train_epochs=1,
                        seed=seed,
                        train_sampling_strategy=strategy,
                        save_strategy="no",
                        report_to=[],
                        disable_tqdm=True,
                        **training_device_settings(args),
                        logging_steps=1000,
                    ),  # fmt: skip
                    train_dataset=train,
                    eval_dataset=evaluation,
                    eval_specs=eval_specs,
                    data_collator=MultiTaskDataCollator(tokenizer),
                    callbacks=[clock],
                )
                trainer.train()
                metrics = trainer.evaluate()
            speeds[strategy].append(clock.epoch_examples_per_second(sum(len(d) for d in train.values())))
            scored = ("accuracy", "pearson", "spearmanr", "correlation", "average")
            scores[strategy].append({key[5:]: value for key, value in metrics.items() if key.endswith(scored)})
    keys = list(scores["random"][0])
    summary = {}
    print(f"dev scores after one epoch, {per_task} examples per task, {rounds} seeds (mean +- sd)")
    print(f"{'metric':<34}{'random':>18}{'by length':>18}{'difference':>12}")
    for key in keys:
        both = [[round_[key] for round_ in scores[strategy]] for strategy in scores]
        means = [statistics.mean(values) for values in both]
        spreads = [statistics.stdev(values) if len(values) > 1 else 0.0 for values in both]
        cells = "".join(f"{mean:>10.4f} +- {spread:.3f}" for mean, spread in zip(means, spreads))
        print(f"{key:<34}{cells}{means[1] - means[0]:>+12.4f}")
        summary[f"dev_{key}_random"] = [round(v, 4) for v in both[0]]
        summary[f"dev_{key}_grouped"] = [round(v, 4) for v in both[1]]
    gain = statistics.median(speeds["group_by_length"]) / statistics.median(speeds["random"])
    random_speed, grouped_speed = statistics.median(speeds["random"]), statistics.median(speeds["group_by_length"])
    print(f"examples/s over the epoch: random {random_speed:.1f}, by length {grouped_speed:.1f} ({gain:.2f}x)")
    summary["dev_run_gain"] = round(gain, 3)
    return summary


if __name__ == "__main__":
    main()
