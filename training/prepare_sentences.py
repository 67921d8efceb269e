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
"""
Preparation of the tasks that read one text or a pair per row (classification, regression, ranking): labels as class
ids or scores, and a ranking task's candidates grouped by query.
"""

from __future__ import annotations

import datasets
import numpy as np
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from modeling_mtdnn.losses import IGNORE_INDEX

from .task_files import TaskDataSpec

__all__ = ["label_ids", "prepare_sentences"]

logger = logging.get_logger(__name__)


def label_ids(spec: TaskDataSpec, dataset: datasets.Dataset, present: list[bool] | None = None) -> np.ndarray:
    """
    The label column as class ids (or floats for regression), checked against the task's labels. With `present` (a
    task group's head: one flag per row), the rows flagged `False` lack the head's label: they are not checked and
    get -100.
    """
    feature = dataset.features[spec.label_column]
    values = dataset[spec.label_column]
    rows = range(len(values)) if present is None else [row for row, here in enumerate(present) if here]
    if spec.label_kind == "regression":
        for row in rows:
            value = values[row]
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(
                    f"Task '{spec.name}' (regression): label {value!r} at row {row} is not a number; regression "
                    "labels must be real values (convert the column, or give the task task_type: classification)."
                )
        labels = np.full(len(values), IGNORE_INDEX, dtype=np.float64)
        labels[list(rows)] = [values[row] for row in rows]
        bad = np.flatnonzero(~np.isfinite(labels))
        if bad.size:
            raise ValueError(
                f"Task '{spec.name}': label {float(labels[bad[0]])!r} at row {int(bad[0])} is not a finite number; "
                "regression labels must be real values. Clean or drop those rows."
            )
        return labels.astype(np.float32)
    if isinstance(feature, datasets.ClassLabel) and feature.names != spec.label_names:
        raise ValueError(
            f"Task '{spec.name}': the dataset's label names {feature.names} differ from the task's label_names "
            f"{spec.label_names}; make them agree (same names, same order)."
        )
    index = {name: i for i, name in enumerate(spec.label_names)}
    labels = np.full(len(values), IGNORE_INDEX, dtype=np.int64)
    for row in rows:
        value = values[row]
        if isinstance(value, str):
            if value not in index:
                raise ValueError(
                    f"Task '{spec.name}': label {value!r} at row {row} is not one of {spec.label_names}; fix the "
                    "data or the task's label_names."
                )
            labels[row] = index[value]
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(index):
            labels[row] = value
        elif isinstance(value, (float, np.floating)):
            raise ValueError(
                f"Task '{spec.name}': label {value!r} at row {row} is a float, but class labels must be integer ids "
                f"0..{len(index) - 1} or label names {spec.label_names}; cast the label column to int first (a csv "
                "column with empty cells reads as floats)."
            )
        else:
            raise ValueError(
                f"Task '{spec.name}': label {value!r} at row {row} is outside the task's labels 0..{len(index) - 1} "
                f"({spec.label_names}); fix the data, or list it in the task's 'drop_labels'."
            )
    return labels


def prepare_sentences(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    with_labels: bool,
    split: str | None,
    group_candidates: bool = False,
) -> datasets.Dataset:
    """
    Tokenizes one text or a pair per row (truncated to `length`) with its label: a class id, or a float for
    regression. A task whose type groups candidates (ranking) gets a `group_id` per query; its pairs keep their class
    ids as `pair_labels`, or with `group_candidates` each query becomes one row of its candidates (see
    `group_candidates`).
    """
    labels = label_ids(spec, dataset) if with_labels else None
    first, second = (spec.text_columns + [None])[:2]

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = (batch[first], batch[second]) if second else (batch[first],)
        return dict(tokenizer(*texts, truncation=True, max_length=length))

    tokenized = dataset.map(
        tokenize,
        batched=True,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {spec.name}",
    )
    if labels is not None:
        tokenized = tokenized.add_column("labels", labels.tolist())
    if spec.kind.groups_candidates:
        questions = dataset[first]
        group_ids = {question: i for i, question in enumerate(dict.fromkeys(questions))}
        tokenized = tokenized.add_column("group_id", [group_ids[q] for q in questions])
        if group_candidates:
            tokenized = _group_candidates(spec, tokenized)
        elif labels is not None:
            # Pairs are scored one by one here; their 0/1 labels are for the metric, never the ranking loss.
            tokenized = tokenized.rename_column("labels", "pair_labels")
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))


def _group_candidates(spec: TaskDataSpec, pairs: datasets.Dataset) -> datasets.Dataset:
    """One row per (question, positive candidate): all the question's candidates, `labels` = the positive's index.

    Questions without a relevant candidate, or without an irrelevant one to rank it against (a single candidate, or
    only relevant ones: the softmax over one candidate is 1, so its loss and gradient are 0), give the ranking loss
    no training signal and are dropped; a question with several relevant candidates gives one row per relevant
    candidate, each with all irrelevant ones.
    """
    positive = spec.label_names.index(spec.positive_label)
    members: dict[int, list[int]] = {}
    for row, group in enumerate(pairs["group_id"]):
        members.setdefault(group, []).append(row)
    labels = pairs["labels"]
    model_columns = [c for c in pairs.column_names if c not in ("labels", "group_id")]
    columns = {c: pairs[c] for c in model_columns}
    grouped: dict[str, list] = {c: [] for c in model_columns} | {"labels": [], "group_id": []}
    alone = 0
    for group, rows in members.items():
        positives = [r for r in rows if labels[r] == positive]
        negatives = [r for r in rows if labels[r] != positive]
        if positives and not negatives:
            alone += 1
            continue
        for relevant in positives:
            candidates = [relevant, *negatives]
            for column in model_columns:
                grouped[column].append([columns[column][r] for r in candidates])
            grouped["labels"].append(0)
            grouped["group_id"].append(group)
    if not grouped["labels"]:
        raise ValueError(
            f"Task '{spec.name}' (ranking): no question has a candidate labelled {spec.positive_label!r} beside "
            "an irrelevant one, so there is nothing to rank; check positive_label and the data (a query needs a "
            "relevant and an irrelevant candidate)."
        )
    if alone:
        logger.info(
            "Task %s (ranking): %d of %d queries have no irrelevant candidate to rank the relevant one against (a "
            "softmax over one candidate has zero loss); they are left out of training.",
            spec.name,
            alone,
            len(members),
        )
    return datasets.Dataset.from_dict(grouped)
