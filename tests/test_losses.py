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
from __future__ import annotations

import math
import re

import pytest
import torch

from modeling_mtdnn import LOSS_FUNCTIONS, compute_task_loss, normalize_task_spec


def spec(**fields):
    return normalize_task_spec("t", fields)


def test_classification_loss_is_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(1 / (1 + math.e))) / 2
    loss = compute_task_loss("t", spec(task_type="classification", num_labels=2), logits, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_classification_loss_ignores_minus_100():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    loss = compute_task_loss("t", spec(task_type="classification", num_labels=2), logits, torch.tensor([0, -100]))
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 1)), rel=1e-6)


def test_regression_loss_is_mse_by_hand_and_weighted():
    scores = torch.tensor([1.0, 2.0, 4.0])
    labels = torch.tensor([1.5, 2.0, 2.0])
    assert compute_task_loss("t", spec(task_type="regression"), scores, labels).item() == pytest.approx(4.25 / 3)
    weighted = compute_task_loss("t", spec(task_type="regression", loss_weight=0.5), scores, labels)
    assert weighted.item() == pytest.approx(4.25 / 6)
    column = compute_task_loss("t", spec(task_type="regression"), scores[:, None], labels)
    assert column.item() == pytest.approx(4.25 / 3)


def test_ranking_loss_is_nll_of_positive_under_scaled_softmax():
    scores = torch.tensor([[1.0, 3.0, 0.0], [0.5, 0.5, 0.5]])
    labels = torch.tensor([1, 2])
    gamma = 2.0
    first = -math.log(math.exp(gamma * 3) / (math.exp(gamma * 1) + math.exp(gamma * 3) + 1))
    second = -math.log(1 / 3)
    loss = compute_task_loss("t", spec(task_type="ranking", ranking_gamma=gamma), scores, labels)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_ranking_loss_ignores_padding_candidates_with_minimum_score():
    scores = torch.tensor([[1.0, 3.0, torch.finfo(torch.float32).min]])
    loss = compute_task_loss("t", spec(task_type="ranking"), scores, torch.tensor([0]))
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + math.e**3)), rel=1e-6)


def test_registry_covers_every_task_type():
    assert sorted(LOSS_FUNCTIONS) == [
        "classification",
        "ranking",
        "regression",
        "span_extraction",
        "token_classification",
    ]


@pytest.mark.parametrize(
    "fields, logits, labels, message",
    [
        (
            {"task_type": "classification", "num_labels": 2},
            torch.zeros(3, 2),
            torch.tensor([0, 1]),
            "Task 't' (classification): labels of shape (2,) do not match logits of shape (3, 2); give one label per example.",
        ),
        (
            {"task_type": "ranking"},
            torch.zeros(2, 4),
            torch.zeros(2, 4, dtype=torch.long),
            "Task 't' (ranking): labels of shape (2, 4) do not match logits of shape (2, 4); give one label per group of candidates.",
        ),
        (
            {"task_type": "classification", "num_labels": 2},
            torch.zeros(2, 2),
            torch.tensor([0.0, 1.0]),
            "Task 't' (classification): labels must be integer class ids, got dtype torch.float32",
        ),
        (
            {"task_type": "classification", "id2label": {0: "no", 1: "yes"}},
            torch.zeros(3, 2),
            torch.tensor([0, 2, 1]),
            "Task 't' (classification): label 2 is out of range; labels must be class ids 0..1 (['no', 'yes']), or -100 to ignore an example.",
        ),
        (
            {"task_type": "classification", "num_labels": 3},
            torch.zeros(2, 3),
            torch.tensor([-1, 0]),
            "Task 't' (classification): label -1 is out of range; labels must be class ids 0..2",
        ),
        (
            {"task_type": "ranking"},
            torch.zeros(2, 4),
            torch.tensor([0, 4]),
            "Task 't' (ranking): label 4 is out of range; labels must be candidate indices 0..3, or -100 to ignore an example.",
        ),
        (
            {"task_type": "regression"},
            torch.zeros(3),
            torch.zeros(3, 2),
            "Task 't' (regression): labels of shape (3, 2) do not match logits of shape (3,); give one label per example.",
        ),
    ],
)
def test_label_errors_name_the_task(fields, logits, labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_task_loss("t", spec(**fields), logits, labels)


@pytest.mark.parametrize("task_type, logits", [("classification", torch.tensor([[0.3, -1.2], [2.0, 0.5]])), ("regression", torch.tensor([1.5, -0.7])), ("ranking", torch.tensor([[0.3, -1.2, 0.1], [2.0, 0.5, 1.0]]))])  # fmt: skip
def test_every_task_type_ignores_minus_100(task_type, logits):
    """An example (or group) labelled -100 changes nothing; all of them ignored give no gradient signal."""
    fields = {"task_type": task_type} | ({"num_labels": 2} if task_type == "classification" else {})
    kept = torch.tensor([1.0]) if task_type == "regression" else torch.tensor([1])
    ignored = torch.tensor([1.0, -100.0]) if task_type == "regression" else torch.tensor([1, -100])
    alone = compute_task_loss("t", spec(**fields), logits[:1], kept)
    torch.testing.assert_close(compute_task_loss("t", spec(**fields), logits, ignored), alone)
    if task_type == "regression":  # the README's promise: [1.0, -100] is the error of the first example only
        torch.testing.assert_close(alone, (logits[0] - 1.0) ** 2)
        all_ignored = compute_task_loss("t", spec(**fields), logits.clone().requires_grad_(), torch.full((2,), -100.0))
        assert all_ignored.item() == 0.0
