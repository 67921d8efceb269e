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
"""Pure loss functions of MT-DNN, one per `task_type`: no modules, no state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .configuration_mtdnn import CLASS_TASK_TYPES

__all__ = [
    "IGNORE_INDEX",
    "LOSS_FUNCTIONS",
    "classification_loss",
    "compute_task_loss",
    "ranking_loss",
    "regression_loss",
    "span_loss",
]

IGNORE_INDEX = -100


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    """
    Cross-entropy of `logits` `(batch, num_labels)` against class ids `labels` `(batch,)`; -100 is ignored.

    The SAN head returns the log of its averaged step probabilities as logits, so this is then exactly the
    negative log-likelihood of the averaged prediction, as in the paper.
    """
    return F.cross_entropy(logits.float().view(-1, spec["num_labels"]), labels.view(-1).long(), ignore_index=-100)


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
    return F.cross_entropy(scores, labels.view(-1).long(), ignore_index=-100)


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


LOSS_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]] = {
    "classification": classification_loss,
    # (batch, seq_len, num_labels) logits against (batch, seq_len) tag ids: cross-entropy over every labelled token
    # (sub-tokens after a word's first and special tokens carry -100), as BertForTokenClassification computes it.
    "token_classification": classification_loss,
    "regression": regression_loss,
    "ranking": ranking_loss,
    "span_extraction": span_loss,
}


def compute_task_loss(
    task_name: str, spec: dict[str, Any], logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """
    The loss of one task's batch, dispatched on `spec["task_type"]`, times the task's `loss_weight`.

    Raises:
        `ValueError`: when `labels` does not have one entry per example (or per group, for ranking).
    """
    task_type = spec["task_type"]
    if task_type == "token_classification":
        expected = tuple(logits.shape[:2])
    elif task_type == "span_extraction":
        expected = (logits.shape[0], 2)
    else:
        expected = (logits.shape[0],)
    if tuple(labels.shape) != expected and not (len(expected) == 1 and labels.numel() == expected[0]):
        unit = {
            "ranking": "group of candidates",
            "token_classification": "token (-100 for the unlabelled ones)",
            "span_extraction": "example: its answer's (start, end) token positions, shape (batch, 2)",
        }
        raise ValueError(
            f"Task '{task_name}' ({task_type}): labels of shape {tuple(labels.shape)} do not match logits of "
            f"shape {tuple(logits.shape)}; give one label per {unit.get(task_type, 'example')}."
        )
    if task_type in CLASS_TASK_TYPES and labels.is_floating_point():
        raise ValueError(
            f"Task '{task_name}' ({task_type}): labels must be integer class ids, got dtype {labels.dtype}; "
            "map label names to ids with the task's label2id first."
        )
    if task_type != "regression":
        # One host sync; the Trainer's own NaN filter syncs on every step already.
        limit = (
            spec["num_labels"]
            if task_type in CLASS_TASK_TYPES
            else logits.shape[1]
            if task_type == "span_extraction"
            else logits.shape[-1]
        )
        bad = ((labels < 0) | (labels >= limit)) & (labels != IGNORE_INDEX)
        if bad.any():
            value = labels[bad][0].item()
            allowed = (
                f"class ids 0..{limit - 1} ({list(spec['id2label'].values())})"
                if task_type in CLASS_TASK_TYPES
                else f"token positions 0..{limit - 1}"
                if task_type == "span_extraction"
                else f"candidate indices 0..{limit - 1}"
            )
            raise ValueError(
                f"Task '{task_name}' ({task_type}): label {value} is out of range; labels must be {allowed}, "
                f"or {IGNORE_INDEX} to ignore an example."
            )
    return LOSS_FUNCTIONS[task_type](logits, labels, spec) * spec["loss_weight"]
