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
"""Output classes of MT-DNN models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput

__all__ = ["MTDNNMixedOutput", "MTDNNMultiTaskOutput", "MTDNNOutput"]


@dataclass
class MTDNNOutput(ModelOutput):
    """
    Output of [`MTDNNForMultiTask`] for one task.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given):
            The task's loss times its `loss_weight`.
        logits (`torch.FloatTensor`):
            `(batch, num_labels)` for classification (log-probabilities for the SAN head), `(batch,)` for
            regression, `(groups, candidates)` for ranking (or `(batch,)` scores for flat pairs), `(batch, seq_len,
            num_labels)` for token classification and `(batch, seq_len, 2)` (start and end logits per token) for span
            extraction.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's hidden states, when `output_hidden_states=True`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's attention weights, when `output_attentions=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MTDNNMultiTaskOutput(ModelOutput):
    """
    Output of [`MTDNNForMultiTask`] when several tasks are served from one encoder pass.

    Args:
        loss (`None`):
            Always `None`: several tasks are served for inference only. The field comes first so that a dict of
            logits is never read as the output's own fields.
        task_logits (`dict[str, torch.FloatTensor]`):
            Each requested task's logits, shaped as in [`MTDNNOutput`].
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's hidden states, when `output_hidden_states=True`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's attention weights, when `output_attentions=True`.
    """

    loss: torch.FloatTensor | None = None
    task_logits: dict[str, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MTDNNMixedOutput(ModelOutput):
    """
    Output of [`MTDNNForMultiTask`] for a mixed batch, whose rows name their own task (`task_per_row`): each row
    gets the logits of its own task's head, as a call of that task alone on the row would give them.

    Args:
        loss (`None`):
            Always `None`: a mixed batch is served for inference only. The field comes first so that a dict of
            logits is never read as the output's own fields.
        row_logits (`tuple(torch.FloatTensor)`):
            One entry per row, in input order: the row's logits under its task, shaped as in [`MTDNNOutput`] without
            the batch dimension: `(num_labels,)` for classification (log-probabilities for the SAN head), `()` for
            regression and for ranking (a row is one candidate, scored alone), `(seq_len, num_labels)` for token
            classification and `(seq_len, 2)` for span extraction. Views into `task_logits`.
        task_logits (`dict[str, torch.FloatTensor]`):
            Each task's logits over its own rows, in the order `task_rows` gives them, keyed by task in the order
            of their first row: `(rows, num_labels)`, `(rows,)`, `(rows, seq_len, num_labels)` or `(rows,
            seq_len, 2)`. Per-token logits are read on real tokens: positions past the longest row of the encoder
            pass that served them (padding in every row of it) hold the dtype's minimum.
        task_rows (`dict[str, torch.LongTensor]`):
            The indices in the batch of each task's rows, ascending: `task_logits[task][j]` belongs to row
            `task_rows[task][j]`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's hidden states `(batch, seq_len, hidden_size)` per layer, when `output_hidden_states=True`:
            each row's from the pass that served it (with its task's LoRA adapter on, where it has one); zeros past
            that pass's longest row.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The encoder's attention weights `(batch, heads, seq_len, seq_len)` per layer, when
            `output_attentions=True`, gathered in the same way.
    """

    loss: torch.FloatTensor | None = None
    row_logits: tuple[torch.FloatTensor, ...] | None = None
    task_logits: dict[str, torch.FloatTensor] | None = None
    task_rows: dict[str, torch.LongTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
