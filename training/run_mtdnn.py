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
"""Multi-task training of MT-DNN: `accelerate launch training/run_mtdnn.py [config.json|config.yaml] [--flags]`.

Builds an MT-DNN from a pretrained encoder (or continues from an MT-DNN checkpoint with `--init_from`), loads and
tokenizes every task of `--tasks` (from the Hub, or from the local copy `--data_dir` / `MTDNN_DATA_DIR`), trains
with `MTDNNTrainer`, evaluates each task, and saves the model, tokenizer and results in `--output_dir`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import datasets
import transformers
from transformers import AutoTokenizer, HfArgumentParser, set_seed

if __package__ in (None, ""):  # `python training/run_mtdnn.py` and `accelerate launch training/run_mtdnn.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from training.arguments import DataArguments, ModelArguments, MTDNNTrainingArguments  # noqa: E402
from training.collator import MultiTaskDataCollator  # noqa: E402
from training.metrics import METRIC_CONFIGS  # noqa: E402
from training.task_data import TaskDataSpec, load_raw_split, load_task_specs, prepare_split  # noqa: E402
from training.trainer import EvalSpec, MTDNNTrainer  # noqa: E402

__all__ = ["build_model", "format_score_table", "main", "parse_args"]

logger = logging.getLogger("run_mtdnn")


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MTDNNTrainingArguments]:
    """Flags, or one JSON / YAML file of arguments (as `run_glue.py`)."""
    parser = HfArgumentParser((ModelArguments, DataArguments, MTDNNTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(yaml_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


def build_model(model_args: ModelArguments, specs: dict[str, TaskDataSpec]) -> MTDNNForMultiTask:
    """A fresh MT-DNN on the pretrained encoder, or the `--init_from` checkpoint with heads added for new tasks."""
    tasks = {name: spec.model_spec() for name, spec in specs.items()}
    if model_args.init_from is None:
        return MTDNNForMultiTask.from_encoder(
            model_args.model_name_or_path, tasks=tasks, cache_dir=model_args.cache_dir
        )
    model = MTDNNForMultiTask.from_pretrained(model_args.init_from, cache_dir=model_args.cache_dir)
    for name, spec in tasks.items():
        if name not in model.config.tasks:
            logger.info("Task %s is new to %s: adding a fresh head.", name, model_args.init_from)
            model.add_task(name, spec)
            continue
        kept = model.config.tasks[name]
        for field in ("task_type", "head", "num_labels"):
            wanted = {"num_labels": len(specs[name].label_names or [None])}.get(field, spec.get(field))
            if kept[field] != wanted and not (field == "num_labels" and kept["task_type"] != "classification"):
                raise ValueError(
                    f"Task '{name}': the checkpoint {model_args.init_from!r} has {field}={kept[field]!r} but the task "
                    f"file says {wanted!r}; rename the task to train a new head, or fix the task file."
                )
    return model


def main(argv: list[str] | None = None) -> dict[str, float]:
    model_args, data_args, training_args = parse_args(argv)
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    log_level = training_args.get_process_log_level()
    logger.setLevel(logging.INFO if training_args.should_log else log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    set_seed(training_args.seed)

    specs = load_task_specs(data_args.task_names, data_args.task_files)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_args.init_from or model_args.model_name_or_path,
        cache_dir=model_args.cache_dir,
    )
    model = build_model(model_args, specs)

    # All data is loaded, checked and tokenized before training starts, so bad input fails fast.
    train_sets, eval_sets, eval_specs, test_sets = {}, {}, {}, {}
    with training_args.main_process_first(desc="loading and tokenizing the tasks"):
        for name, spec in specs.items():

            def prepare(split: str, **kwargs):
                raw = load_raw_split(spec, split, data_args.data_dir, cache_dir=model_args.cache_dir)
                return prepare_split(spec, raw, tokenizer, data_args.max_seq_length, seed=training_args.seed, **kwargs)

            if training_args.do_train:
                if "train" not in spec.splits:
                    raise ValueError(f"Task '{name}' has no train split in its task file; drop it from --tasks.")
                train_sets[name] = prepare(
                    spec.splits["train"],
                    group_candidates=True,
                    max_samples=data_args.max_train_samples,
                    fraction=data_args.train_fraction,
                )
            if training_args.do_eval:
                for key, split in spec.eval_splits().items():
                    eval_sets[key] = prepare(split, max_samples=data_args.max_eval_samples)
                    metric = spec.metric if key == name else f"{spec.metric}_{key[len(name) + 1 :]}"
                    positive = spec.label_names.index(spec.positive_label) if spec.positive_label else 0
                    eval_specs[key] = EvalSpec(task_name=name, metric=metric, positive_label=positive)
            if training_args.do_predict:
                for key, split in spec.test_splits().items():
                    test_sets[key] = prepare(split, with_labels=False, max_samples=data_args.max_predict_samples)

    collator = MultiTaskDataCollator(
        tokenizer,
        padding="max_length" if data_args.pad_to_max_length else "longest",
        max_length=data_args.max_seq_length if data_args.pad_to_max_length else None,
    )
    trainer = MTDNNTrainer(
        model=model,
        args=training_args,
        train_dataset=train_sets or None,
        eval_dataset=eval_sets or None,
        eval_specs=eval_specs,
        data_collator=collator,
        processing_class=tokenizer,
    )

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        metrics = train_result.metrics | {f"train_{name}_samples": len(ds) for name, ds in train_sets.items()}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results |= metrics
    if training_args.do_eval:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results |= metrics
        if trainer.is_world_process_zero():
            logger.info("Dev scores:\n%s", format_score_table(metrics, eval_specs))
    if not training_args.do_train and not training_args.do_eval and not training_args.do_predict:
        logger.warning("Nothing to do: pass --do_train, --do_eval and/or --do_predict.")
    return results


def format_score_table(metrics: dict[str, float], eval_specs: dict[str, EvalSpec]) -> str:
    """A per-task table of dev scores, as the README's main command prints it."""
    rows = [("task", "metric", "dev score")]
    for key, spec in eval_specs.items():
        for metric in METRIC_CONFIGS[spec.metric]:
            rows.append((key, metric, f"{metrics[f'eval_{key}_{metric}']:.4f}"))
    rows.append(("average", "", f"{metrics['eval_average']:.4f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([lines[0], "-" * max(map(len, lines)), *lines[1:]])


if __name__ == "__main__":
    main()
