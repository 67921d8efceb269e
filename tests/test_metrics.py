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
"""GLUE-style metrics against values computed by hand, the ranking-to-pair conversion and offline loading."""

from __future__ import annotations

import math
import os
import re
import sys

import numpy as np
import pytest

from mtdnn.training import metrics as metrics_module
from mtdnn.training.metrics import (
    METRIC_CONFIGS,
    METRIC_MODULE_PATH,
    average_score,
    compute_task_metrics,
    load_metric,
    predictions_from_logits,
    ranking_pair_predictions,
    ranking_predictions,
    task_score,
)

# Read by `evaluate` when it is first imported (lazily, by `load_metric`): nothing here may touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")


# ------------------------------------------------------------------------------------------------ hand formulas
def hand_accuracy(predictions, references):
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def hand_f1(predictions, references):
    tp = sum(p == 1 and r == 1 for p, r in zip(predictions, references))
    fp = sum(p == 1 and r == 0 for p, r in zip(predictions, references))
    fn = sum(p == 0 and r == 1 for p, r in zip(predictions, references))
    return 2 * tp / (2 * tp + fp + fn)


def hand_mcc(predictions, references):
    """Gorodkin's multi-class MCC; for two classes it is (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))."""
    classes = sorted(set(predictions) | set(references))
    n = len(references)
    correct = sum(p == r for p, r in zip(predictions, references))
    predicted = [sum(p == k for p in predictions) for k in classes]
    true = [sum(r == k for r in references) for k in classes]
    numerator = correct * n - sum(p * t for p, t in zip(predicted, true))
    denominator = math.sqrt((n * n - sum(p * p for p in predicted)) * (n * n - sum(t * t for t in true)))
    return numerator / denominator if denominator else 0.0


def hand_binary_mcc(predictions, references):
    tp = sum(p == 1 and r == 1 for p, r in zip(predictions, references))
    tn = sum(p == 0 and r == 0 for p, r in zip(predictions, references))
    fp = sum(p == 1 and r == 0 for p, r in zip(predictions, references))
    fn = sum(p == 0 and r == 1 for p, r in zip(predictions, references))
    return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


def hand_pearson(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / math.sqrt((dx * dx).sum() * (dy * dy).sum()))


BINARY_PREDICTIONS = [1, 1, 0, 1, 0, 0, 1, 0]
BINARY_REFERENCES = [1, 0, 0, 1, 1, 0, 1, 0]  # tp=3, tn=3, fp=1, fn=1
THREE_CLASS_PREDICTIONS = [0, 1, 2, 2, 1, 0, 2]
THREE_CLASS_REFERENCES = [0, 1, 1, 2, 1, 2, 2]
STS_PREDICTIONS = [0.5, 2.0, 3.5, 1.0, 4.5]
STS_REFERENCES = [1.0, 2.5, 3.0, 1.0, 5.0]
# Ranks by hand: predictions 0.5<1.0<2.0<3.5<4.5 -> [1, 3, 4, 2, 5]; references with the tie of 1.0 at ranks 1
# and 2 averaged to 1.5 -> [1.5, 3, 4, 1.5, 5]; Spearman is the Pearson of the ranks.
STS_SPEARMAN = hand_pearson([1, 3, 4, 2, 5], [1.5, 3, 4, 1.5, 5])

ACCURACY_CONFIGS = ["sst2", "mnli", "mnli_mm", "qnli", "rte", "wnli", "snli", "scitail", "accuracy"]
CASES = [
    *[(c, BINARY_PREDICTIONS, BINARY_REFERENCES, {"accuracy": 6 / 8}) for c in ACCURACY_CONFIGS],
    ("mnli", THREE_CLASS_PREDICTIONS, THREE_CLASS_REFERENCES, {"accuracy": 5 / 7}),
    ("snli", THREE_CLASS_PREDICTIONS, THREE_CLASS_REFERENCES, {"accuracy": 5 / 7}),
    *[
        (c, BINARY_PREDICTIONS, BINARY_REFERENCES, {"accuracy": 6 / 8, "f1": 6 / 8})
        for c in ("mrpc", "qqp", "accuracy_f1")
    ],
    ("mrpc", [1, 1, 1, 0, 0], [1, 0, 0, 0, 1], {"accuracy": 2 / 5, "f1": 2 / 5}),  # tp=1, fp=2, fn=1
    ("qqp", [0, 0, 1, 1], [0, 1, 1, 1], {"accuracy": 3 / 4, "f1": 4 / 5}),  # tp=2, fp=0, fn=1
    *[(c, BINARY_PREDICTIONS, BINARY_REFERENCES, {"matthews_correlation": 8 / 16}) for c in ("cola", "matthews")],
    ("cola", [1, 1, 1, 0, 1], [1, 0, 1, 0, 0], {"matthews_correlation": 1 / math.sqrt(6)}),  # tp=2 tn=1 fp=2 fn=0
    ("cola", [1, 1, 1, 1], [1, 0, 1, 0], {"matthews_correlation": 0.0}),  # undefined: one predicted class
    ("matthews", THREE_CLASS_PREDICTIONS, THREE_CLASS_REFERENCES, {"matthews_correlation": 18 / math.sqrt(960)}),
    *[
        (
            c,
            STS_PREDICTIONS,
            STS_REFERENCES,
            {"pearson": hand_pearson(STS_PREDICTIONS, STS_REFERENCES), "spearmanr": STS_SPEARMAN},
        )
        for c in ("stsb", "pearson_spearman")
    ],
    ("stsb", [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], {"pearson": -1.0, "spearmanr": -1.0}),
]


def test_hand_formulas_agree_with_each_other():
    assert hand_mcc(BINARY_PREDICTIONS, BINARY_REFERENCES) == pytest.approx(
        hand_binary_mcc(BINARY_PREDICTIONS, BINARY_REFERENCES)
    )
    assert hand_binary_mcc(BINARY_PREDICTIONS, BINARY_REFERENCES) == pytest.approx(8 / 16)
    assert hand_mcc(THREE_CLASS_PREDICTIONS, THREE_CLASS_REFERENCES) == pytest.approx(18 / math.sqrt(960))
    assert hand_f1(BINARY_PREDICTIONS, BINARY_REFERENCES) == pytest.approx(6 / 8)
    assert hand_accuracy(THREE_CLASS_PREDICTIONS, THREE_CLASS_REFERENCES) == pytest.approx(5 / 7)


@pytest.mark.parametrize("config, predictions, references, expected", CASES)
def test_every_config_matches_hand_computed_values(config, predictions, references, expected):
    results = compute_task_metrics("t", config, np.asarray(predictions), np.asarray(references))
    assert list(results) == list(METRIC_CONFIGS[config])
    assert results == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert all(type(value) is float for value in results.values())


def test_every_config_is_covered_and_the_module_agrees_on_metric_names():
    assert {case[0] for case in CASES} == set(METRIC_CONFIGS)
    module = sys.modules[type(load_metric("cola")).__module__]
    assert module.METRIC_CONFIGS == METRIC_CONFIGS


def test_lists_and_column_inputs_are_accepted():
    assert compute_task_metrics("rte", "rte", [0, 1, 1], [0, 1, 0]) == {"accuracy": pytest.approx(2 / 3)}
    column = np.asarray(STS_PREDICTIONS)[:, None]
    results = compute_task_metrics("stsb", "stsb", column, STS_REFERENCES)
    assert results["pearson"] == pytest.approx(hand_pearson(STS_PREDICTIONS, STS_REFERENCES), rel=1e-6)


def test_loading_is_offline_cached_and_in_the_plain_module_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    metrics_module._load_metric.cache_clear()
    metric = load_metric("mrpc")
    assert load_metric("mrpc") is metric
    assert metric.config_name == "mrpc"
    assert metric.compute(predictions=[0, 1], references=[0, 1]) == {"accuracy": 1.0, "f1": 1.0}
    assert os.path.isabs(METRIC_MODULE_PATH) and os.path.isfile(METRIC_MODULE_PATH)
    assert os.path.basename(METRIC_MODULE_PATH) == "mtdnn_glue.py"
    assert not os.path.exists(os.path.join(os.path.dirname(METRIC_MODULE_PATH), "__init__.py"))


# ------------------------------------------------------------------------------------------------ logits
@pytest.mark.parametrize(
    "task_type, logits, expected",
    [
        ("classification", [[0.1, 2.0], [3.0, -1.0], [0.0, 0.5]], [1, 0, 1]),
        ("classification", [[0.1, 0.2, 0.3], [5.0, 1.0, 1.0]], [2, 0]),
        ("regression", [0.5, 4.0, -1.0], [0.5, 4.0, -1.0]),
        ("regression", [[0.5], [4.0], [-1.0]], [0.5, 4.0, -1.0]),
    ],
)
def test_predictions_from_logits(task_type, logits, expected):
    predictions = predictions_from_logits(task_type, np.asarray(logits, dtype=np.float32))
    assert predictions.shape == (len(expected),)
    assert predictions.dtype == (np.int64 if task_type == "classification" else np.float64)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "task_type, logits, message",
    [
        (
            "ranking",
            np.zeros((2, 3)),
            "Task 'qnli' (ranking): per-pair predictions of a ranking task need the candidates of each query; use `ranking_pair_predictions(scores, candidate_labels, positive_label)` instead.",
        ),
        (
            "classification",
            np.zeros(3),
            "Task 'qnli' (classification): got logits of shape (3,); pass `(n_examples, num_labels)` logits so the argmax runs over the labels.",
        ),
        (
            "regression",
            np.zeros((3, 2)),
            "Task 'qnli' (regression): got scores of shape (3, 2); pass `(n_examples,)` or `(n_examples, 1)` scores.",
        ),
        (
            "tagging",
            np.zeros((3, 2)),
            "Task 'qnli': task_type 'tagging' is not known: use 'classification', 'regression' or 'ranking' (the last with `ranking_pair_predictions`).",
        ),
    ],
)
def test_predictions_from_logits_errors(task_type, logits, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        predictions_from_logits(task_type, logits, task_name="qnli")


def test_predictions_from_logits_error_without_task_name():
    with pytest.raises(ValueError, match=re.escape("Task (ranking): per-pair predictions of a ranking task")):
        predictions_from_logits("ranking", np.zeros((2, 3)))


# ------------------------------------------------------------------------------------------------ ranking
NEG = -1e9
RANKING_CASES = [
    # Three groups of 3, 2 and 1 real candidates padded to 3; the second has no positive (label 0) at all.
    (
        [[0.2, 1.5, 0.3], [0.9, 0.1, NEG], [-5.0, NEG, -np.inf]],
        [[1, 0, 1], [1, 1, -100], [0, -100, -100]],
        0,
        [1, 0, 1, 0, 1, 0],
        [1, 0, 1, 1, 1, 0],
    ),
    # A padded slot with the highest raw score is never chosen; ties go to the first real candidate.
    (
        [[1.0, 1.0, 9.0], [0.0, 2.0, 3.0]],
        [[0, 1, -100], [1, 1, 0]],
        0,
        [0, 1, 1, 1, 0],
        [0, 1, 1, 1, 0],
    ),
    # positive_label=1: the top candidate is predicted 1, the others 0; an all-padding group adds no pair.
    (
        [[0.3, 0.7, NEG, NEG], [NEG, NEG, NEG, NEG], [2.0, 1.0, 0.0, -1.0]],
        [[0, 1, -100, -100], [-100, -100, -100, -100], [0, 1, 0, 0]],
        1,
        [0, 1, 1, 0, 0, 0],
        [0, 1, 0, 1, 0, 0],
    ),
]


@pytest.mark.parametrize("scores, labels, positive_label, expected_predictions, expected_references", RANKING_CASES)
def test_ranking_pair_predictions(scores, labels, positive_label, expected_predictions, expected_references):
    predictions, references = ranking_pair_predictions(np.asarray(scores), np.asarray(labels), positive_label)
    assert predictions.tolist() == expected_predictions
    assert references.tolist() == expected_references
    assert predictions.dtype == references.dtype == np.int64


def test_ranking_pairs_feed_the_qnli_metric():
    scores, labels, _, _, _ = RANKING_CASES[0]
    predictions, references = ranking_pair_predictions(np.asarray(scores), np.asarray(labels))
    assert compute_task_metrics("qnli", "qnli", predictions, references) == {"accuracy": pytest.approx(5 / 6)}


@pytest.mark.parametrize(
    "scores, labels, positive_label, message",
    [
        (
            np.zeros((2, 3)),
            np.zeros((2, 2)),
            0,
            "Task 'qnli' (ranking): got scores of shape (2, 3) and candidate_labels of shape (2, 2); pass two `(groups, candidates)` arrays, padded with label -100.",
        ),
        (
            np.zeros(3),
            np.zeros(3),
            0,
            "Task 'qnli' (ranking): got scores of shape (3,) and candidate_labels of shape (3,); pass two `(groups, candidates)` arrays, padded with label -100.",
        ),
        (
            np.zeros((2, 3)),
            np.zeros((2, 3)),
            2,
            "Task 'qnli' (ranking): got positive_label=2; per-pair labels are binary, so pass 0 or 1 (GLUE QNLI: 0 = entailment).",
        ),
    ],
)
def test_ranking_pair_predictions_errors(scores, labels, positive_label, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ranking_pair_predictions(scores, labels, positive_label, task_name="qnli")


@pytest.mark.parametrize(
    "scores, groups, positive_label, expected",
    [
        ([0.1, 2.0, 0.5, -1.0], [7, 7, 8, 7], 0, [1, 0, 0, 1]),  # groups interleaved; a group of one is its own top
        ([3.0, 1.0, 1.0, 2.0], [0, 1, 1, 0], 1, [1, 1, 0, 0]),  # positive_label 1; the tie goes to the first pair
        ([], [], 0, []),
    ],
)
def test_ranking_predictions_in_pair_order(scores, groups, positive_label, expected):
    predictions = ranking_predictions(np.asarray(scores), np.asarray(groups), positive_label)
    assert predictions.tolist() == expected


def test_ranking_predictions_error():
    with pytest.raises(ValueError, match=re.escape("Task 'qnli' (ranking): got 3 scores for 2 group ids")):
        ranking_predictions(np.zeros(3), np.zeros(2), task_name="qnli")


# ------------------------------------------------------------------------------------------------ scores
@pytest.mark.parametrize(
    "metrics, expected",
    [
        ({"accuracy": 0.8, "f1": 0.9}, 0.85),
        ({"pearson": 0.88, "spearmanr": 0.86}, 0.87),
        ({"matthews_correlation": 0.55}, 0.55),
        ({"accuracy": 0.7}, 0.7),
    ],
)
def test_task_score(metrics, expected):
    assert task_score(metrics) == pytest.approx(expected)


def test_average_score_counts_each_task_once():
    per_task = {
        "cola": {"matthews_correlation": 0.5},
        "mrpc": {"accuracy": 0.8, "f1": 0.9},
        "stsb": {"pearson": 0.88, "spearmanr": 0.86},
        "mnli_mm": {"accuracy": 0.75},
    }
    assert average_score(per_task) == pytest.approx((0.5 + 0.85 + 0.87 + 0.75) / 4)
    assert type(average_score(per_task)) is float


def test_an_undefined_score_is_left_out_of_the_average_with_a_warning_naming_the_task():
    per_task = {"rte": {"accuracy": 0.5}, "stsb": {"pearson": math.nan, "spearmanr": math.nan}, "cola": {"matthews_correlation": 0.3}}  # fmt: skip
    with pytest.warns(UserWarning, match=re.escape("Task(s) ['stsb']: the score is undefined (NaN), as a correlation is for constant predictions or labels, or a single example; the average leaves them out. Evaluate on more examples")):  # fmt: skip
        assert average_score(per_task) == pytest.approx(0.4)
    with pytest.warns(
        UserWarning, match=re.escape("the average leaves them out and is NaN, since no task has a score.")
    ):
        assert math.isnan(average_score({"stsb": {"pearson": math.nan, "spearmanr": math.nan}}))


@pytest.mark.parametrize(
    "predictions, references",
    [([2.5], [3.0]), ([1.0, 1.0, 1.0], [0.5, 2.0, 4.0]), ([0.5, 2.0, 4.0], [3.0, 3.0, 3.0])],
    ids=["one-example", "constant-predictions", "constant-labels"],
)
def test_correlations_of_degenerate_sets_are_nan_not_a_crash(predictions, references):
    scores = compute_task_metrics("stsb", "stsb", predictions, references)
    assert math.isnan(scores["pearson"]) and math.isnan(scores["spearmanr"])


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: task_score({}),
            "Got no metric values to score the task with: pass the dict `compute_task_metrics` returns.",
        ),
        (
            lambda: average_score({}),
            "Got no task metrics to average: evaluate at least one task before computing `eval_average`.",
        ),
        (
            lambda: average_score({"rte": {"accuracy": 0.5}, "wnli": {}}),
            "Task 'wnli': got no metric values, so it has no score to average: pass the dict `compute_task_metrics` returns for it.",
        ),
    ],
)
def test_score_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ------------------------------------------------------------------------------------------------ input errors
@pytest.mark.parametrize(
    "config, predictions, references, message",
    [
        (
            "rte",
            [0, 1, 1],
            [0, 1],
            "Task 'my_rte': got 3 predictions but 2 references: pass one prediction per evaluated example.",
        ),
        (
            "rte",
            [],
            [],
            "Task 'my_rte': got 0 predictions and 0 references: evaluate on a non-empty validation split.",
        ),
        (
            "rte",
            np.zeros((3, 2)),
            [0, 1, 1],
            "Task 'my_rte': got predictions of shape (3, 2); pass one value per example, shape `(n,)` (turn logits into predictions with `predictions_from_logits` first).",
        ),
        (
            "glue_rte",
            [0],
            [0],
            "Task 'my_rte': metric config 'glue_rte' is not known: set the task's `metric` to one of ['accuracy', 'accuracy_f1', 'cola', 'matthews', 'mnli', 'mnli_mm', 'mrpc', 'pearson_spearman', 'qnli', 'qqp', 'rte', 'scitail', 'seqeval', 'snli', 'squad', 'sst2', 'stsb', 'token_accuracy', 'wnli'].",
        ),
    ],
)
def test_compute_task_metrics_errors(config, predictions, references, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_task_metrics("my_rte", config, predictions, references)


def test_load_metric_unknown_config_lists_the_known_ones():
    message = "Metric config 'f1' is not known: set the task's `metric` to one of ['accuracy', 'accuracy_f1', 'cola', 'matthews', 'mnli', 'mnli_mm', 'mrpc', 'pearson_spearman', 'qnli', 'qqp', 'rte', 'scitail', 'snli', 'sst2', 'stsb', 'wnli']."
    with pytest.raises(ValueError, match=re.escape(message)):
        load_metric("f1")
