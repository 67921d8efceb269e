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
"""`build_task_sets`: the tasks' train, evaluation and test sets, loaded, checked and tokenized in one call."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from .data_loading import load_raw_split
from .preparation import prepare_split
from .prepare_groups import head_rows, prepare_group
from .task_files import TaskDataSpec

__all__ = ["EvalSpec", "TaskSets", "build_task_sets"]


@dataclasses.dataclass
class EvalSpec:
    """
    How to score one evaluation set.

    Args:
        task_name (`str`): the model task whose head predicts it.
        metric (`str`): the config of the metric module (`rte`, `mnli_mm`, ...).
        positive_label (`int`, *optional*, defaults to 0): for ranking, the class id of a relevant candidate.
        max_answer_length (`int`, *optional*, defaults to 30): for span extraction, the longest answer in tokens.
        n_best_size (`int`, *optional*, defaults to 20): for span extraction, the start and end candidates per window.
    """

    task_name: str
    metric: str
    positive_label: int = 0
    max_answer_length: int = 30
    n_best_size: int = 20

    @property
    def settings(self) -> dict[str, int]:
        """What the task type's decoding takes (see `MTDNNTrainer.predictions_of`)."""
        return {
            "positive_label": self.positive_label,
            "max_answer_length": self.max_answer_length,
            "n_best_size": self.n_best_size,
        }


@dataclasses.dataclass
class TaskSets:
    """
    The prepared sets of a run, as `MTDNNTrainer` and `run_mtdnn.write_predictions` take them.

    Args:
        train_sets (`dict[str, datasets.Dataset]`):
            Task name to its training set (a ranking task's rows grouped by query).
        eval_sets (`dict[str, datasets.Dataset]`):
            Evaluation key (`rte`, `mnli`, `mnli_mm`) to its evaluation set.
        eval_specs (`dict[str, EvalSpec]`):
            Evaluation key to how it is scored.
        test_sets (`dict[str, tuple[TaskDataSpec, datasets.Dataset, list]]`):
            Prediction key to the task, its unlabelled set, and each example's id in the dataset (GLUE's `idx`,
            SQuAD's and CoNLL's `id`, else the row index).
        eval_cuts (`dict[str, tuple[int, int]]`):
            Evaluation key to `(rows kept, rows in the split)` for the sets that `max_eval_samples` cut (a ranking
            task counts questions kept and rows in the split), so reports can say the score is on a part.
        groups (`dict[str, list[str]]`):
            Task group to the heads the run trains of it. A group's training set is keyed by the group's name (its
            rows carry every head's labels); its heads are evaluated and predicted one by one, as tasks of their own.
    """

    train_sets: dict[str, datasets.Dataset] = dataclasses.field(default_factory=dict)
    eval_sets: dict[str, datasets.Dataset] = dataclasses.field(default_factory=dict)
    eval_specs: dict[str, EvalSpec] = dataclasses.field(default_factory=dict)
    test_sets: dict[str, tuple[TaskDataSpec, datasets.Dataset, list[Any]]] = dataclasses.field(default_factory=dict)
    eval_cuts: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def build_task_sets(
    specs: Mapping[str, TaskDataSpec],
    tokenizer: PreTrainedTokenizerBase,
    *,
    train: bool = False,
    evaluate: bool = False,
    predict: bool = False,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    max_seq_length: int = 128,
    seed: int = 42,
    max_train_samples: int | None = None,
    train_fraction: float | None = None,
    max_eval_samples: int | None = None,
    max_predict_samples: int | None = None,
) -> TaskSets:
    """
    Loads, checks and tokenizes the sets of every task that the asked stages need, task by task, so bad data fails
    before any training. The training script, distillation and the benchmarks all build their data here.

    Args:
        specs (`Mapping[str, TaskDataSpec]`):
            The tasks, by name (see `load_task_specs`).
        tokenizer (`PreTrainedTokenizerBase`):
            The encoder's tokenizer.
        train (`bool`, *optional*, defaults to `False`):
            Build each task's training set from its `train` split (its train side, with `group_split`); ranking rows
            are grouped by query, as the ranking loss reads them.
        evaluate (`bool`, *optional*, defaults to `False`):
            Build each evaluation key's set (`spec.eval_splits()`) and its `EvalSpec`.
        predict (`bool`, *optional*, defaults to `False`):
            Build each prediction key's unlabelled set (`spec.test_splits()`) with the examples' ids.
        data_dir (`str`, *optional*):
            A local copy that replaces the Hub datasets (`--data_dir`; `MTDNN_DATA_DIR` when left out).
        cache_dir (`str`, *optional*):
            The datasets cache.
        max_seq_length (`int`, *optional*, defaults to 128):
            Truncation length; a task's own `max_seq_length` wins.
        seed (`int`, *optional*, defaults to 42):
            The seed of `train_fraction`.
        max_train_samples, max_eval_samples, max_predict_samples (`int`, *optional*):
            Keep the first rows of each set (for grouped ranking rows, the first queries).
        train_fraction (`float`, *optional*):
            Train on a seeded random fraction of each task's rows (shuffled with `seed` first, even at 1.0).

    The heads of a task group (specs with the same `group`) are prepared together: one training set for the group,
    keyed by its name, whose rows hold every head's labels (`prepare_group`), and each head's own evaluation and test
    sets (the rows that have its label, `head_rows`).

    Returns:
        [`TaskSets`]: the sets of the asked stages (the others empty).

    Raises:
        `ValueError`: a task without the split a stage needs, or any error of `load_raw_split` and `prepare_split`,
            naming the task.

    Example:

    ```python
    specs = load_task_specs(["rte", "stsb"])
    sets = build_task_sets(specs, tokenizer, train=True, evaluate=True, data_dir="data/glue", max_train_samples=1000)
    trainer = MTDNNTrainer(..., train_dataset=sets.train_sets, eval_dataset=sets.eval_sets, eval_specs=sets.eval_specs)
    ```
    """
    sets = TaskSets()
    for name, spec in specs.items():
        if spec.group is not None:
            sets.groups.setdefault(spec.group, []).append(name)
    settings = {
        "data_dir": data_dir,
        "cache_dir": cache_dir,
        "max_seq_length": max_seq_length,
        "seed": seed,
        "max_train_samples": max_train_samples,
        "train_fraction": train_fraction,
        "max_eval_samples": max_eval_samples,
        "max_predict_samples": max_predict_samples,
    }
    for name, spec in specs.items():
        if spec.group is not None:
            if name == sets.groups[spec.group][0]:  # the group's first head: build the whole group, in its place
                heads = [specs[head] for head in sets.groups[spec.group]]
                _build_group(sets, heads, tokenizer, train, evaluate, predict, **settings)
            continue

        def prepare(split: str, role: str | None = None, **kwargs) -> tuple[datasets.Dataset, datasets.Dataset]:
            """The raw split and its prepared form (`role`: the split's use, for tasks with group_split)."""
            raw = load_raw_split(spec, split, data_dir, cache_dir, role=role)
            prepared = prepare_split(spec, raw, tokenizer, max_seq_length, seed=seed, split=split, **kwargs)
            return raw, prepared

        if train:
            if "train" not in spec.splits:
                raise ValueError(f"Task '{name}' has no train split in its task file; drop it from --tasks.")
            _, sets.train_sets[name] = prepare(
                spec.splits["train"],
                "train",
                group_candidates=True,
                max_samples=max_train_samples,
                fraction=train_fraction,
            )
        if evaluate:
            for key, split in spec.eval_splits().items():
                role = "validation" if key == name else None
                raw, sets.eval_sets[key] = prepare(split, role, max_samples=max_eval_samples)
                if spec.kind.groups_candidates:  # max_eval_samples counts questions: cut when it kept that many
                    cut = max_eval_samples is not None and len(sets.eval_sets[key]) >= max_eval_samples
                else:
                    cut = max_eval_samples is not None and max_eval_samples < len(raw)
                if cut:
                    sets.eval_cuts[key] = (max_eval_samples, len(raw))
                metric = spec.metric if key == name else f"{spec.metric}_{key[len(name) + 1 :]}"
                sets.eval_specs[key] = EvalSpec(task_name=name, metric=metric, **spec.decode_settings)
        if predict:
            if not spec.test_splits():
                raise ValueError(f"Task '{name}' has no test split in its task file; drop --do_predict or it.")
            for key, split in spec.test_splits().items():
                raw, prepared = prepare(split, with_labels=False, max_samples=max_predict_samples)
                # Each row's id (GLUE's idx, SQuAD's and CoNLL's id), or its index; span tasks hold windows.
                rows = len(raw) if spec.kind.input_kind == "spans" else len(prepared)
                sets.test_sets[key] = (spec, prepared, _row_ids(raw, rows))
    return sets


def _row_ids(raw: datasets.Dataset, rows: int) -> list[Any]:
    """The ids of the first `rows` rows of a split: GLUE's `idx`, SQuAD's and CoNLL's `id`, else the row index."""
    column = next((c for c in ("idx", "id") if c in raw.column_names), None)
    return list(raw[column][:rows]) if column else list(range(rows))


def _build_group(
    sets: TaskSets,
    heads: list[TaskDataSpec],
    tokenizer: PreTrainedTokenizerBase,
    train: bool,
    evaluate: bool,
    predict: bool,
    *,
    data_dir: str | os.PathLike | None,
    cache_dir: str | None,
    max_seq_length: int,
    seed: int,
    max_train_samples: int | None,
    train_fraction: float | None,
    max_eval_samples: int | None,
    max_predict_samples: int | None,
) -> None:
    """The sets of one task group's heads (they share the group's dataset, splits and input): see `build_task_sets`."""
    first, group = heads[0], heads[0].group

    def prepare(split: str, role: str | None = None, **kwargs) -> tuple[datasets.Dataset, datasets.Dataset]:
        raw = load_raw_split(first, split, data_dir, cache_dir, role=role)
        prepared = prepare_group(heads, raw, tokenizer, max_seq_length, seed=seed, split=split, **kwargs)
        return raw, prepared

    if train:
        if "train" not in first.splits:
            raise ValueError(f"Task group '{group}' has no train split in its task file; drop it from --tasks.")
        _, sets.train_sets[group] = prepare(
            first.splits["train"], "train", max_samples=max_train_samples, fraction=train_fraction
        )
    if evaluate and "validation" in first.splits:
        raw, prepared = prepare(first.splits["validation"], "validation", max_samples=max_eval_samples)
        for spec in heads:
            sets.eval_sets[spec.name] = head_rows(prepared, spec)
            if max_eval_samples is not None and max_eval_samples < len(raw):
                sets.eval_cuts[spec.name] = (max_eval_samples, len(raw))
            sets.eval_specs[spec.name] = EvalSpec(task_name=spec.name, metric=spec.metric, **spec.decode_settings)
    if predict:
        if "test" not in first.splits:
            raise ValueError(f"Task group '{group}' has no test split in its task file; drop --do_predict or it.")
        raw, prepared = prepare(first.splits["test"], with_labels=False, max_samples=max_predict_samples)
        indices = _row_ids(raw, len(prepared))
        for spec in heads:
            sets.test_sets[spec.name] = (spec, head_rows(prepared, spec), indices)
