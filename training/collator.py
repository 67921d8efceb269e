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
"""Batch collation for multi-task batches: dynamic padding, one task per batch, ranking groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from modeling_mtdnn.task_types import TaskType, get_task_type, task_type_of

from .task_groups import LABEL_ROWS, LABELS_PREFIX, label_is_present

__all__ = ["MODEL_INPUT_COLUMNS", "MultiTaskDataCollator"]

MODEL_INPUT_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class MultiTaskDataCollator:
    r"""
    Pads a batch of one task's examples into the inputs of `MTDNNForMultiTask.forward`, with `task_name`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            Gives the padding token and side.
        padding (`str`, *optional*, defaults to `"longest"`):
            `"longest"` pads to the batch's longest sequence (dynamic padding); `"max_length"` pads to `max_length`
            (what `run_glue.py` does by default), for comparisons.
        max_length (`int`, *optional*):
            The length of `padding="max_length"`.
        pad_to_multiple_of (`int`, *optional*):
            Rounds padded lengths up to a multiple (8 suits tensor cores).
        tasks (`dict[str, dict]`, *optional*):
            The model's task specs (`model.config.tasks`): each batch's labels are collated by its task's type
            ([`~modeling_mtdnn.TaskType.collate_labels`]). Without them, the type is read off the form of the labels.

    Ranking rows (`input_ids` holding several candidates) become `(groups, candidates, seq_len)` tensors; groups
    with fewer candidates are filled with all-padding candidates (attention mask all zeros), which the model scores
    lowest. Token-classification `labels` (one per token) are padded with -100 like their sequences; span
    `labels` (`{"start", "end"}` token positions) become a `(batch, 2)` tensor. A
    `teacher_logits` column (MT-DNN-KD soft targets, `mtdnn.training.distill`) becomes a float tensor. Columns
    other than the model's inputs, `labels`, `teacher_logits` and `task_name` (such as `group_id`) are dropped.

    A task group's rows (`labels.<task>` columns, see `mtdnn.training.task_groups`) give `labels` as a dict: each head
    with labels in the batch -> its labels over the rows that have them, collated by the head's task type; for a head
    that some rows lack, `label_rows` maps it to those rows' indices. A head no row of the batch labels is left out.

    Raises:
        `ValueError`: when a batch mixes tasks or lacks `task_name`.
    """

    tokenizer: PreTrainedTokenizerBase
    padding: str = "longest"
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    tasks: dict[str, dict[str, Any]] | None = None

    def __post_init__(self):
        if self.padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', got {self.padding!r}.")
        if self.padding == "max_length" and not self.max_length:
            raise ValueError("padding='max_length' needs max_length (for example 128).")

    def _task_type(self, task_name: str, label: Any) -> TaskType:
        """The task type that collates the batch's labels: from `tasks`, else read off the form of a label."""
        if self.tasks is not None and task_name in self.tasks:
            return task_type_of(self.tasks[task_name])
        if isinstance(label, dict):  # the answer's first and last token
            return get_task_type("span_extraction")
        if isinstance(label, list):  # one tag per token
            return get_task_type("token_classification")
        return get_task_type("regression" if isinstance(label, float) else "classification")

    def _target_length(self, longest: int) -> int:
        length = max(longest, self.max_length or 0) if self.padding == "max_length" else longest
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        return length

    def _pad_sequences(self, rows: list[dict[str, list[int]]], length: int) -> dict[str, torch.Tensor]:
        pad_values = {"input_ids": self.tokenizer.pad_token_id or 0, "attention_mask": 0, "token_type_ids": 0}
        left = self.tokenizer.padding_side == "left"
        batch = {}
        for column in MODEL_INPUT_COLUMNS:
            if column not in rows[0]:
                continue
            tensor = torch.full((len(rows), length), pad_values[column], dtype=torch.long)
            for i, row in enumerate(rows):
                values = torch.as_tensor(row[column][:length], dtype=torch.long)
                if left:
                    tensor[i, length - len(values) :] = values
                else:
                    tensor[i, : len(values)] = values
            batch[column] = tensor
        return batch

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        names = {feature.get("task_name") for feature in features}
        if None in names:
            raise ValueError("Every example needs a 'task_name' (prepare the data with training.build_task_sets).")
        if len(names) != 1:
            raise ValueError(
                f"A batch mixes the tasks {sorted(names)}; each batch must come from one task (use "
                "MultiTaskBatchSampler)."
            )
        task_name = names.pop()
        grouped = isinstance(features[0]["input_ids"][0], list)
        if grouped:
            candidates = max(len(feature["input_ids"]) for feature in features)
            columns = [column for column in MODEL_INPUT_COLUMNS if column in features[0]]
            rows = [
                {column: feature[column][c] if c < len(feature["input_ids"]) else [] for column in columns}
                for feature in features
                for c in range(candidates)
            ]
            length = self._target_length(max(len(row["input_ids"]) for row in rows))
            batch = {
                key: value.view(len(features), candidates, length)
                for key, value in self._pad_sequences(rows, length).items()
            }
        else:
            length = self._target_length(max(len(feature["input_ids"]) for feature in features))
            batch = self._pad_sequences(features, length)
        if "teacher_logits" in features[0]:  # MT-DNN-KD soft targets: (teachers, classes or candidates) per row
            rows = [torch.as_tensor(feature["teacher_logits"], dtype=torch.float32) for feature in features]
            width = max(row.shape[-1] for row in rows)
            batch["teacher_logits"] = torch.stack(
                [torch.nn.functional.pad(row, (0, width - row.shape[-1]), value=float("-inf")) for row in rows]
            )
        heads = [column for column in features[0] if column.startswith(LABELS_PREFIX)]
        if heads:
            self._collate_group_labels(batch, features, heads, length)
        if "labels" in features[0]:
            labels = [feature["labels"] for feature in features]
            task_type = self._task_type(task_name, labels[0])
            batch["labels"] = task_type.collate_labels(labels, length, self.tokenizer.padding_side == "left")
        batch["task_name"] = task_name
        return batch

    def _collate_group_labels(
        self, batch: dict[str, Any], features: list[dict[str, Any]], columns: list[str], length: int
    ) -> None:
        """A task group's labels: `{head: labels of the rows that have them}`, and `label_rows` if rows lack them."""
        labels, rows = {}, {}
        for column in columns:
            head = column[len(LABELS_PREFIX) :]
            kept = [i for i, feature in enumerate(features) if label_is_present(feature[column])]
            if not kept:
                continue
            values = [features[i][column] for i in kept]
            task_type = self._task_type(head, values[0])
            labels[head] = task_type.collate_labels(values, length, self.tokenizer.padding_side == "left")
            if len(kept) < len(features):
                rows[head] = torch.tensor(kept, dtype=torch.long)
        batch["labels"] = labels
        if rows:
            batch[LABEL_ROWS] = rows
