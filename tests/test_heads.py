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

from modeling_mtdnn import HEAD_TYPES, LinearHead, SANHead, normalize_task_spec
from modeling_mtdnn.heads import build_head, masked_softmax, pool_sentence

HIDDEN = 16

HEAD_CASES = [
    ({"task_type": "classification", "num_labels": 3}, LinearHead, (4, 3)),
    ({"task_type": "regression"}, LinearHead, (4,)),
    ({"task_type": "ranking"}, LinearHead, (4,)),
    ({"task_type": "classification", "num_labels": 3, "head": "san"}, SANHead, (4, 3)),
    ({"task_type": "classification", "num_labels": 2, "head": "san", "san_steps": 1}, SANHead, (4, 2)),
]


def pair_inputs(batch=4, length=9, premise=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, HIDDEN, generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[0, -3:] = 0
    token_type_ids = torch.zeros(batch, length, dtype=torch.long)
    token_type_ids[:, premise:] = 1
    token_type_ids[0, -3:] = 0
    return hidden, attention_mask, token_type_ids


@pytest.mark.parametrize("fields, head_cls, shape", HEAD_CASES)
def test_head_registry_and_output_shapes(fields, head_cls, shape):
    spec = normalize_task_spec("t", fields)
    head = build_head("t", HIDDEN, spec).eval()
    assert type(head) is head_cls
    assert head(*pair_inputs()).shape == shape


def test_unknown_head_type_lists_the_known_ones():
    spec = normalize_task_spec("t", {"task_type": "regression"}) | {"head": "mlp"}
    with pytest.raises(
        ValueError, match=re.escape("Task 't': unknown head type 'mlp'; the known head types are ['linear', 'san'].")
    ):
        build_head("t", HIDDEN, spec)
    assert sorted(HEAD_TYPES) == ["linear", "san"]


def test_linear_head_reads_the_pooled_vector_or_else_the_first_token():
    head = build_head("t", HIDDEN, normalize_task_spec("t", {"task_type": "classification", "num_labels": 2})).eval()
    hidden, mask, types = pair_inputs()
    changed = hidden.clone()
    changed[:, 1:] = 0
    torch.testing.assert_close(head(hidden, mask, types), head(changed, mask, types))
    torch.testing.assert_close(head(hidden, mask, types), head.classifier(hidden[:, 0]))
    pooled = torch.randn(hidden.shape[0], HIDDEN)
    torch.testing.assert_close(head(hidden, mask, types, pooled), head.classifier(pooled))


def test_pool_sentence_modes():
    hidden, mask, _ = pair_inputs()
    mask[0, 5:] = 0
    pooler = torch.randn(hidden.shape[0], HIDDEN)
    torch.testing.assert_close(pool_sentence(hidden, mask, pooler, "auto"), pooler)
    torch.testing.assert_close(pool_sentence(hidden, mask, None, "auto"), hidden[:, 0])
    torch.testing.assert_close(pool_sentence(hidden, mask, pooler, "cls"), hidden[:, 0])
    mean = pool_sentence(hidden, mask, pooler, "mean")
    torch.testing.assert_close(mean[0], hidden[0, :5].mean(dim=0))  # padding is left out of the mean
    torch.testing.assert_close(mean[1], hidden[1].mean(dim=0))
    changed = hidden.clone()
    changed[0, 5:] = 100.0
    torch.testing.assert_close(pool_sentence(changed, mask, None, "mean"), mean)


def test_masked_softmax_gives_zero_to_masked_positions():
    probabilities = masked_softmax(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[True, False, True]]))
    expected = torch.tensor([[1.0, 0.0, torch.e**2]]) / (1 + torch.e**2)
    torch.testing.assert_close(probabilities, expected)


def san(steps=5, step_dropout=0.1, num_labels=3):
    spec = {"task_type": "classification", "num_labels": num_labels, "head": "san", "san_steps": steps}
    spec["san_step_dropout"] = step_dropout
    torch.manual_seed(0)
    return SANHead(HIDDEN, normalize_task_spec("t", spec))


def test_san_memory_masks_split_segments_and_fall_back_to_whole_sequence():
    attention_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    token_type_ids = torch.tensor([[0, 0, 1, 1, 0], [0, 0, 0, 0, 0]])
    premise, hypothesis = SANHead.memory_masks(attention_mask, token_type_ids)
    assert premise.tolist() == [[True, True, False, False, False], [True, True, True, False, False]]
    assert hypothesis.tolist() == [[False, False, True, True, False], [True, True, True, False, False]]
    premise, hypothesis = SANHead.memory_masks(attention_mask, None)
    assert premise.tolist() == hypothesis.tolist() == attention_mask.bool().tolist()


def test_san_ignores_padding_tokens():
    head = san().eval()
    hidden, mask, types = pair_inputs()
    changed = hidden.clone()
    changed[0, -3:] = 100.0  # the padded positions of example 0
    torch.testing.assert_close(head(hidden, mask, types), head(changed, mask, types))


def test_san_inference_averages_all_step_probabilities():
    head = san().eval()
    hidden, mask, types = pair_inputs()
    steps = head.step_probabilities(hidden, mask, types)
    assert steps.shape == (4, 5, 3)
    torch.testing.assert_close(steps.sum(-1), torch.ones(4, 5))
    log_probabilities = head(hidden, mask, types)
    torch.testing.assert_close(log_probabilities.exp(), steps.mean(dim=1))


def test_san_with_one_step_is_one_bilinear_attention_classifier():
    head = san(steps=1, step_dropout=0.0).eval()
    hidden, mask, types = pair_inputs()
    premise, hypothesis = SANHead.memory_masks(mask, types)
    expected = []
    for i in range(hidden.shape[0]):
        memory_h, memory_p = hidden[i][hypothesis[i]], hidden[i][premise[i]]
        alpha = torch.softmax(head.self_attention(memory_h).squeeze(-1), dim=0)
        s0 = alpha @ memory_h
        beta = torch.softmax(memory_p @ head.bilinear.weight.T @ s0, dim=0)
        x1 = beta @ memory_p
        s1 = head.gru(x1[None], s0[None])[0]
        features = torch.cat([s1, x1, (s1 - x1).abs(), s1 * x1])
        expected.append(torch.log_softmax(head.classifier(features), dim=-1))
    torch.testing.assert_close(head(hidden, mask, types), torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_san_training_drops_whole_steps_but_keeps_one():
    head = san(steps=4, step_dropout=0.99).train()
    head.dropout.p = 0.0
    hidden, mask, types = pair_inputs(batch=64)
    steps = head.step_probabilities(hidden, mask, types)
    torch.manual_seed(1)
    log_probabilities = head(hidden, mask, types)
    # With p=0.99 nearly every example keeps exactly its one rescued step: the output is one step's prediction.
    distances = (steps - log_probabilities.exp()[:, None]).abs().amax(-1).min(-1).values
    assert (distances < 1e-5).float().mean() > 0.9
    torch.testing.assert_close(log_probabilities.exp().sum(-1), torch.ones(64))


def test_san_training_average_differs_from_inference_average():
    head = san(steps=5, step_dropout=0.5).train()
    head.dropout.p = 0.0
    hidden, mask, types = pair_inputs(batch=32)
    torch.manual_seed(0)
    trained = head(hidden, mask, types)
    evaluated = head.eval()(hidden, mask, types)
    assert not torch.allclose(trained, evaluated)
