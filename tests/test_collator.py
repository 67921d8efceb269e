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

import pytest
import torch
from transformers import AutoTokenizer

from mtdnn.training.collator import MultiTaskDataCollator

from .conftest import minilm_folder


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def feature(ids, label, task="rte", **extra):
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids), "labels": label, "task_name": task, **extra}  # fmt: skip


def test_dynamic_padding_to_the_longest_and_task_name_kept(tokenizer):
    batch = MultiTaskDataCollator(tokenizer)([feature([101, 5, 102], 1), feature([101, 5, 6, 7, 102], 0, group_id=3)])
    assert batch["task_name"] == "rte"
    assert batch["input_ids"].tolist() == [[101, 5, 102, 0, 0], [101, 5, 6, 7, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]
    assert "group_id" not in batch


def test_regression_labels_are_float_and_max_length_padding(tokenizer):
    collator = MultiTaskDataCollator(tokenizer, padding="max_length", max_length=8)
    batch = collator([feature([101, 5, 102], 2.5, task="stsb"), feature([101, 102], 0.0, task="stsb")])
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].dtype == torch.float32
    rounded = MultiTaskDataCollator(tokenizer, pad_to_multiple_of=4)([feature([101, 5, 6, 7, 102], 1)])
    assert rounded["input_ids"].shape == (1, 8)


def test_ranking_groups_become_three_dimensional_with_empty_candidates(tokenizer):
    group_a = {"input_ids": [[101, 5, 102], [101, 6, 7, 102]], "attention_mask": [[1, 1, 1], [1, 1, 1, 1]], "token_type_ids": [[0, 0, 0], [0, 0, 1, 1]], "labels": 0, "task_name": "qnli"}  # fmt: skip
    group_b = {"input_ids": [[101, 8, 102]], "attention_mask": [[1, 1, 1]], "token_type_ids": [[0, 0, 0]], "labels": 0, "task_name": "qnli"}  # fmt: skip
    batch = MultiTaskDataCollator(tokenizer)([group_a, group_b])
    assert batch["input_ids"].shape == (2, 2, 4)
    assert batch["attention_mask"][1, 1].sum() == 0  # group b's padding candidate
    assert batch["token_type_ids"][0, 1].tolist() == [0, 0, 1, 1]
    assert batch["labels"].tolist() == [0, 0]


@pytest.mark.parametrize(
    "features, message",
    [
        ([feature([101], 0), feature([101], 0, task="cola")], "A batch mixes the tasks ['cola', 'rte']; each batch must come from one task"),
        ([{"input_ids": [101], "labels": 0}], "Every example needs a 'task_name'"),
    ],
)  # fmt: skip
def test_bad_batches_are_refused(tokenizer, features, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MultiTaskDataCollator(tokenizer)(features)


def test_bad_padding_options(tokenizer):
    with pytest.raises(ValueError, match=re.escape("padding must be 'longest' or 'max_length', got 'all'.")):
        MultiTaskDataCollator(tokenizer, padding="all")
    with pytest.raises(ValueError, match=re.escape("padding='max_length' needs max_length")):
        MultiTaskDataCollator(tokenizer, padding="max_length")
