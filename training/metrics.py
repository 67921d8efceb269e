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
"""GLUE-style metrics of MT-DNN, computed offline by the local `evaluate` module `metric_modules/mtdnn_glue.py`.

Turns a task's logits into predictions (argmax, flattened scores, or per-pair labels from a ranking), scores them
with the metric config of the task, and reduces the results to the GLUE-style single score of a task and of a run.
"""

from __future__ import annotations

import collections
import functools
import math
import os
import re
import string
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling_mtdnn.decoding import (
    IGNORE_INDEX,
    best_answers,
    is_entity_tag,
    ranking_pair_predictions,
    ranking_predictions,
    tags_at,
    task_label,
)
from modeling_mtdnn.task_types import TASK_TYPES, get_task_type, task_type_of

if TYPE_CHECKING:
    import evaluate

__all__ = [
    "METRIC_CONFIGS",
    "METRIC_MODULE_PATH",
    "METRIC_NAMES",
    "REGRESSION_METRICS",
    "SEQEVAL_METRICS",
    "SQUAD_METRICS",
    "TOKEN_ACCURACY_METRICS",
    "average_score",
    "compute_task_metrics",
    "entity_metrics",
    "load_metric",
    "predictions_from_logits",
    "ranking_pair_predictions",
    "ranking_predictions",
    "score_task",
    "span_answers",
    "squad_metrics",
    "tag_accuracy",
    "task_score",
    "token_tag_sequences",
]

METRIC_MODULE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metric_modules", "mtdnn_glue.py")

# Config name of the metric module -> the metric names it returns (kept equal to `mtdnn_glue.METRIC_CONFIGS`).
METRIC_CONFIGS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "accuracy_f1": ("accuracy", "f1"),
    "cola": ("matthews_correlation",),
    "matthews": ("matthews_correlation",),
    "mnli": ("accuracy",),
    "mnli_mm": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "pearson_spearman": ("pearson", "spearmanr"),
    "qnli": ("accuracy",),
    "qqp": ("accuracy", "f1"),
    "rte": ("accuracy",),
    "scitail": ("accuracy",),
    "snli": ("accuracy",),
    "sst2": ("accuracy",),
    "stsb": ("pearson", "spearmanr"),
    "wnli": ("accuracy",),
}

_PUNCTUATION = frozenset(string.punctuation)
# The metric configs that score real-valued predictions (regression); every other config scores class ids.
REGRESSION_METRICS = frozenset(name for name, metrics in METRIC_CONFIGS.items() if "pearson" in metrics)
# Token classification is scored per entity with seqeval (precision, recall and F1 over whole entities, as CoNLL's
# conlleval does; the task's score is the F1), plus the accuracy over labelled tokens.
SEQEVAL_METRICS = ("precision", "recall", "f1", "accuracy")
# Span extraction is scored as SQuAD v1.1's official script does: exact match and token F1 against the best of the
# gold answers after its normalisation (lower case, no punctuation, articles or extra spaces), as fractions (the
# script prints percentages); the task's score is the F1.
SQUAD_METRICS = ("exact_match", "f1")
# Token classification of tags that name no entities (part of speech, `tag_scheme: tags`) is scored per word: the
# share of words whose tag is right (a word the model never saw counts as wrong).
TOKEN_ACCURACY_METRICS = ("accuracy",)
# Every metric config a task may name -> the metric names it reports.
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    **METRIC_CONFIGS,
    "seqeval": SEQEVAL_METRICS,
    "token_accuracy": TOKEN_ACCURACY_METRICS,
    "squad": SQUAD_METRICS,
}


def load_metric(config_name: str) -> evaluate.EvaluationModule:
    """
    Loads the metric module `METRIC_MODULE_PATH` for one config, offline, once per config name.

    Args:
        config_name (`str`):
            One of the keys of `METRIC_CONFIGS` (`cola`, `mrpc`, `stsb`, ..., or the generic `accuracy`,
            `accuracy_f1`, `matthews`, `pearson_spearman`).

    Returns:
        `evaluate.EvaluationModule`: the metric, kept in memory (it writes no cache files when computing).

    Raises:
        `ValueError`: if `config_name` is not a key of `METRIC_CONFIGS`.
    """
    if config_name not in METRIC_CONFIGS:
        raise ValueError(
            f"Metric config {config_name!r} is not known: set the task's `metric` to one of {sorted(METRIC_CONFIGS)}."
        )
    return _load_metric(config_name)


@functools.lru_cache(maxsize=len(METRIC_CONFIGS))
def _load_metric(config_name: str) -> evaluate.EvaluationModule:
    import evaluate

    return evaluate.load(METRIC_MODULE_PATH, config_name, keep_in_memory=True)


def compute_task_metrics(task_name: str, metric_config: str, predictions: Any, references: Any) -> dict[str, float]:
    """
    Scores one task's predictions with its metric config.

    Args:
        task_name (`str`):
            The task, named in error messages.
        metric_config (`str`):
            The config of the metric module (a key of `METRIC_CONFIGS`).
        predictions (`np.ndarray` or `list`):
            One prediction per example: class ids, or float scores for `stsb` and `pearson_spearman`.
        references (`np.ndarray` or `list`):
            The gold labels, as many as `predictions`.

    Returns:
        `dict[str, float]`: metric name -> value, the names of `METRIC_CONFIGS[metric_config]`.

    Raises:
        `ValueError`: if the config is unknown, or `predictions` and `references` are not 1-D, are empty or differ
            in length.
    """
    if metric_config not in METRIC_NAMES:
        raise ValueError(
            f"Task '{task_name}': metric config {metric_config!r} is not known: set the task's `metric` to one of "
            f"{sorted(METRIC_NAMES)}."
        )
    if metric_config == "seqeval":
        return entity_metrics(task_name, predictions, references)
    if metric_config == "token_accuracy":
        return tag_accuracy(task_name, predictions, references)
    if metric_config == "squad":
        return squad_metrics(task_name, predictions, references)
    predictions = _column(task_name, "predictions", predictions)
    references = _column(task_name, "references", references)
    if len(predictions) != len(references):
        raise ValueError(
            f"Task '{task_name}': got {len(predictions)} predictions but {len(references)} references: pass one "
            "prediction per evaluated example."
        )
    if len(predictions) == 0:
        raise ValueError(
            f"Task '{task_name}': got 0 predictions and 0 references: evaluate on a non-empty validation split."
        )
    results = load_metric(metric_config).compute(predictions=predictions, references=references)
    return {name: float(results[name]) for name in METRIC_CONFIGS[metric_config]}


def token_tag_sequences(
    logits: np.ndarray, labels: list[list[int]], id2label: dict[int, str]
) -> tuple[list[list[str]], list[list[str]]]:
    """
    The predicted and gold tag sequences of a token-classification task, one per example, over the tokens that carry
    a label (a word's first sub-token; -100 marks the others, special tokens and padding). Words the model never saw
    (no tokens, or cut off) carry no label, so they are left out here; `score_task` scores them as predicted `O`.

    Args:
        logits (`np.ndarray` of shape `(n, seq_len, num_labels)`):
            The head's logits, padded along `seq_len` with any value (the evaluation loop pads with -100).
        labels (`list[list[int]]`):
            Each example's tag ids per token, -100 where there is no label.
        id2label (`dict[int, str]`):
            Tag id -> tag name (`B-PER`, `I-PER`, `O`, ...).

    Example:

    ```python
    >>> logits = np.array([[[0.0, 9.0, 0.0], [9.0, 0.0, 0.0], [0.0, 0.0, 9.0]]])
    >>> token_tag_sequences(logits, [[-100, 1, 2]], {0: "O", 1: "B-PER", 2: "I-PER"})
    ([['O', 'I-PER']], [['B-PER', 'I-PER']])

    ```
    """
    logits = np.asarray(logits)
    if logits.ndim != 3 or logits.shape[0] != len(labels):
        raise ValueError(
            f"Token classification needs logits of shape (examples, seq_len, num_labels) for {len(labels)} examples, "
            f"got {logits.shape}."
        )
    predicted, gold = [], []
    for row, tags in zip(logits, labels):
        kept = [position for position, tag in enumerate(tags) if tag != IGNORE_INDEX]
        predicted.append([id2label[tag] for tag in tags_at(row, kept)])
        gold.append([id2label[int(tags[position])] for position in kept])
    return predicted, gold


def _check_tag_sequences(task_name: str, predictions: list[list[str]], references: list[list[str]]) -> None:
    """One predicted tag per gold tag, row by row, and at least one tag to score."""
    if len(predictions) != len(references):
        raise ValueError(
            f"Task '{task_name}': got {len(predictions)} predicted tag sequences but {len(references)} gold ones."
        )
    for row, (predicted, gold) in enumerate(zip(predictions, references)):
        if len(predicted) != len(gold):
            raise ValueError(
                f"Task '{task_name}': example {row} has {len(predicted)} predicted tags but {len(gold)} gold tags."
            )
    if not any(references):
        raise ValueError(f"Task '{task_name}': got no tags to score: evaluate on a non-empty validation split.")


def entity_metrics(task_name: str, predictions: list[list[str]], references: list[list[str]]) -> dict[str, float]:
    """
    Entity-level precision, recall and F1 of tag sequences (IOB2, IOB1 or IOBES tags such as `B-PER`, `I-PER`, `O`),
    with seqeval's default (conlleval-compatible) matching, and the accuracy over tags. The `mtdnn` pipeline groups
    tags into entities by the same rules ([`~modeling_mtdnn.decoding.entity_spans`]).

    `score_task` passes one tag per word of each row: a word the model never saw (no tokens, or cut off by
    `max_seq_length`) is predicted `O` against its gold tag, so an entity there counts as missed and the score is
    the one of the prediction file's tags; preparing the split warns how many such words there are.

    Raises:
        `ValueError`: if the sequences differ in number or length, or are empty, or a tag is outside those schemes
            (seqeval would read `PER` as prefix `P` of type `ER`, and `ORG` as outside).
    """
    _check_tag_sequences(task_name, predictions, references)
    for which, sequences in (("gold", references), ("predicted", predictions)):
        bad = next((tag for row in sequences for tag in row if not is_entity_tag(tag)), None)
        if bad is not None:
            raise ValueError(
                f"Task '{task_name}': {which} tag {bad!r} is not of a scheme seqeval scores (IOB2, IOB1, IOBES: 'O', "
                "or 'B-', 'I-', 'E-', 'S-' then the entity type); prefix the task's tag names, as 'B-PER' / 'I-PER'."
            )
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    # An entity-free corner (no gold or no predicted entity) scores 0 instead of warning.
    options = {"zero_division": 0}
    return {
        "precision": float(precision_score(references, predictions, **options)),
        "recall": float(recall_score(references, predictions, **options)),
        "f1": float(f1_score(references, predictions, **options)),
        "accuracy": float(accuracy_score(references, predictions)),
    }


def tag_accuracy(task_name: str, predictions: list[list[str]], references: list[list[str]]) -> dict[str, float]:
    """
    The share of words whose predicted tag is the gold one, over every word of every row (part-of-speech tagging's
    usual score; `metric: token_accuracy`). Any tag names are taken: nothing is grouped into entities.

    Raises:
        `ValueError`: if the sequences differ in number or length, or hold no tag.

    Example:

    ```python
    >>> tag_accuracy("pos", [["NNP", "VBZ"], ["DT"]], [["NNP", "VBD"], ["DT"]])
    {'accuracy': 0.6666666666666666}

    ```
    """
    _check_tag_sequences(task_name, predictions, references)
    total = sum(len(row) for row in references)
    right = sum(p == g for predicted, gold in zip(predictions, references) for p, g in zip(predicted, gold))
    return {"accuracy": right / total}


def _normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, punctuation and the articles a/an/the removed, spaces collapsed."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _token_f1(prediction: str, gold: str) -> float:
    predicted, expected = _normalize_answer(prediction).split(), _normalize_answer(gold).split()
    common = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(task_name: str, predictions: list[str], references: list[list[str]]) -> dict[str, float]:
    """
    SQuAD v1.1's exact match and F1 (its official evaluation script's normalisation and token overlap), each the
    best over an example's gold answers and averaged over the examples, as fractions.

    Example:

    ```python
    >>> squad_metrics("squad", ["the Denver Broncos", "1990"], [["Denver Broncos"], ["in 1991", "1991"]])
    {'exact_match': 0.5, 'f1': 0.5}

    ```
    """
    if len(predictions) != len(references):
        raise ValueError(f"Task '{task_name}': got {len(predictions)} answers for {len(references)} questions.")
    if not predictions:
        raise ValueError(f"Task '{task_name}': got no answers to score: evaluate on a non-empty validation split.")
    pairs = list(zip(predictions, references))
    exact = [max(float(_normalize_answer(p) == _normalize_answer(g)) for g in gold) for p, gold in pairs]
    f1 = [max(_token_f1(p, g) for g in gold) for p, gold in pairs]
    return {"exact_match": math.fsum(exact) / len(exact), "f1": math.fsum(f1) / len(f1)}


# Answers are picked by the n-best rule that the pipeline and prediction files use too (one decoding).
span_answers = best_answers


def _column(task_name: str, name: str, values: Any) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"Task '{task_name}': got {name} of shape {values.shape}; pass one value per example, shape `(n,)` "
            "(turn logits into predictions with `predictions_from_logits` first)."
        )
    return values


def predictions_from_logits(task_type: str, logits: np.ndarray, *, task_name: str | None = None) -> np.ndarray:
    """
    Turns a classification or regression head's outputs into the predictions its metric expects, by the task
    type's own decoding ([`~modeling_mtdnn.TaskType.decode`]).

    Args:
        task_type (`str`):
            `classification` (argmax over the last axis) or `regression` (the scores, flattened).
        logits (`np.ndarray`):
            `(n, num_labels)` for classification; `(n,)` or `(n, 1)` for regression.
        task_name (`str`, *optional*, defaults to `None`):
            The task, named in error messages.

    Returns:
        `np.ndarray`: `(n,)` int64 class ids (classification) or float64 scores (regression).

    Raises:
        `ValueError`: for a `ranking` task (use `ranking_pair_predictions`), an unknown `task_type`, or logits of
            the wrong shape.

    Example:

    ```python
    >>> predictions_from_logits("classification", np.array([[0.1, 2.0], [3.0, -1.0]]))
    array([1, 0])
    >>> predictions_from_logits("regression", np.array([[0.5], [4.0]]))
    array([0.5, 4. ])

    ```
    """
    kind = get_task_type(task_type) if task_type in TASK_TYPES else None
    if kind is not None and kind.groups_candidates:
        raise ValueError(
            f"{task_label(task_name)} (ranking): per-pair predictions of a ranking task need the candidates of each "
            "query; use `ranking_pair_predictions(scores, candidate_labels, positive_label)` instead."
        )
    if kind is None or kind.input_kind != "sentences":
        raise ValueError(
            f"{task_label(task_name)}: task_type {task_type!r} is not known: use 'classification', 'regression' or "
            "'ranking' (the last with `ranking_pair_predictions`)."
        )
    return kind.decode(np.asarray(logits), task_name=task_name)


def score_task(
    task_name: str,
    spec: dict[str, Any],
    metric: str,
    dataset: Any,
    logits: np.ndarray,
    **settings: Any,
) -> dict[str, float]:
    """
    Scores one evaluation set: its task type decodes the logits into predictions (class ids, scores, per-pair labels,
    tags per word, answers) and reads the references from the prepared rows, and the task's metric compares them.

    Args:
        task_name (`str`): the task, named in error messages.
        spec (`dict`): the task's spec in the model config.
        metric (`str`): the metric config (a key of `METRIC_NAMES`).
        dataset: the prepared evaluation rows, in the order of `logits`.
        logits (`np.ndarray`): the head's logits over `dataset`.
        settings: what decoding takes: `positive_label` (ranking), `n_best_size` and `max_answer_length` (spans).
    """
    kind = task_type_of(spec)
    predictions = kind.decode(logits, dataset, task_name=task_name, **settings)
    predictions, references = kind.metric_inputs(predictions, kind.references(dataset), spec)
    return compute_task_metrics(task_name, metric, predictions, references)


def task_score(metrics: dict[str, float]) -> float:
    """
    The GLUE-style single score of a task: the mean of its metric values, or the F1 for entity-level metrics
    (precision, recall and F1 of a token-classification task, as CoNLL-2003 is scored) and for SQuAD's exact match
    and F1.

    Args:
        metrics (`dict[str, float]`):
            The task's metrics, as `compute_task_metrics` returns them (MRPC: accuracy and f1).

    Returns:
        `float`: the mean of the values (the F1 for entity-level metrics).

    Raises:
        `ValueError`: if `metrics` is empty.

    Example:

    ```python
    >>> task_score({"accuracy": 0.75, "f1": 0.85})
    0.8

    ```
    """
    if not metrics:
        raise ValueError("Got no metric values to score the task with: pass the dict `compute_task_metrics` returns.")
    if {"precision", "recall", "f1"} <= metrics.keys() or {"exact_match", "f1"} == metrics.keys():
        return float(metrics["f1"])  # NER (entity F1, as CoNLL) and SQuAD (token F1): F1 is the task's score
    return math.fsum(float(value) for value in metrics.values()) / len(metrics)


def average_score(per_task: dict[str, dict[str, float]]) -> float:
    """
    The GLUE-style average of a run (`eval_average`): the mean of the tasks' `task_score`.

    Args:
        per_task (`dict[str, dict[str, float]]`):
            Evaluation key (task, or task and split, as `mnli_mm`) -> that task's metrics.

    Returns:
        `float`: the mean of the task scores, each task counting once whatever its number of metrics. A task whose
        score is undefined (NaN: Pearson of constant predictions) is left out with a warning naming it; the average
        is NaN only when no task has a score.

    Raises:
        `ValueError`: if `per_task` is empty or one of its tasks has no metrics.

    Example:

    ```python
    >>> average_score({"rte": {"accuracy": 0.5}, "mrpc": {"accuracy": 0.8, "f1": 0.9}})
    0.675

    ```
    """
    if not per_task:
        raise ValueError("Got no task metrics to average: evaluate at least one task before computing `eval_average`.")
    scores, undefined = [], []
    for task_name, metrics in per_task.items():
        if not metrics:
            raise ValueError(
                f"Task '{task_name}': got no metric values, so it has no score to average: pass the dict "
                "`compute_task_metrics` returns for it."
            )
        score = task_score(metrics)
        if math.isfinite(score):
            scores.append(score)
        else:
            undefined.append(task_name)
    if undefined:
        warnings.warn(
            f"Task(s) {undefined}: the score is undefined (NaN), as a correlation is for constant predictions or "
            "labels, or a single example; the average leaves them out"
            + (" and is NaN, since no task has a score." if not scores else ".")
            + " Evaluate on more examples, or check the model's predictions.",
            UserWarning,
            stacklevel=2,
        )
    return math.fsum(scores) / len(scores) if scores else math.nan
