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
"""CoNLL-2003 entity F1 and SQuAD exact match / F1 three ways, with the same data, budget, length and recipe:

- `stock`: transformers' own `AutoModelForTokenClassification` / `AutoModelForQuestionAnswering` with the stock
  `Trainer` (the features are the same windows and first-sub-token labels ours train on);
- `single`: `run_mtdnn.py` on the task alone;
- `multi`: `run_mtdnn.py` on the task inside a multi-task run with GLUE tasks (RTE, STS-B, MNLI), the same number
  of epochs (so more steps in all).

    python benchmarks/bench_ner_qa.py --data_dir ../shared/data [--seeds 3] [--results_dir outputs/ner_qa]
        [--tasks conll2003,squad] [--glue_train_samples 500] [--first_seed 0] [--device cuda] [--bf16]

`--glue_train_samples` caps the GLUE tasks of the `multi` arm (the first rows of each train split), so the mix stays
affordable beside NER's and SQuAD's own rows; `--tasks` runs one task's cells, so two processes can share the work
(one for each task, or `--first_seed` for one seed range each; a last run with both tasks and every seed prints the
whole table from the saved results).

`--data_dir` holds the local copies `glue/`, `conll2003/` and `squad/` (SQuAD's train split there is a subset of
44 of its 442 articles: say "a SQuAD train subset" when reporting). Every (arm, task, seed) result is a JSON file in
`--results_dir`; a rerun resumes. It prints a table of mean and spread per task and arm and (last line) one JSON
object of the figures (with `device` and `dtype`: every arm trains on `--device`, under `--bf16` if given).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    cli_device_flags,
    device_figures,
    parse_benchmark_args,
    parse_subset,
    training_device_settings,
)
from reproduce_paper import redeclared_task_file, run_once  # noqa: E402

from modeling_mtdnn.saving import atomic_file  # noqa: E402
from mtdnn.training.metrics import compute_task_metrics, span_answers, task_score, token_tag_sequences  # noqa: E402
from mtdnn.training.task_files import load_task_specs  # noqa: E402
from mtdnn.training.task_sets import build_task_sets  # noqa: E402

TASKS = {"conll2003": "seqeval", "squad": "squad"}
GLUE_MIX = ["rte", "stsb", "mnli"]
ARMS = {"stock": "stock transformers", "single": "ours, single-task", "multi": "ours, multi-task with GLUE"}


def stock_run(task: str, args, seed: int, output_dir: Path) -> dict:
    """transformers' own model class and Trainer on the features our task preparation builds."""
    import torch
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(seed)
    spec = load_task_specs([task])[task]
    length = args.max_seq_length if task == "conll2003" else args.qa_max_seq_length
    spec.max_seq_length, spec.doc_stride = length, (args.doc_stride if task == "squad" else None)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    sets = build_task_sets(
        {task: spec},
        tokenizer,
        train=True,
        evaluate=True,
        data_dir=args.data_dir,
        max_seq_length=length,
        seed=seed,
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
    )
    splits = {"train": sets.train_sets[task], "validation": sets.eval_sets[task]}
    if task == "conll2003":
        model = AutoModelForTokenClassification.from_pretrained(
            args.model,
            id2label=dict(enumerate(spec.label_names)),
            label2id={n: i for i, n in enumerate(spec.label_names)},
        )
        keep = ["input_ids", "attention_mask", "token_type_ids", "labels"]
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(args.model)
        keep = ["input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"]
        for role, features in splits.items():
            starts = [label["start"] for label in features["labels"]]
            ends = [label["end"] for label in features["labels"]]
            splits[role] = features.add_column("start_positions", starts).add_column("end_positions", ends)
        collator = DataCollatorWithPadding(tokenizer)
    training_args = TrainingArguments(
        output_dir=str(output_dir), seed=seed, learning_rate=args.learning_rate,
        per_device_train_batch_size=32, per_device_eval_batch_size=64, num_train_epochs=args.epochs,
        warmup_steps=0.1, max_grad_norm=1.0, lr_scheduler_type="linear", save_strategy="no", report_to=[],
        disable_tqdm=True, remove_unused_columns=False, **training_device_settings(args),
    )  # fmt: skip
    columns = lambda features: features.select_columns([c for c in keep if c in features.column_names])  # noqa: E731
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=columns(splits["train"]),
        data_collator=collator,
        processing_class=tokenizer,
        optimizer_cls_and_kwargs=(torch.optim.Adamax, {"lr": args.learning_rate}),  # the paper's, as ours
    )
    started = time.perf_counter()
    trainer.train()
    train_runtime = time.perf_counter() - started
    output = trainer.predict(columns(splits["validation"]))
    evaluation = splits["validation"]
    if task == "conll2003":
        logits = output.predictions
        predicted, gold = token_tag_sequences(logits, evaluation["labels"], dict(enumerate(spec.label_names)))
        metrics = compute_task_metrics(task, "seqeval", predicted, gold)
    else:
        start_logits, end_logits = output.predictions
        logits = torch.stack([torch.as_tensor(start_logits), torch.as_tensor(end_logits)], dim=-1).numpy()
        answers = span_answers(logits, evaluation, spec.n_best_size, spec.max_answer_length)
        gold = dict(zip(evaluation["example_id"], evaluation["answer_texts"]))
        examples = sorted(gold)
        predicted = [answers[i]["answer"] for i in examples]
        metrics = compute_task_metrics(task, "squad", predicted, [gold[i] for i in examples])
    return {f"eval_{task}_{name}": value for name, value in metrics.items()} | {"train_runtime": train_runtime}


def glue_mix_task_file(path: Path, rows: int | None) -> Path:
    """The multi arm's GLUE tasks as built in, each trained on the first `rows` rows of its train split."""
    sliced = lambda spec: {"splits": {**spec.splits, "train": f"{spec.splits['train']}[:{rows}]"}}  # noqa: E731
    return redeclared_task_file(path, GLUE_MIX, sliced if rows is not None else lambda spec: {})


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "A smoke run: tiny samples, one seed.", "Folder of local copies (glue, ...).")
    parser.add_argument("--results_dir", default="outputs/ner_qa")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first_seed", type=int, default=0, help="Run seeds first_seed..seeds-1 only (split seeds across processes)."
    )
    parser.add_argument("--max_train_samples", type=int, default=2000, help="Per task (SQuAD: questions).")
    parser.add_argument("--max_eval_samples", type=int, default=1000)
    parser.add_argument("--max_seq_length", type=int, default=128, help="NER and the GLUE tasks.")
    parser.add_argument("--qa_max_seq_length", type=int, default=256, help="SQuAD's windows.")
    parser.add_argument("--doc_stride", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"A subset of {', '.join(TASKS)}.")
    parser.add_argument(
        "--glue_train_samples", type=int, default=None, help="Training rows per GLUE task of the multi arm."
    )
    args = parse_benchmark_args(parser, argv)
    tasks = parse_subset(parser, "--tasks", args.tasks, TASKS)
    if args.data_dir is None:
        parser.error(
            "--data_dir (or MTDNN_DATA_DIR) must name the folder of local copies (glue/, conll2003/, squad/)."
        )
    if args.quick:
        args.seeds, args.max_train_samples, args.max_eval_samples, args.epochs = 1, 16, 16, 1.0
    results_dir = Path(args.results_dir)
    task_file = results_dir / "squad.yaml"
    task_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(task_file) as temporary:  # SQuAD at this benchmark's window length
        temporary.write_text(
            "dataset: rajpurkar/squad\ntasks:\n  squad:\n    config: plain_text\n"
            "    text_columns: [question, context]\n    label_column: answers\n    task_type: span_extraction\n"
            "    metric: squad\n"
            f"    max_seq_length: {args.qa_max_seq_length}\n    doc_stride: {args.doc_stride}\n"
        )
    glue_file = glue_mix_task_file(results_dir / "glue_mix.yaml", args.glue_train_samples)
    common = [
        "--model_name_or_path", args.model, "--data_dir", args.data_dir,
        "--task_files", str(task_file), str(glue_file),
        "--max_seq_length", str(args.max_seq_length), "--max_train_samples", str(args.max_train_samples),
        "--max_eval_samples", str(args.max_eval_samples), "--num_train_epochs", str(args.epochs),
        "--recipe", "paper", "--learning_rate", str(args.learning_rate), "--per_device_train_batch_size", "32",
        "--per_device_eval_batch_size", "64", "--do_train", "--do_eval", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", "--pooling", "mean", *cli_device_flags(args),
    ]  # fmt: skip
    scores: dict[str, dict[str, list[float]]] = {arm: {} for arm in ARMS}
    for seed in range(args.first_seed, args.seeds):
        for task in tasks:
            path = results_dir / "stock" / task / f"seed{seed}.json"
            if not path.is_file():
                result = stock_run(task, args, 42 + seed, results_dir / "runs" / f"stock-{task}-{seed}")
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_file(path) as temporary:
                    temporary.write_text(json.dumps(result, indent=2))
            for arm, run_tasks in (("stock", None), ("single", [task]), ("multi", [task, *GLUE_MIX])):
                if run_tasks is not None:
                    path = results_dir / arm / task / f"seed{seed}.json"
                    output = results_dir / "runs" / f"{arm}-{task}-{seed}"
                    flags = ["--tasks", ",".join(run_tasks), "--seed", str(42 + seed), "--output_dir", str(output)]
                    run_once(path, [*common, *flags])
                result = json.loads((results_dir / arm / task / f"seed{seed}.json").read_text())
                prefix = f"eval_{task}_"
                metrics = {
                    key[len(prefix) :]: value
                    for key, value in result.items()
                    if key.startswith(prefix) and not key.endswith("_loss")
                }
                for name, value in metrics.items():
                    scores[arm].setdefault(f"{task}_{name}", []).append(value)
                scores[arm].setdefault(task, []).append(task_score(metrics))
    figures: dict = {
        "seeds": args.seeds - args.first_seed,
        "max_train_samples": args.max_train_samples,
        "glue_train_samples": args.glue_train_samples,
        "epochs": args.epochs,
        **device_figures(args),
    }
    print(f"{'task':<26}" + "".join(f"{label:>28}" for label in ARMS.values()))
    for key in sorted(scores["stock"]):
        cells = []
        for arm in ARMS:
            values = scores[arm][key]
            mean, spread = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
            figures[f"{arm}_{key}_mean"], figures[f"{arm}_{key}_sd"] = round(mean, 4), round(spread, 4)
            cells.append(f"{mean:>19.4f} ± {spread:.4f}")
        print(f"{key:<26}" + "".join(cells))
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
