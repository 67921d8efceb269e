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
Logits to predictions, once: class ids, scores, ranked candidates, word tags and entities, answer spans. Evaluation,
prediction files and the `mtdnn` pipeline all decode through these functions, so they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "IGNORE_INDEX",
    "UNSEEN_WORD",
    "best_answers",
    "class_predictions",
    "entity_spans",
    "group_entities",
    "is_entity_tag",
    "ranking_pair_predictions",
    "ranking_predictions",
    "regression_predictions",
    "tags_at",
    "task_label",
    "word_starts",
    "word_tags",
]

IGNORE_INDEX = -100
# The tag id decoding gives a word the model never saw (no tokens, or cut off by max_seq_length): evaluation scores it
# as `O`, and prediction files write `O` and list the word in their `unseen_words` column.
UNSEEN_WORD = IGNORE_INDEX
# The prefixes of the tags seqeval's default mode reads (IOB1, IOB2, IOBES): `B-PER`, `I-PER`, `E-PER`, `S-PER`.
_CHUNK_PREFIXES = ("B", "I", "E", "S")


def task_label(task_name: str | None) -> str:
    """How error messages name a task: `Task 'rte'`, or `Task` when the caller gave no name."""
    return f"Task '{task_name}'" if task_name else "Task"


def class_predictions(logits: Any, *, task_name: str | None = None) -> np.ndarray:
    """
    Class ids `(n,)` from `(n, num_labels)` logits: the argmax over the labels (SAN heads return log-probabilities,
    whose argmax is the same).

    Example:

    ```python
    >>> class_predictions(np.array([[0.1, 2.0], [3.0, -1.0]]))
    array([1, 0])

    ```
    """
    logits = np.asarray(logits)
    if logits.ndim < 2:
        raise ValueError(
            f"{task_label(task_name)} (classification): got logits of shape {logits.shape}; pass "
            "`(n_examples, num_labels)` logits so the argmax runs over the labels."
        )
    return logits.argmax(axis=-1).astype(np.int64)


def regression_predictions(logits: Any, *, task_name: str | None = None) -> np.ndarray:
    """
    Scores `(n,)` float64 from `(n,)` or `(n, 1)` outputs.

    Example:

    ```python
    >>> regression_predictions(np.array([[0.5], [4.0]]))
    array([0.5, 4. ])

    ```
    """
    logits = np.asarray(logits)
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.ndim != 1:
        raise ValueError(
            f"{task_label(task_name)} (regression): got scores of shape {logits.shape}; pass `(n_examples,)` or "
            "`(n_examples, 1)` scores."
        )
    return logits.astype(np.float64)


def ranking_pair_predictions(
    scores: np.ndarray, candidate_labels: np.ndarray, positive_label: int = 0, *, task_name: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """
    Turns ranking scores over each query's candidates into per-pair predictions (how GLUE scores QNLI).

    In each group the top-scoring real candidate is predicted `positive_label`, every other real candidate
    `1 - positive_label`. Padded candidates (`candidate_labels == -100`) are never chosen and are left out.

    Args:
        scores (`np.ndarray`):
            `(groups, candidates)` scores of the ranking head; padded candidates may hold any value (`-inf`).
        candidate_labels (`np.ndarray`):
            `(groups, candidates)` pair labels (`positive_label` or `1 - positive_label`), `-100` for padding.
        positive_label (`int`, *optional*, defaults to 0):
            The class id of a relevant candidate (GLUE QNLI: 0 = `entailment`).
        task_name (`str`, *optional*, defaults to `None`):
            The task, named in error messages.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: flat int64 `(pair_predictions, pair_references)` over the real candidates,
        group by group.

    Raises:
        `ValueError`: if `positive_label` is not 0 or 1, or `scores` and `candidate_labels` are not 2-D arrays of
            the same shape.

    Example:

    ```python
    >>> scores = np.array([[0.2, 1.5, -np.inf], [0.9, 0.1, 0.3]])
    >>> labels = np.array([[1, 0, -100], [1, 0, 1]])
    >>> ranking_pair_predictions(scores, labels, positive_label=0)
    (array([1, 0, 0, 1, 1]), array([1, 0, 1, 0, 1]))

    ```
    """
    if positive_label not in (0, 1):
        raise ValueError(
            f"{task_label(task_name)} (ranking): got positive_label={positive_label!r}; per-pair labels are binary, "
            "so pass 0 or 1 (GLUE QNLI: 0 = entailment)."
        )
    scores = np.asarray(scores, dtype=np.float64)
    candidate_labels = np.asarray(candidate_labels)
    if scores.ndim != 2 or scores.shape != candidate_labels.shape:
        raise ValueError(
            f"{task_label(task_name)} (ranking): got scores of shape {scores.shape} and candidate_labels of shape "
            f"{candidate_labels.shape}; pass two `(groups, candidates)` arrays, padded with label -100."
        )
    real = candidate_labels != IGNORE_INDEX
    masked = np.where(real, scores, -np.inf)
    # `argmax` of a row of -inf only (no real candidate) is 0; such rows contribute no pair below.
    top = masked.argmax(axis=-1)
    is_top = np.zeros_like(real)
    is_top[np.arange(len(top)), top] = True
    predictions = np.where(is_top, positive_label, 1 - positive_label).astype(np.int64)
    return predictions[real], candidate_labels[real].astype(np.int64)


def ranking_predictions(
    scores: np.ndarray, group_ids: np.ndarray, positive_label: int = 0, *, task_name: str | None = None
) -> np.ndarray:
    """
    Per-pair predictions of a ranking task, in the order of its pairs: the top-scoring pair of each group (the
    question's candidates) is predicted `positive_label`, the others `1 - positive_label`.

    Args:
        scores (`np.ndarray`): `(n_pairs,)` scores of the ranking head, one per (query, candidate) pair.
        group_ids (`np.ndarray`): `(n_pairs,)` the query each pair belongs to; a group's pairs need not be adjacent.
        positive_label (`int`, *optional*, defaults to 0): the class id of a relevant candidate.
        task_name (`str`, *optional*, defaults to `None`): the task, named in error messages.

    Example:

    ```python
    >>> ranking_predictions(np.array([0.1, 2.0, 0.5, -1.0]), np.array([7, 7, 8, 7]))
    array([1, 0, 0, 1])

    ```
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    group_ids = np.asarray(group_ids).reshape(-1)
    if scores.shape != group_ids.shape:
        raise ValueError(
            f"{task_label(task_name)} (ranking): got {scores.shape[0]} scores for {group_ids.shape[0]} group ids; "
            "pass one score and one group id per pair."
        )
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, rows = np.unique(group_ids, return_inverse=True)
    columns = np.zeros_like(rows)
    seen: dict[int, int] = {}
    for i, row in enumerate(rows.tolist()):
        columns[i] = seen.get(row, 0)
        seen[row] = columns[i] + 1
    grid = np.full((len(seen), max(seen.values(), default=0)), -np.inf)
    labels = np.full(grid.shape, IGNORE_INDEX)
    grid[rows, columns] = scores
    labels[rows, columns] = 0
    flat, _ = ranking_pair_predictions(grid, labels, positive_label, task_name=task_name)
    # `ranking_pair_predictions` returns the real cells row by row; map them back to the pairs' order.
    real_cells = np.flatnonzero(labels.reshape(-1) != IGNORE_INDEX)
    return flat[np.searchsorted(real_cells, rows * grid.shape[1] + columns)]


def word_starts(word_ids: Sequence[int | None]) -> list[int]:
    """
    The positions of each word's first sub-token, where a token-classification head's tag for the word is read (as
    it was trained). `word_ids` is a tokenizer's `word_ids()`, with `None` or -1 for special tokens.

    Example:

    ```python
    >>> word_starts([None, 0, 0, 1, None])
    [1, 3]

    ```
    """
    ids = [-1 if word is None else word for word in word_ids]
    return [i for i, word in enumerate(ids) if word >= 0 and (i == 0 or ids[i - 1] != word)]


def tags_at(logits: Any, positions: Sequence[int]) -> list[int]:
    """The tag id (argmax) of the per-token logits `(seq_len, num_labels)` at each of `positions`."""
    best = np.asarray(logits).argmax(axis=-1)
    return [int(best[position]) for position in positions]


def word_tags(logits: Any, word_ids: Sequence[int | None], num_words: int) -> list[int]:
    """
    One tag id per word of a row of `num_words` words, read at each word's first sub-token (as trained), and
    `UNSEEN_WORD` (-100) for a word the model never saw: one the tokenizer turns into no tokens (a zero-width space,
    a soft hyphen, a control character) or one cut off by `max_seq_length`. Every word keeps its place.

    Example:

    ```python
    >>> logits = np.eye(3)[[0, 1, 2, 2, 0]]  # [CLS] w0 w2 w2 [SEP]: word 1 has no tokens, word 3 is cut off
    >>> word_tags(logits, [None, 0, 2, 2, None], num_words=4)
    [1, -100, 2, -100]

    ```
    """
    best = np.asarray(logits).argmax(axis=-1)
    tags = [UNSEEN_WORD] * num_words
    for position in word_starts(word_ids):
        word = word_ids[position]
        if 0 <= word < num_words and tags[word] == UNSEEN_WORD:
            tags[word] = int(best[position])
    return tags


def is_entity_tag(tag: Any) -> bool:
    """
    Whether `tag` belongs to a tag scheme that seqeval scores and [`group_entities`] decodes alike: `O`, or a prefix
    `B-`, `I-`, `E-` or `S-` followed by the entity type (IOB1, IOB2 and IOBES tags, such as `B-PER`). Bare types
    (`PER`: seqeval would read prefix `P` of type `ER`, and `ORG` as outside), BILOU's `L-` / `U-` and suffixed tags
    (`PER-B`) are not.

    Example:

    ```python
    >>> [is_entity_tag(tag) for tag in ("O", "B-PER", "I-MISC", "S-LOC", "PER", "U-PER", "B-")]
    [True, True, True, True, False, False, False]

    ```
    """
    return isinstance(tag, str) and (tag == "O" or (len(tag) > 2 and tag[0] in _CHUNK_PREFIXES and tag[1] == "-"))


def _chunk_ends(previous: str, tag: str, previous_type: str, kind: str) -> bool:
    """seqeval's `end_of_chunk` (default mode): the chunk of the previous word ends before this one."""
    if previous in ("E", "S"):
        return True
    if previous in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return previous != "O" and previous_type != kind


def _chunk_starts(previous: str, tag: str, previous_type: str, kind: str) -> bool:
    """seqeval's `start_of_chunk` (default mode): a chunk starts at this word."""
    if tag in ("B", "S"):
        return True
    if previous in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and previous_type != kind


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """
    The entities of one sequence of word tags, `(type, first word, last word)`, found by the rules of seqeval's
    default (conlleval-compatible) mode, which evaluation scores with: so the pipeline's entities are the ones the
    entity F1 counts, for IOB2, IOB1 (`I-` tags only) and IOBES tags alike. A tag outside these schemes (see
    [`is_entity_tag`]; the task spec refuses such tag names) reads as `O`.

    Example:

    ```python
    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "S-ORG", "E-ORG"])
    [('PER', 0, 1), ('LOC', 3, 4), ('LOC', 5, 5), ('ORG', 6, 6), ('ORG', 7, 7)]

    ```
    """
    spans: list[tuple[str, int, int]] = []
    previous, previous_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = ("O", "_") if tag == "O" or not is_entity_tag(tag) else (tag[0], tag[2:])
        if _chunk_ends(previous, prefix, previous_type, kind):
            spans.append((previous_type, begin, i - 1))
        if _chunk_starts(previous, prefix, previous_type, kind):
            begin = i
        previous, previous_type = prefix, kind
    return spans


def group_entities(words: Sequence[tuple[str, float, int, int]], text: str) -> list[dict[str, Any]]:
    """
    Entities from tagged words, as seqeval reads the tags when it scores them ([`entity_spans`]): with IOB2 tags,
    consecutive words tagged `I-<type>` continue an entity of that type, and a `B-` tag (or an `I-` tag of another
    type, or after `O`) starts a new one; IOB1 and IOBES tags are read as seqeval reads them too.

    Args:
        words (`list[tuple[str, float, int, int]]`):
            One `(tag, score, start, end)` per word, in order: its tag name, the tag's probability and its character
            offsets in `text`.
        text (`str`): the tagged text.

    Returns:
        `list[dict]`: `{"entity_group", "score", "word", "start", "end"}` per entity; `score` is the mean of its
        words' scores and `word == text[start:end]`.

    Example:

    ```python
    >>> group_entities([("B-PER", 0.9, 0, 4), ("I-PER", 0.7, 5, 10), ("O", 1.0, 11, 16)], "John Smith walks")
    [{'entity_group': 'PER', 'score': 0.8, 'word': 'John Smith', 'start': 0, 'end': 10}]

    ```
    """
    entities = []
    for kind, first, last in entity_spans([tag for tag, _, _, _ in words]):
        start, end = words[first][2], words[last][3]
        scores = [score for _, score, _, _ in words[first : last + 1]]
        score = sum(scores) / len(scores)
        entities.append({"entity_group": kind, "score": score, "word": text[start:end], "start": start, "end": end})
    return entities


def best_answers(logits: Any, features: Any, n_best_size: int = 20, max_answer_length: int = 30) -> dict:
    """
    The best answer of each example from the start and end logits of its windows, as transformers' question-answering
    examples search it: in every window, the `n_best_size` best starts and ends inside the context, with the end not
    before the start and at most `max_answer_length` tokens long; the span with the highest start + end logit over all
    of an example's windows wins. Evaluation, prediction files and the pipeline all pick answers with this rule.

    Args:
        logits (`np.ndarray` of shape `(windows, seq_len, 2)`): start and end logits (padding positions ignored).
        features: the windows, with `example_id`, `offset_mapping` ([-1, -1] outside the context) and `context`.

    Returns:
        `dict`: example id -> `{"answer", "score", "start", "end", "window", "first", "last"}`: character offsets
        into the context, the start + end logit as score, and the window and token positions of the span. An example
        whose windows hold no valid span gets an empty answer (window -1).
    """
    logits = np.asarray(logits, dtype=np.float64)
    best: dict[Any, dict[str, Any]] = {}
    for window, (example, offsets, context) in enumerate(
        zip(features["example_id"], features["offset_mapping"], features["context"])
    ):
        start_logits, end_logits = logits[window, : len(offsets), 0], logits[window, : len(offsets), 1]
        inside = np.array([offset[0] >= 0 for offset in offsets])
        starts = [i for i in np.argsort(start_logits)[::-1] if inside[i]][:n_best_size]
        ends = [i for i in np.argsort(end_logits)[::-1] if inside[i]][:n_best_size]
        current = best.setdefault(
            example, {"answer": "", "score": -math.inf, "start": 0, "end": 0, "window": -1, "first": 0, "last": 0}
        )
        for start in starts:
            for end in ends:
                if end < start or end - start + 1 > max_answer_length:
                    continue
                score = float(start_logits[start] + end_logits[end])
                if score > current["score"]:
                    first, last = offsets[start][0], offsets[end][1]
                    current.update(
                        answer=context[first:last],
                        score=score,
                        start=first,
                        end=last,
                        window=window,
                        first=int(start),
                        last=int(end),
                    )
    return best
