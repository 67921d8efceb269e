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
"""Task heads of MT-DNN, chosen by the `head` field of a task spec through `HEAD_TYPES`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .task_types import task_type_of

__all__ = [
    "HEAD_TYPES",
    "LinearHead",
    "SANHead",
    "build_head",
    "masked_softmax",
    "pool_sentence",
    "stack_san_heads",
    "stacked_san_forward",
]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension where `mask` is True; masked positions get probability 0."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) * mask


def pool_sentence(
    hidden_states: torch.Tensor, attention_mask: torch.Tensor, pooler_output: torch.Tensor | None, pooling: str
) -> torch.Tensor:
    """
    The sentence vector `(B, d)` that linear heads read, from the final hidden states `(B, L, d)` (see
    `MTDNNConfig.pooling`): the encoder's pooled [CLS] vector (`"auto"`, when there is one), the first token's
    state (`"cls"`, and `"auto"` without a pooler), or the mean over the tokens that `attention_mask` keeps
    (`"mean"`).
    """
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
        return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
    if pooling == "auto" and pooler_output is not None:
        return pooler_output
    return hidden_states[:, 0]


class LinearHead(nn.Module):
    """
    The paper's head for single-sentence classification, regression and ranking: dropout, then one linear layer
    on the sentence vector `x` that the model pools (`MTDNNConfig.pooling`, see [`pool_sentence`]). By default
    that is the encoder's pooled [CLS] vector where it has a pooler (BERT, RoBERTa: a dense layer and tanh on the
    first token, as the authors' code and `BertForSequenceClassification` use), else the first token's final
    hidden state (DeBERTa-v2, ELECTRA).

    - classification: `logits = W^T x`, `(batch, num_labels)`; softmax and cross-entropy are in the loss.
    - regression and ranking: one score `w^T x` per sequence, `(batch,)`.
    - token classification: `W^T h_t` for every token's final hidden state `h_t`, `(batch, seq_len, num_labels)`
      (what `BertForTokenClassification` computes).
    - span extraction: a start and an end logit per token, `(batch, seq_len, 2)` (`BertForQuestionAnswering`'s
      `qa_outputs`; the dropout is only active in training).
    """

    def __init__(self, hidden_size: int, spec: dict[str, Any]):
        super().__init__()
        task_type = task_type_of(spec)
        self.per_token = task_type.per_token
        self.squeeze = task_type.single_score
        self.dropout = nn.Dropout(spec["dropout"])
        self.classifier = nn.Linear(hidden_size, spec["num_labels"])

    def apply_spec(self, spec: dict[str, Any]) -> None:
        """Takes up the settings of an updated spec that need no new weights (the dropout)."""
        self.dropout.p = spec["dropout"]

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        pooled_output: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.per_token:
            return self.classifier(self.dropout(hidden_states))  # (B, L, C)
        sentence = pooled_output if pooled_output is not None else hidden_states[:, 0]  # (B, d)
        logits = self.classifier(self.dropout(sentence))
        return logits.squeeze(-1) if self.squeeze else logits


class SANHead(nn.Module):
    r"""
    The stochastic answer network (SAN) of MT-DNN (Liu et al. 2019, sec. 3; Liu et al. 2018, "Stochastic Answer
    Networks for Natural Language Inference") for pairwise classification. This is the paper's variant:

    With `B` examples, `L` tokens, hidden size `d`, `C` classes and `K = san_steps`:

    - `H` `(B, L, d)`: the encoder's last hidden states after the task dropout.
    - `M^p` (premise memory): the tokens of the first segment (`token_type_ids == 0`, [CLS] and the first [SEP]
      included); `M^h` (hypothesis memory): the tokens of the second segment (`token_type_ids == 1`). Padding is
      masked out of both. An example with no second segment (an encoder without token types, or a single
      sentence) uses its whole sequence as both memories.
    - `alpha` `(B, L)` = `softmax(w_1^T M^h)`; initial state `s_0` `(B, d)` = `sum_j alpha_j M^h_j`.
    - for `k = 1..K`: `beta` `(B, L)` = `softmax(s_{k-1} W_2 M^p)`; `x_k` `(B, d)` = `sum_j beta_j M^p_j`;
      `s_k` `(B, d)` = `GRU(x_k, s_{k-1})`; `P_k` `(B, C)` = `softmax(W_3 [s_k; x_k; |s_k - x_k|; s_k * x_k])`.
    - inference: `P` = the mean of the `K` step predictions. Training: stochastic prediction dropout removes each
      step from an example's average with probability `san_step_dropout` (at least one step is always kept), and
      `P` is the mean of the steps kept.
    - returns `log P` `(B, C)`: a cross-entropy on it is the negative log-likelihood of the averaged prediction.

    With `K = 1` and no step dropout it is one bilinear-attention classifier: a summary of the hypothesis attends
    over the premise, and one GRU update feeds the classifier.
    """

    def __init__(self, hidden_size: int, spec: dict[str, Any]):
        super().__init__()
        self.num_steps = spec["san_steps"]
        self.step_dropout = spec["san_step_dropout"]
        self.dropout = nn.Dropout(spec["dropout"])
        self.self_attention = nn.Linear(hidden_size, 1)  # w_1
        self.bilinear = nn.Linear(hidden_size, hidden_size, bias=False)  # W_2
        self.gru = nn.GRUCell(hidden_size, hidden_size)
        self.classifier = nn.Linear(4 * hidden_size, spec["num_labels"])  # W_3

    def apply_spec(self, spec: dict[str, Any]) -> None:
        """Takes up the settings of an updated spec that need no new weights (dropout, step dropout)."""
        self.dropout.p = spec["dropout"]
        self.step_dropout = spec["san_step_dropout"]

    @staticmethod
    def memory_masks(
        attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the boolean `(premise_mask, hypothesis_mask)`, each `(B, L)`, as described in the class doc."""
        valid = attention_mask.bool()
        if token_type_ids is None:
            return valid, valid
        hypothesis = valid & (token_type_ids == 1)
        premise = valid & (token_type_ids == 0)
        single = ~hypothesis.any(dim=-1, keepdim=True)
        return torch.where(single, valid, premise), torch.where(single, valid, hypothesis)

    def step_probabilities(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None
    ) -> torch.Tensor:
        """Returns every step's prediction `P_k` as `(B, K, C)` probabilities."""
        memory = self.dropout(hidden_states)
        premise_mask, hypothesis_mask = self.memory_masks(attention_mask, token_type_ids)
        alpha = masked_softmax(self.self_attention(memory).squeeze(-1), hypothesis_mask)
        state = torch.einsum("bl,bld->bd", alpha, memory)
        predictions = []
        for _ in range(self.num_steps):
            # s W_2 M^p as (s W_2) M^p: a (B, d) product per step instead of projecting every memory token.
            query = state @ self.bilinear.weight
            beta = masked_softmax(torch.einsum("bd,bld->bl", query, memory), premise_mask)
            summary = torch.einsum("bl,bld->bd", beta, memory)
            state = self.gru(summary, state)
            features = torch.cat([state, summary, (state - summary).abs(), state * summary], dim=-1)
            predictions.append(torch.softmax(self.classifier(features).float(), dim=-1))
        return torch.stack(predictions, dim=1)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        pooled_output: torch.Tensor | None = None,
    ) -> torch.Tensor:
        probabilities = self.step_probabilities(hidden_states, attention_mask, token_type_ids)
        batch, steps = probabilities.shape[:2]
        if self.training and self.step_dropout > 0:
            keep = torch.rand(batch, steps, device=probabilities.device) >= self.step_dropout
            rescue = torch.randint(steps, (batch,), device=probabilities.device)
            keep[torch.arange(batch, device=keep.device), rescue] |= ~keep.any(dim=-1)
            weights = keep.float() / keep.sum(dim=-1, keepdim=True)
        else:
            weights = probabilities.new_full((batch, steps), 1.0 / steps)
        averaged = torch.einsum("bk,bkc->bc", weights, probabilities)
        return torch.log(averaged.clamp_min(torch.finfo(averaged.dtype).tiny)).to(hidden_states.dtype)


def stack_san_heads(heads: list[SANHead]) -> dict[str, torch.Tensor]:
    """
    The weights of several SAN heads with the same number of steps, stacked along a first "head" dimension for
    [`stacked_san_forward`]. Heads with fewer classes than the most are padded with classes whose logit is always
    `-inf` (zero weights, bias `-inf`), which take no probability and are cut off again afterwards.
    """
    classes = max(head.classifier.out_features for head in heads)
    reference = heads[0].classifier.weight
    classifier = reference.new_zeros(len(heads), classes, reference.shape[1])
    classifier_bias = reference.new_full((len(heads), classes), float("-inf"))
    for h, head in enumerate(heads):
        count = head.classifier.out_features
        classifier[h, :count] = head.classifier.weight
        classifier_bias[h, :count] = head.classifier.bias
    stack = lambda get: torch.stack([get(head) for head in heads])  # noqa: E731
    return {
        "w1": stack(lambda head: head.self_attention.weight[0]),  # (H, d); its bias cancels in the softmax
        "w2": stack(lambda head: head.bilinear.weight),  # (H, d, d)
        "w_ih": stack(lambda head: head.gru.weight_ih.T),  # (H, d, 3d)
        "b_ih": stack(lambda head: head.gru.bias_ih),  # (H, 3d)
        "w_hh": stack(lambda head: head.gru.weight_hh.T),  # (H, d, 3d)
        "b_hh": stack(lambda head: head.gru.bias_hh),  # (H, 3d)
        "w3": classifier.transpose(1, 2).contiguous(),  # (H, 4d, C)
        "b3": classifier_bias,  # (H, C)
    }


def stacked_san_forward(
    weights: dict[str, torch.Tensor],
    num_steps: int,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor | None,
) -> torch.Tensor:
    """
    The inference forward of H SAN heads at once (the weights of [`stack_san_heads`]): the equations of
    [`SANHead`] with every step averaged, as batched matrix products over the heads (per-head weights) and over the
    examples (attention over each example's tokens) instead of H loops of small operations. Masks are added to the
    scores once as the dtype's minimum, which is what `masked_softmax` computes; the self-attention bias `b_1` is
    left out, as softmax ignores a shift shared by all positions; each step's classifier runs once on all steps'
    features at the end. Returns `(H, B, C)` log-probabilities (a head with fewer classes ends in columns to cut).
    """
    memory = hidden_states  # (B, L, d); the task dropout is the identity at inference
    memory_t = memory.transpose(1, 2)  # (B, d, L)
    premise_mask, hypothesis_mask = SANHead.memory_masks(attention_mask, token_type_ids)
    minimum = torch.finfo(memory.dtype).min
    premise_bias = (~premise_mask).to(memory.dtype)[:, None] * minimum  # (B, 1, L)
    hypothesis_bias = (~hypothesis_mask).to(memory.dtype)[:, None] * minimum
    alpha = torch.softmax(torch.matmul(weights["w1"], memory_t) + hypothesis_bias, dim=-1)  # (B, H, L)
    state = torch.bmm(alpha, memory).transpose(0, 1)  # (H, B, d)
    size = state.shape[-1]
    features = []
    for _ in range(num_steps):
        query = torch.bmm(state, weights["w2"]).transpose(0, 1)  # (s W_2): (B, H, d)
        beta = torch.softmax(torch.baddbmm(premise_bias, query, memory_t), dim=-1)  # (B, H, L)
        summary = torch.bmm(beta, memory).transpose(0, 1)  # (H, B, d)
        input_gates = torch.baddbmm(weights["b_ih"][:, None], summary, weights["w_ih"])
        hidden_gates = torch.baddbmm(weights["b_hh"][:, None], state, weights["w_hh"])
        # torch.nn.GRUCell's equations, gate order (r, z, n): h' = (1 - z) * n + z * h.
        reset, update = torch.sigmoid(input_gates[..., : 2 * size] + hidden_gates[..., : 2 * size]).chunk(2, -1)
        candidate = torch.tanh(torch.addcmul(input_gates[..., 2 * size :], reset, hidden_gates[..., 2 * size :]))
        state = torch.lerp(candidate, state, update)
        features.append(torch.cat([state, summary, (state - summary).abs(), state * summary], dim=-1))
    heads, batch = state.shape[:2]
    stacked = torch.stack(features, dim=2).reshape(heads, batch * num_steps, -1)  # (H, B * K, 4d)
    logits = torch.baddbmm(weights["b3"][:, None], stacked, weights["w3"]).view(heads, batch, num_steps, -1)
    averaged = torch.softmax(logits.float(), dim=-1).mean(dim=2)
    return torch.log(averaged.clamp_min(torch.finfo(averaged.dtype).tiny)).to(hidden_states.dtype)


HEAD_TYPES: dict[str, type[nn.Module]] = {"linear": LinearHead, "san": SANHead}


def build_head(task_name: str, hidden_size: int, spec: dict[str, Any]) -> nn.Module:
    """Builds the head module of one (already validated) task spec from `HEAD_TYPES`."""
    head_cls = HEAD_TYPES.get(spec["head"])
    if head_cls is None:
        raise ValueError(
            f"Task '{task_name}': unknown head type {spec['head']!r}; the known head types are {sorted(HEAD_TYPES)}."
        )
    return head_cls(hidden_size, spec)
