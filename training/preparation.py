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
"""`prepare_split`: one raw split checked, sampled and tokenized by the preparation of its task type's input kind."""

from __future__ import annotations

import datasets
from transformers import PreTrainedTokenizerBase

from .data_checks import check_columns, check_length, drop_labels, sample_rows
from .prepare_sentences import prepare_sentences
from .prepare_spans import prepare_spans
from .prepare_tokens import prepare_tokens
from .task_files import TaskDataSpec

__all__ = ["PREPARATIONS", "prepare_split"]

# Input kind of a task type (`TaskType.input_kind`) -> its preparation, called as
# `(spec, dataset, tokenizer, max_seq_length, with_labels, split)`.
PREPARATIONS = {"sentences": prepare_sentences, "tokens": prepare_tokens, "spans": prepare_spans}


def prepare_split(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int = 128,
    with_labels: bool = True,
    group_candidates: bool = False,
    max_samples: int | None = None,
    fraction: float | None = None,
    seed: int = 42,
    split: str | None = None,
) -> datasets.Dataset:
    """
    Validates and tokenizes one split into the columns the model and collator read: `input_ids`,
    `attention_mask`, (`token_type_ids`), `labels`, `task_name`, and for ranking `group_id` (ungrouped ranking
    rows carry their class ids as `pair_labels` instead of `labels`).

    Tokenization runs through `Dataset.map` (batched), so a dataset backed by cache files (anything
    `load_dataset` returns) is tokenized once and read from the cache on later runs.

    Args:
        spec (`TaskDataSpec`): the task.
        dataset (`datasets.Dataset`): the raw split.
        tokenizer (`PreTrainedTokenizerBase`): the encoder's tokenizer.
        max_seq_length (`int`, *optional*, defaults to 128):
            Truncation length; the task's own `max_seq_length` wins when set.
        with_labels (`bool`, *optional*, defaults to `True`):
            `False` for unlabelled (test) splits: no `labels` column.
        group_candidates (`bool`, *optional*, defaults to `False`):
            Ranking only: one row per question holding all its candidates (`input_ids` of shape
            `(candidates, seq_len)`) and `labels` = the positive candidate's index, as the ranking loss wants
            (training). Otherwise ranking rows stay pairs with a `group_id` per question, so evaluation can rank
            each question's candidates and still report per-pair accuracy.
        max_samples (`int`, *optional*):
            Keep the first `max_samples` rows (after `fraction`); for grouped ranking rows, the first questions.
        fraction (`float`, *optional*):
            Keep a seeded random fraction of the rows (at least one). The rows are shuffled with `seed` first,
            also at 1.0, so `fraction=1.0, max_samples=n` is a seeded random sample of n rows.
        seed (`int`, *optional*, defaults to 42): the seed of `fraction`.
        split (`str`, *optional*): the split's name, for error messages.

    Token classification rows keep `labels` per token: the word's tag id on its first sub-token, -100 on the
    other sub-tokens and the special tokens (a fast tokenizer is needed for the word alignment), and `word_ids`
    (each token's word, -1 for special tokens). Span extraction rows are windows over the context (see
    `prepare_spans`).
    """
    check_columns(spec, dataset, with_labels, split)
    if with_labels:
        dataset = drop_labels(spec, dataset)
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"Task '{spec.name}': train_fraction must be in (0, 1], got {fraction!r}.")
    # Grouped ranking rows are sampled as whole questions, after grouping: a question's candidates are scattered
    # over the pairs (QNLI), and a sample of pairs would cut most questions down to one candidate.
    by_group = spec.kind.groups_candidates and group_candidates
    if not by_group:
        dataset = sample_rows(dataset, fraction, max_samples, seed)
    length = spec.max_seq_length or max_seq_length
    check_length(spec, tokenizer, length)
    prepare = PREPARATIONS[spec.kind.input_kind]
    if not by_group:
        return prepare(spec, dataset, tokenizer, length, with_labels, split)
    grouped = prepare(spec, dataset, tokenizer, length, with_labels, split, group_candidates=True)
    return sample_rows(grouped, fraction, max_samples, seed)
