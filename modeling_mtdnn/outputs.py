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

__all__ = ["MTDNNMultiTaskOutput", "MTDNNOutput"]


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
