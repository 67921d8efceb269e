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
Task groups: several heads over one input (CoNLL-2003's part of speech, chunks and entities on every sentence). A
group's rows carry each head's labels in a column of their own (`labels.<task>`); a batch of the group runs the
encoder once and feeds every head that has labels in it, and its loss is the sum of those heads' losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from modeling_mtdnn.losses import IGNORE_INDEX
from modeling_mtdnn.task_types import compute_task_loss

__all__ = [
    "LABEL_ROWS",
    "LABELS_PREFIX",
    "WORD_TAGS_PREFIX",
    "group_heads",
    "group_loss",
    "label_is_present",
    "labels_column",
]

# The prepared columns of a group's head `<task>`: its labels (per token, or one per row) and, for a token head, the
# gold tag of every word. A row without the head's label holds -100 (one per row) or an empty list (per token).
LABELS_PREFIX = "labels."
WORD_TAGS_PREFIX = "word_tags."
# The batch key of the rows that have a head's labels, for the heads that some rows of the batch lack.
LABEL_ROWS = "label_rows"


def labels_column(task: str) -> str:
    """The prepared column of a group head's labels: `labels.<task>`."""
    return f"{LABELS_PREFIX}{task}"


def label_is_present(value: Any) -> bool:
    """
    Whether a prepared label (`labels.<task>` of one row) is there: a list of tags with one that is not -100, or a
    class id or score that is not -100.
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return any(tag != IGNORE_INDEX for tag in value)
    return value is not None and value != IGNORE_INDEX


def group_heads(dataset: Any) -> list[str]:
    """The heads of a task group's prepared rows (their `labels.<task>` columns, in order); `[]` for a plain task."""
    columns = getattr(dataset, "column_names", None) or []
    return [column[len(LABELS_PREFIX) :] for column in columns if column.startswith(LABELS_PREFIX)]


def group_loss(
    model: torch.nn.Module, inputs: Mapping[str, Any], tasks: Mapping[str, dict[str, Any]]
) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor], dict[str, Any]]:
    """
    The loss of one batch of a task group: one forward that runs the encoder once for every head with labels in the
    batch (`task_name=[heads]`, see `MTDNNForMultiTask.forward`; a head with a LoRA adapter runs a pass of its own),
    then each head's loss on the rows that have its labels (`compute_task_loss`, times the head's `loss_weight`),
    summed. A head whose labels the batch lacks altogether is not run and adds nothing.

    Args:
        model (`torch.nn.Module`): the model (or its DDP wrapper).
        inputs (`Mapping[str, Any]`): the collated batch: the model inputs, `labels` as `{head: labels}` and, for
            the heads some rows lack, `label_rows` as `{head: row indices}` (see `MultiTaskDataCollator`).
        tasks (`Mapping[str, dict]`): the model's task specs (`config.tasks`).

    Returns:
        `tuple`: the summed loss, the model's [`MTDNNMultiTaskOutput`], each head's weighted loss, and the model
        inputs of the pass (with `task_name` the list of heads run), for SMART's terms.
    """
    labels, rows = inputs["labels"], inputs.get(LABEL_ROWS) or {}
    heads = list(labels)
    model_inputs = {key: value for key, value in inputs.items() if key not in ("labels", LABEL_ROWS, "task_name")}
    model_inputs["task_name"] = heads
    outputs = model(**model_inputs)
    task_logits = outputs["task_logits"] if isinstance(outputs, Mapping) else outputs[0]
    head_losses = {}
    for head in heads:
        logits = task_logits[head]
        if head in rows:  # the rows that have its labels: indices made by the collator, no host-device sync
            logits = logits.index_select(0, rows[head].to(logits.device))
        target = labels[head].to(logits.device)
        # The labels were checked when the data was prepared: no range check (a host-device sync) per step.
        head_losses[head] = compute_task_loss(head, tasks[head], logits, target, check_values=False)
    loss = torch.stack(list(head_losses.values())).sum()
    return loss, outputs, head_losses, model_inputs
