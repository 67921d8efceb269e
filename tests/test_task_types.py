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

import re

import numpy as np
import pytest
import torch
from transformers import BertConfig

from modeling_mtdnn import LOSS_FUNCTIONS, TASK_TYPES, MTDNNConfig, MTDNNForMultiTask, TaskType, get_task_type
from modeling_mtdnn.task_types import TASK_TYPE_CLASSES, compute_task_loss, task_type_of

from .conftest import tiny_bert_config

# One row per task type: a spec, logits and labels of one batch, the collated labels' shape and the transformers class
# its linear head exports to.
TEST_CASES = [
    ("classification", {"num_labels": 3}, torch.randn(4, 3), [0, 2, 1, 0], (4,), "BertForSequenceClassification"),
    ("regression", {}, torch.randn(4), [0.5, 1.0, 2.5, 4.0], (4,), "BertForSequenceClassification"),
    ("ranking", {}, torch.randn(4, 3), [0, 2, 1, 0], (4,), "BertForMultipleChoice"),
    (
        "token_classification",
        {"num_labels": 3},
        torch.randn(2, 5, 3),
        [[-100, 1, 2, -100], [-100, 0, -100]],
        (2, 5),
        "BertForTokenClassification",
    ),
    (
        "span_extraction",
        {},
        torch.randn(2, 5, 2),
        [{"start": 1, "end": 3}, {"start": 0, "end": 0}],
        (2, 2),
        "BertForQuestionAnswering",
    ),
]


def test_every_task_type_has_a_class_and_a_case():
    assert list(TASK_TYPES) == list(TASK_TYPE_CLASSES) == [case[0] for case in TEST_CASES]
    assert all(isinstance(get_task_type(name), TaskType) for name in TASK_TYPES)
    assert sorted(LOSS_FUNCTIONS) == sorted(TASK_TYPES)


def test_an_unknown_task_type_is_refused_with_the_known_ones():
    message = f"Unknown task_type 'tagging'; the known task types are {list(TASK_TYPES)}."
    with pytest.raises(ValueError, match=re.escape(message)):
        get_task_type("tagging")


@pytest.mark.parametrize("name, fields, logits, labels, collated_shape, exported", TEST_CASES)
def test_a_task_type_collates_its_labels_and_computes_a_finite_loss(
    name, fields, logits, labels, collated_shape, exported
):
    task_type = get_task_type(name)
    spec = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"t": {"task_type": name, **fields}}).tasks["t"]
    assert task_type_of(spec) is task_type
    collated = task_type.collate_labels(labels, length=5, left_padding=False)
    assert tuple(collated.shape) == collated_shape
    assert collated.dtype == (torch.float32 if task_type.predicts_value else torch.long)
    loss = compute_task_loss("t", spec, logits, collated)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(LOSS_FUNCTIONS[name](logits, collated, spec).item())


@pytest.mark.parametrize("name, fields, logits, labels, collated_shape, exported", TEST_CASES)
def test_a_task_type_refuses_labels_of_another_shape(name, fields, logits, labels, collated_shape, exported):
    spec = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"t": {"task_type": name, **fields}}).tasks["t"]
    wrong = torch.zeros(7, 1, 1, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape(f"Task 't' ({name}): labels of shape (7, 1, 1) do not match")):
        compute_task_loss("t", spec, logits, wrong)


def test_token_labels_are_padded_with_minus_100_on_the_padding_side():
    token = get_task_type("token_classification")
    right = token.collate_labels([[1, 2], [3]], length=3, left_padding=False)
    left = token.collate_labels([[1, 2], [3]], length=3, left_padding=True)
    assert right.tolist() == [[1, 2, -100], [3, -100, -100]]
    assert left.tolist() == [[-100, 1, 2], [-100, -100, 3]]


@pytest.mark.parametrize("name, fields, logits, labels, collated_shape, exported", TEST_CASES)
def test_a_linear_head_exports_to_its_transformers_class(name, fields, logits, labels, collated_shape, exported):
    config = MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"t": {"task_type": name, **fields}})
    model = MTDNNForMultiTask(config).eval()
    assert type(model.export_task("t")).__name__ == exported


def test_decoding_of_every_task_type():
    assert get_task_type("classification").decode(np.array([[0.1, 2.0], [3.0, 0.0]])).tolist() == [1, 0]
    assert get_task_type("regression").decode(np.array([[0.5], [2.0]])).tolist() == [0.5, 2.0]
    ranked = get_task_type("ranking").decode(np.array([0.1, 2.0, 0.5]), {"group_id": [7, 7, 8]}, positive_label=0)
    assert ranked.tolist() == [1, 0, 0]
    logits = np.zeros((1, 5, 3))
    logits[0, [1, 2, 3, 4], [2, 0, 1, 1]] = 5.0  # word 0 = tokens 1-2 (read at 1), word 1 = token 3, word 2 = 4
    tags = get_task_type("token_classification").decode(logits, {"word_ids": [[-1, 0, 0, 1, 2]]})
    assert tags == [[2, 1, 1]]
    span = np.zeros((1, 4, 2))
    span[0, 1, 0], span[0, 2, 1] = 3.0, 3.0
    features = {"example_id": ["q"], "offset_mapping": [[[-1, -1], [0, 3], [4, 7], [-1, -1]]], "context": ["abc def"]}
    answers = get_task_type("span_extraction").decode(span, features, n_best_size=20, max_answer_length=30)
    assert answers["q"]["answer"] == "abc def"


@pytest.mark.parametrize(
    "name, spec, value, text",
    [
        ("classification", {"id2label": {0: "no", 1: "yes"}}, 1, "yes"),
        ("regression", {}, 2.5, "2.5000"),
        ("token_classification", {"id2label": {0: "O", 1: "B-PER"}}, [1, 0], "B-PER O"),
        ("span_extraction", {}, {"answer": "Rollo"}, "Rollo"),
    ],
)
def test_predictions_are_written_as_the_task_type_formats_them(name, spec, value, text):
    assert get_task_type(name).format_prediction(value, spec) == text


def test_spec_fields_of_one_task_type_are_refused_for_another():
    with pytest.raises(
        ValueError,
        match=re.escape("Task 't': field 'ranking_gamma' must be left out unless task_type is 'ranking', got 2.0."),
    ):
        MTDNNConfig(encoder_config=BertConfig(), tasks={"t": {"task_type": "regression", "ranking_gamma": 2.0}})
    spec = MTDNNConfig(encoder_config=BertConfig(), tasks={"t": {"task_type": "ranking", "ranking_gamma": 2.0}})
    assert spec.tasks["t"]["ranking_gamma"] == 2.0 and spec.tasks["t"]["inputs"] == "pair"
