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
"""The checks and the sampling that every kind of preparation shares: columns, texts, labels to drop, lengths."""

from __future__ import annotations

import math
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from .task_files import RESERVED_COLUMNS, TaskDataSpec

__all__ = ["check_columns", "check_length", "drop_labels", "require_fast_tokenizer", "sample_rows", "where"]


def where(split: str | None) -> str:
    """`, split 'train'` for an error message, or nothing when the split is not known."""
    return f", split {split!r}" if split else ""


def check_columns(spec: TaskDataSpec, dataset: datasets.Dataset, with_labels: bool, split: str | None = None) -> None:
    """The task's columns exist, none is reserved, the split has rows, and every text (or word list) is non-empty."""
    clashes = [column for column in RESERVED_COLUMNS if column in dataset.column_names]
    if clashes:
        raise ValueError(
            f"Task '{spec.name}': the dataset has column(s) {clashes}, which mt-dnn reserves; rename them first "
            "(dataset.rename_column)."
        )
    needed = spec.text_columns + ([spec.label_column] if with_labels else [])
    missing = [column for column in needed if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"Task '{spec.name}': column(s) {missing} not found; the dataset has {dataset.column_names}. "
            "Fix the task's 'text_columns' / 'label_column'."
        )
    if len(dataset) == 0:
        raise ValueError(f"Task '{spec.name}': the split is empty.")
    if spec.kind.input_kind == "tokens":
        column = spec.text_columns[0]
        for row, words in enumerate(dataset[column]):
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise ValueError(
                    f"Task '{spec.name}'{where(split)}: column {column!r} holds {words!r} at row {row}, but token "
                    "classification needs a non-empty list of non-empty words per row; clean the data or drop those "
                    "rows (dataset.filter) first."
                )
        return
    for column in spec.text_columns:
        for row, text in enumerate(dataset[column]):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"Task '{spec.name}'{where(split)}: column {column!r} holds {text!r} at row {row}, but every "
                    "text must be a non-empty string; clean the data or drop those rows (dataset.filter) first."
                )


def drop_labels(spec: TaskDataSpec, dataset: datasets.Dataset) -> datasets.Dataset:
    """The rows whose label is not among the task's `drop_labels` (SNLI's -1); an error when none is left."""
    if not spec.drop_labels:
        return dataset
    drop = set(spec.drop_labels)
    column = dataset[spec.label_column]
    keep = [i for i, value in enumerate(column) if value not in drop]
    if len(keep) < len(column):
        dataset = dataset.select(keep)
    if len(dataset) == 0:
        raise ValueError(f"Task '{spec.name}': no example is left after dropping labels {spec.drop_labels}.")
    return dataset


def check_length(spec: TaskDataSpec, tokenizer: PreTrainedTokenizerBase, length: Any) -> None:
    """The truncation length must leave a token for each text beside the special tokens, and fit the encoder."""
    pair = len(spec.text_columns) == 2
    least = tokenizer.num_special_tokens_to_add(pair=pair) + len(spec.text_columns)
    setting = "the task's 'max_seq_length'" if spec.max_seq_length else "--max_seq_length"
    if isinstance(length, bool) or not isinstance(length, int) or length < least:
        raise ValueError(
            f"Task '{spec.name}': max_seq_length {length!r} is too short; a {'pair' if pair else 'text'} needs at "
            f"least {least} tokens ({least - len(spec.text_columns)} special tokens and one per text). "
            f"Raise {setting} (128 is the paper's)."
        )
    most = tokenizer.model_max_length
    if most and most < 1_000_000 and length > most:
        raise ValueError(
            f"Task '{spec.name}': max_seq_length {length} is longer than the {most} tokens the encoder's tokenizer "
            f"allows (its position embeddings end there); lower {setting}."
        )


def require_fast_tokenizer(spec: TaskDataSpec, tokenizer: PreTrainedTokenizerBase, why: str) -> None:
    """Refuses a slow tokenizer where the preparation needs a fast one's word ids or offsets (`why`)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"Task '{spec.name}' ({spec.task_type}): {why} needs a fast tokenizer, but {type(tokenizer).__name__} is "
            "a slow one; load it with AutoTokenizer (use_fast=True)."
        )


def sample_rows(
    dataset: datasets.Dataset, fraction: float | None, max_samples: int | None, seed: int
) -> datasets.Dataset:
    """A seeded random `fraction` of the rows (shuffled with `seed` first, even at 1.0), then the first max_samples."""
    if fraction is not None:
        count = max(1, math.ceil(fraction * len(dataset)))
        dataset = dataset.shuffle(seed=seed).select(range(count))
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset
