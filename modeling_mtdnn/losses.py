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
"""Pure loss functions of MT-DNN, one per kind of output: no modules, no state. The task types pick theirs."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "IGNORE_INDEX",
    "classification_loss",
    "ranking_loss",
    "regression_loss",
    "span_loss",
]

IGNORE_INDEX = -100


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """
    Cross-entropy of `logits` `(batch, num_labels)` against class ids `labels` `(batch,)`; -100 is ignored.

    The SAN head returns the log of its averaged step probabilities as logits, so this is then exactly the
    negative log-likelihood of the averaged prediction, as in the paper. Token classification uses it too:
    `(batch, seq_len, num_labels)` logits against `(batch, seq_len)` tag ids, cross-entropy over every labelled token
    (sub-tokens after a word's first and special tokens carry -100), as `BertForTokenClassification` computes it.
    """
    return F.cross_entropy(
        logits.float().view(-1, spec["num_labels"]), labels.view(-1).long(), ignore_index=IGNORE_INDEX
    )


def regression_loss(logits: torch.Tensor, labels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """
    Mean squared error between the scores `logits` `(batch,)` or `(batch, 1)` and real-valued `labels`, over the
    examples whose label is not -100 (as the other losses ignore -100); 0 when every label is -100.
    """
    scores, targets = logits.float().view(-1), labels.float().view(-1)
    kept = targets != IGNORE_INDEX
    squared = (scores - targets).square() * kept
    return squared.sum() / kept.sum().clamp_min(1)


def ranking_loss(logits: torch.Tensor, labels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """
    The paper's ranking loss: the negative log-likelihood of the positive candidate under
    `softmax(gamma * scores)` over its group.

    Args:
        logits (`torch.Tensor` of shape `(groups, candidates)`):
            One relevance score per candidate; padding candidates hold the dtype's minimum (see the ranking head).
        labels (`torch.Tensor` of shape `(groups,)`):
            The index of the positive candidate in each group; -100 ignores a group.
        spec (`dict`):
            The task spec; `ranking_gamma` is the softmax scale gamma.
    """
    scores = logits.float() * spec["ranking_gamma"]
    return F.cross_entropy(scores, labels.view(-1).long(), ignore_index=IGNORE_INDEX)


def span_loss(logits: torch.Tensor, labels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """
    Span extraction, as `BertForQuestionAnswering`: the mean of the cross-entropies of the start and of the end
    position over the tokens.

    Args:
        logits (`torch.Tensor` of shape `(batch, seq_len, 2)`): start and end logits per token.
        labels (`torch.Tensor` of shape `(batch, 2)`):
            The answer's first and last token; a window that does not hold the answer points both at the first
            token ([CLS]); -100 ignores an example.
    """
    start, end = logits.float().unbind(dim=-1)
    return (F.cross_entropy(start, labels[:, 0].long()) + F.cross_entropy(end, labels[:, 1].long())) / 2
