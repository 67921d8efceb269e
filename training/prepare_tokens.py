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
"""Preparation of the tasks that read a list of words per row and label each word (token classification: NER)."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from .data_checks import require_fast_tokenizer, where
from .task_files import TaskDataSpec

__all__ = ["prepare_tokens"]

logger = logging.get_logger(__name__)

# A column kept while preparing (then dropped): whether max_seq_length cut the row, for the warning on unseen words.
_TRUNCATED = "truncated"


def _tag_index(spec: TaskDataSpec, dataset: datasets.Dataset) -> dict[Any, int]:
    """Tag name or id -> tag id, after checking the dataset's own tag names against the task's."""
    feature = dataset.features[spec.label_column]
    inner = getattr(feature, "feature", None) or (feature[0] if isinstance(feature, list) and feature else None)
    if isinstance(inner, datasets.ClassLabel) and inner.names != spec.label_names:
        raise ValueError(
            f"Task '{spec.name}': the dataset's tag names {inner.names} differ from the task's label_names "
            f"{spec.label_names}; make them agree (same names, same order)."
        )
    index: dict[Any, int] = {name: i for i, name in enumerate(spec.label_names)}
    return index | {i: i for i in range(len(spec.label_names))}


def _check_tags(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    index: dict[Any, int],
    split: str | None,
    words_column: str | None = None,
    present: list[bool] | None = None,
) -> None:
    """
    Every row has one known tag per word; the error names the task, split, row and field. A task group's head reads
    the group's `words_column` and skips the rows that `present` flags as lacking its tags.
    """
    words_column = words_column or spec.text_columns[0]
    for row, (words, tags) in enumerate(zip(dataset[words_column], dataset[spec.label_column])):
        if present is not None and not present[row]:
            continue
        at = f"Task '{spec.name}'{where(split)}, row {row}"
        if not isinstance(tags, list) or len(tags) != len(words):
            count = len(tags) if isinstance(tags, list) else type(tags).__name__
            raise ValueError(
                f"{at}: {len(words)} words in {words_column!r} but {count} tags in {spec.label_column!r}; every "
                "word needs exactly one tag. Fix or drop the row."
            )
        for position, tag in enumerate(tags):
            if isinstance(tag, bool) or not isinstance(tag, (str, int, np.integer)) or tag not in index:
                raise ValueError(
                    f"{at}: tag {tag!r} of word {position} ({words[position]!r}) in {spec.label_column!r} is not "
                    f"one of the task's label_names {spec.label_names} (or their ids 0..{len(spec.label_names) - 1}); "
                    "fix the data or the task's label_names."
                )


def prepare_tokens(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    with_labels: bool,
    split: str | None,
) -> datasets.Dataset:
    """
    Tokenizes word lists and aligns one tag per word to the word's first sub-token (the others get -100); each row
    keeps `word_ids` (each token's word, -1 for special tokens), `num_words` (its number of words) and, with labels,
    `word_tags` (the gold tag id of every word). A word the model never sees (one the tokenizer turns into no tokens,
    such as a zero-width space, a soft hyphen or a control character, or one cut off by `max_seq_length`) keeps its
    place: decoding gives it `UNSEEN_WORD`, evaluation scores it as predicted `O` against its gold tag, and prediction
    files write `O` and list it as unseen. A warning says how many words of how many rows the model does not see.
    """
    require_fast_tokenizer(spec, tokenizer, "aligning tags with sub-tokens (word_ids)")
    words_column = spec.text_columns[0]
    index = _tag_index(spec, dataset) if with_labels else {}
    if with_labels:
        _check_tags(spec, dataset, index, split)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch[words_column], is_split_into_words=True, truncation=True, max_length=length)
        # each token's word (-1 for special tokens): where a prediction reads a word's tag
        encoded["word_ids"] = [
            [-1 if word is None else word for word in encoded.word_ids(i)] for i in range(len(encoded["input_ids"]))
        ]
        encoded["num_words"] = [len(words) for words in batch[words_column]]
        encoded[_TRUNCATED] = [bool(encoding.overflowing) for encoding in encoded.encodings]
        if with_labels:
            aligned = []
            for i, tags in enumerate(batch[spec.label_column]):
                previous, row = None, []
                for word in encoded.word_ids(i):
                    row.append(-100 if word is None or word == previous else index[tags[word]])
                    previous = word
                aligned.append(row)
            encoded["labels"] = aligned
            encoded["word_tags"] = [[index[tag] for tag in tags] for tags in batch[spec.label_column]]
        return dict(encoded)

    tokenized = dataset.map(
        tokenize, batched=True, remove_columns=dataset.column_names, desc=f"Tokenizing {spec.name}"
    )
    _warn_unseen_words(spec, tokenized, length, with_labels, split)
    tokenized = tokenized.remove_columns(_TRUNCATED)
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))


def _warn_unseen_words(
    spec: TaskDataSpec, tokenized: datasets.Dataset, length: int, with_labels: bool, split: str | None
) -> None:
    """Warns, with counts, about the words the model never sees: with no tokens, or cut off by max_seq_length."""
    empty = cut = rows = 0
    for word_ids, count, truncated in zip(tokenized["word_ids"], tokenized["num_words"], tokenized[_TRUNCATED]):
        seen = {word for word in word_ids if word >= 0}
        if len(seen) == count:
            continue
        rows += 1
        last = max(seen, default=-1)
        row_cut = count - 1 - last if truncated else 0  # the words after the last one seen
        cut += row_cut
        empty += count - len(seen) - row_cut
    if not rows:
        return
    causes = []
    if empty:
        causes.append(
            f"{empty} that the tokenizer turns into no tokens (zero-width spaces, soft hyphens, control characters)"
        )
    if cut:
        causes.append(f"{cut} cut off by max_seq_length {length}")
    fixes = ["drop or clean such words"] if empty else []
    fixes += ["raise max_seq_length to keep long rows whole"] if cut else []
    consequence = (
        "They are not trained, evaluation scores them as predicted 'O' (a gold entity there counts as missed), and"
        if with_labels
        else "The model predicts no tag for them:"
    )
    logger.warning(
        "Task '%s'%s: the model does not see %d word(s) in %d of %d rows: %s. %s prediction files tag them 'O' and "
        "list their positions in the 'unseen_words' column. To see them, %s.",
        spec.name,
        where(split),
        empty + cut,
        rows,
        len(tokenized),
        "; ".join(causes),
        consequence,
        " and ".join(fixes),
    )
