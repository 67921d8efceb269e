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
Preparation of a task group: each row's input (one text, a pair, or a list of words) tokenized once, and every head's
labels beside it in a column of its own (`labels.<task>`). A row may lack some heads' labels, never all of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
from transformers import PreTrainedTokenizerBase

from modeling_mtdnn.losses import IGNORE_INDEX

from .data_checks import check_columns, check_length, require_fast_tokenizer, sample_rows, where
from .prepare_sentences import label_ids
from .prepare_tokens import _TRUNCATED, _check_tags, _tag_index, _warn_unseen_words
from .task_files import RESERVED_COLUMNS, TaskDataSpec
from .task_groups import LABELS_PREFIX, WORD_TAGS_PREFIX, label_is_present, labels_column

__all__ = ["head_rows", "prepare_group"]


def _missing(spec: TaskDataSpec, value: Any) -> bool:
    """A raw label that a head's row lacks: null (an empty csv cell, JSON null, NaN), -100, or one of drop_labels."""
    if value is None or isinstance(value, (list, tuple)):
        return value is None
    if isinstance(value, float) and math.isnan(value):
        return True
    if not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and value == IGNORE_INDEX:
        return True
    return value in spec.drop_labels


def _check_group_columns(
    group: str, specs: Sequence[TaskDataSpec], dataset: datasets.Dataset, with_labels: bool, split: str | None
) -> None:
    """The group's text columns and each head's label column exist; the error names the task, field and value."""
    clashes = [column for column in RESERVED_COLUMNS if column in dataset.column_names]
    if clashes:
        raise ValueError(
            f"Task group '{group}': the dataset has column(s) {clashes}, which mt-dnn reserves; rename them first "
            "(dataset.rename_column)."
        )
    missing = [column for column in specs[0].text_columns if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"Task group '{group}'{where(split)}: field 'text_columns' names {missing}, which the dataset lacks; it "
            f"has {dataset.column_names}. Fix the group's 'text_columns'."
        )
    if not with_labels:
        return
    for spec in specs:
        if spec.label_column not in dataset.column_names:
            raise ValueError(
                f"Task '{spec.name}' (a head of task group '{group}'){where(split)}: field 'label_column' is "
                f"{spec.label_column!r}, a column the dataset lacks; it has {dataset.column_names}. Fix the head's "
                "'label_column'."
            )


def prepare_group(
    specs: Sequence[TaskDataSpec],
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int = 128,
    with_labels: bool = True,
    max_samples: int | None = None,
    fraction: float | None = None,
    seed: int = 42,
    split: str | None = None,
) -> datasets.Dataset:
    """
    Validates and tokenizes one split of a task group: the heads' shared input once (`input_ids`, `attention_mask`,
    (`token_type_ids`); `word_ids` and `num_words` when the input is a list of words), each head's labels as
    `labels.<task>` (token heads also `word_tags.<task>`), and `task_name` set to the group's name.

    A token head labels each word's first sub-token, as `prepare_tokens` does. A sentence head (classification,
    regression) beside token heads reads the same tokens: the words as one text, joined by spaces, which is how the
    pipeline and an exported model should be given its input. Without token heads the input is one text or a pair
    per row, as `prepare_sentences` reads it.

    A head's label is missing in a row when it is null (JSON null, an empty csv cell, NaN), -100, or one of the head's
    `drop_labels`: the row then holds -100 (or, for a token head, an empty list) for that head, and its loss leaves
    the row out. Every row must have the label of at least one head.

    Args:
        specs (`Sequence[TaskDataSpec]`): the heads of one group that the run trains (all with the same `group`).
        dataset (`datasets.Dataset`): the raw split.
        tokenizer (`PreTrainedTokenizerBase`): the encoder's tokenizer (a fast one for word lists).
        max_seq_length, with_labels, max_samples, fraction, seed, split: as for `prepare_split`.

    Raises:
        `ValueError`: a text column or a head's label column the data lacks, a row without any head's label, or any
            label check of the heads' own preparations, naming the task (or group), the field and the value.
    """
    group = specs[0].group
    if group is None or any(spec.group != group for spec in specs):
        raise ValueError(
            f"prepare_group takes the heads of one task group, got the tasks {[spec.name for spec in specs]} of the "
            f"groups {sorted({str(spec.group) for spec in specs})}."
        )
    _check_group_columns(group, specs, dataset, with_labels, split)
    token_heads = [spec for spec in specs if spec.kind.input_kind == "tokens"]
    # The content checks of the input (non-empty texts or word lists), by the preparation that reads it.
    check_columns(token_heads[0] if token_heads else specs[0], dataset, False, split)
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"Task group '{group}': train_fraction must be in (0, 1], got {fraction!r}.")
    dataset = sample_rows(dataset, fraction, max_samples, seed)
    length = specs[0].max_seq_length or max_seq_length
    check_length(specs[0], tokenizer, length)
    present = _present_labels(group, specs, dataset, split) if with_labels else {}
    if token_heads:
        require_fast_tokenizer(token_heads[0], tokenizer, "aligning tags with sub-tokens (word_ids)")
        prepared = _prepare_words(group, specs, dataset, tokenizer, length, present, split)
    else:
        prepared = _prepare_texts(specs, dataset, tokenizer, length, present)
    return prepared.add_column("task_name", [group] * len(prepared))


def _present_labels(
    group: str, specs: Sequence[TaskDataSpec], dataset: datasets.Dataset, split: str | None
) -> dict[str, list[bool]]:
    """Each head's flag per row: has the row its label? A row with no head's label is refused."""
    values = {spec.name: dataset[spec.label_column] for spec in specs}
    present = {spec.name: [not _missing(spec, value) for value in values[spec.name]] for spec in specs}
    for row in range(len(dataset)):
        if not any(flags[row] for flags in present.values()):
            labels = ", ".join(f"{spec.label_column}: {values[spec.name][row]!r}" for spec in specs)
            raise ValueError(
                f"Task group '{group}'{where(split)}, row {row}: no head has a label ({labels}); every row needs the "
                f"label of at least one of the heads {[spec.name for spec in specs]}. Label the row, drop it "
                "(dataset.filter), or train the head whose label it has."
            )
    return present


def _prepare_words(
    group: str,
    specs: Sequence[TaskDataSpec],
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    present: dict[str, list[bool]],
    split: str | None,
) -> datasets.Dataset:
    """A list of words per row, tokenized once; token heads' tags aligned to first sub-tokens, sentence heads' ids."""
    words_column = specs[0].text_columns[0]
    token_heads = [spec for spec in specs if spec.kind.input_kind == "tokens"]
    indexes = {}
    sentence_labels = {}
    if present:
        for spec in token_heads:
            indexes[spec.name] = _tag_index(spec, dataset)
            _check_tags(spec, dataset, indexes[spec.name], split, words_column, present[spec.name])
        sentence_labels = {
            spec.name: label_ids(spec, dataset, present[spec.name])
            for spec in specs
            if spec.kind.input_kind != "tokens"
        }

    def tokenize(batch: dict[str, list], rows: list[int]) -> dict[str, list]:
        encoded = tokenizer(batch[words_column], is_split_into_words=True, truncation=True, max_length=length)
        count = len(encoded["input_ids"])
        word_ids = [encoded.word_ids(i) for i in range(count)]
        columns = dict(encoded)
        columns["word_ids"] = [[-1 if word is None else word for word in words] for words in word_ids]
        columns["num_words"] = [len(words) for words in batch[words_column]]
        columns[_TRUNCATED] = [bool(encoding.overflowing) for encoding in encoded.encodings]
        for spec in token_heads if present else ():
            index, aligned, tags_per_word = indexes[spec.name], [], []
            for i, tags in enumerate(batch[spec.label_column]):
                if not present[spec.name][rows[i]]:
                    aligned.append([])
                    tags_per_word.append([])
                    continue
                previous, row = None, []
                for word in word_ids[i]:
                    row.append(IGNORE_INDEX if word is None or word == previous else index[tags[word]])
                    previous = word
                aligned.append(row)
                tags_per_word.append([index[tag] for tag in tags])
            columns[labels_column(spec.name)] = aligned
            columns[f"{WORD_TAGS_PREFIX}{spec.name}"] = tags_per_word
        for name, labels in sentence_labels.items():
            columns[labels_column(name)] = [labels[row].item() for row in rows]
        return columns

    tokenized = dataset.map(
        tokenize,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing task group {group}",
    )
    _warn_unseen_words(dataclasses.replace(token_heads[0], name=group), tokenized, length, bool(present), split)
    return tokenized.remove_columns(_TRUNCATED)


def _prepare_texts(
    specs: Sequence[TaskDataSpec],
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    present: dict[str, list[bool]],
) -> datasets.Dataset:
    """One text or a pair per row, tokenized once; each head's class id or score."""
    first, second = (specs[0].text_columns + [None])[:2]
    labels = {spec.name: label_ids(spec, dataset, present[spec.name]) for spec in specs} if present else {}

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = (batch[first], batch[second]) if second else (batch[first],)
        return dict(tokenizer(*texts, truncation=True, max_length=length))

    tokenized = dataset.map(
        tokenize, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing task group {specs[0].group}"
    )
    for name, values in labels.items():
        tokenized = tokenized.add_column(labels_column(name), values.tolist())
    return tokenized


def head_rows(prepared: datasets.Dataset, spec: TaskDataSpec) -> datasets.Dataset:
    """
    One head's rows of a prepared group split, as an ungrouped task's preparation gives them, to evaluate or predict
    the head on its own: its labels as `labels` (and `word_tags`), `task_name` set to the head; with labels, only the
    rows that have the head's label. A sentence head beside token heads keeps no `word_ids` / `num_words`.
    """
    column = labels_column(spec.name)
    if column in prepared.column_names:
        kept = [row for row, value in enumerate(prepared[column]) if label_is_present(value)]
        if len(kept) < len(prepared):
            prepared = prepared.select(kept)
    tags = f"{WORD_TAGS_PREFIX}{spec.name}"
    own = {column: "labels", tags: "word_tags"}
    per_word = ("word_ids", "num_words") if spec.kind.input_kind == "tokens" else ()
    other_heads = [
        name
        for name in prepared.column_names
        if name.startswith((LABELS_PREFIX, WORD_TAGS_PREFIX))
        and name not in own
        or name in ("word_ids", "num_words")
        and name not in per_word
        or name == "task_name"
    ]
    rows = prepared.remove_columns(other_heads).rename_columns(
        {name: new for name, new in own.items() if name in prepared.column_names}
    )
    return rows.add_column("task_name", [spec.name] * len(rows))
