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
SMART (Jiang, He, Chen, Liu, Gao, Zhao 2020, arXiv 1911.03437) as `MTDNNTrainer` features: the smoothness-inducing
adversarial regularizer (`--adv_train`) and the Bregman proximal point step (`--bregman_weight`).

- **Adversarial regularizer.** A perturbation `delta` of the encoder's embedding-layer output (word, position and
  type embeddings as the layers receive them, where the authors' code perturbs too) starts as Gaussian noise
  (`--adv_noise_scale`), takes `--adv_steps` ascent steps on the divergence between the perturbed and the clean
  predictions (step `--adv_step_size`, then normalised per token in the `--adv_norm` norm, as the authors' code
  does), and the loss gains `adv_weight * l_s(f(x + delta), f(x))`. `l_s` is the symmetric KL divergence for
  classification (over the classes) and ranking (over a question's candidates), and the squared error for
  regression. A non-finite ascent gradient skips the term for that batch (counted in the logs as `adv_skipped`).
- **Bregman proximal point.** A copy of the model, updated after every optimizer step as
  `theta_tilde = momentum * theta_tilde + (1 - momentum) * theta`, whose predictions the model must stay near: the
  loss gains `bregman_weight * l_s(f(x; theta), f(x; theta_tilde))`. The copy travels in checkpoints
  (`bregman_proximal.safetensors`), so a resumed run continues exactly.

A task group's batch (several heads on one encoder pass) gets both terms summed over its heads: one perturbation
climbs the sum of the heads' divergences, each weighted by its head's `adv_weight`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import TrainerCallback

from modeling_mtdnn.saving import atomic_file
from modeling_mtdnn.task_types import get_task_type

__all__ = [
    "PROXIMAL_FILE",
    "BregmanProximalCallback",
    "adversarial_loss",
    "adversarial_term",
    "smart_terms",
    "symmetric_divergence",
]

PROXIMAL_FILE = "bregman_proximal.safetensors"
ADV_NORMS = ("inf", "l2")
_EPSILON = 1e-6  # keeps the per-token normalisation finite (the authors' `adv_epsilon`)


def _distributions(logits: torch.Tensor, task_type: str, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """
    The logits laid out with the distributions SMART compares on the last dimension: the classes (per example, or
    per token for token classification), a question's candidates, or, for span extraction, the positions: the start
    and the end distribution over the tokens `(batch, 2, seq_len)`, padding held at a negligible probability.
    """
    logits = logits.float()
    if get_task_type(task_type).input_kind != "spans":
        return logits
    positions = logits.transpose(-1, -2)
    if attention_mask is not None:
        positions = positions.masked_fill(~attention_mask.bool()[:, None, :], -1e4)
    return positions


def symmetric_divergence(
    logits: torch.Tensor, other: torch.Tensor, task_type: str, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """
    `l_s` of SMART: `KL(p || q) + KL(q || p)` over the last dimension for classification and ranking (each direction
    differentiates its second argument, the other side is held fixed, as in the authors' code), the squared error for
    regression. For span extraction, the same over the start positions plus over the end positions (`attention_mask`
    leaves padding out). Batch mean.
    """
    if get_task_type(task_type).predicts_value:
        return F.mse_loss(logits.float().view(-1), other.float().view(-1))
    log_p = torch.log_softmax(_distributions(logits, task_type, attention_mask), dim=-1)
    log_q = torch.log_softmax(_distributions(other, task_type, attention_mask), dim=-1)
    forward = F.kl_div(log_q, log_p.detach(), log_target=True, reduction="batchmean")
    backward = F.kl_div(log_p, log_q.detach(), log_target=True, reduction="batchmean")
    return forward + backward


def _ascent_divergence(
    adversarial: torch.Tensor, clean: torch.Tensor, task_type: str, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """The divergence the perturbation climbs: from the clean prediction (fixed) to the perturbed one."""
    if get_task_type(task_type).predicts_value:
        return F.mse_loss(adversarial.float().view(-1), clean.float().view(-1))
    log_clean = torch.log_softmax(_distributions(clean, task_type, attention_mask), dim=-1)
    log_adversarial = torch.log_softmax(_distributions(adversarial, task_type, attention_mask), dim=-1)
    return F.kl_div(log_adversarial, log_clean, log_target=True, reduction="batchmean")


def _normalize(delta: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "l2":
        return delta / (delta.norm(dim=-1, keepdim=True) + _EPSILON)
    return delta / (delta.abs().amax(dim=-1, keepdim=True) + _EPSILON)


def embedding_layer(model: nn.Module) -> nn.Module:
    """The module whose output SMART perturbs: the encoder's embedding layer, else its word embeddings."""
    encoder = model.encoder
    return getattr(encoder, "embeddings", None) or encoder.get_input_embeddings()


def _logits_of(output: Any) -> torch.Tensor | dict[str, torch.Tensor]:
    """A forward's logits: one task's tensor, or `{task: logits}` from a forward of several tasks (a task group)."""
    task_logits = output.get("task_logits") if isinstance(output, Mapping) else None
    return task_logits if task_logits is not None else output.logits


def _summed(
    divergence, first: Any, second: Any, task_type: Any, mask: torch.Tensor | None, weights: Mapping[str, float]
) -> torch.Tensor:
    """`divergence` of one task's logits, or the `weights`-weighted sum of it over a group's heads."""
    if not isinstance(task_type, Mapping):
        return divergence(first, second, task_type, mask)
    return torch.stack(
        [weight * divergence(first[h], second[h], task_type[h], mask) for h, weight in weights.items()]
    ).sum()


def adversarial_term(
    model: nn.Module,
    inputs: dict[str, Any],
    clean_logits: torch.Tensor | Mapping[str, torch.Tensor],
    task_type: str | Mapping[str, str],
    noise_scale: float = 1e-5,
    step_size: float = 1e-5,
    steps: int = 1,
    norm: str = "inf",
    weights: Mapping[str, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    SMART's adversarial term `l_s(f(x + delta), f(x))` for one batch (`inputs` without labels; `clean_logits` the
    model's output on them, with its graph), computed without a host-device sync: returns `(term, finite)`, where
    `finite` is a 0-dim bool tensor that is False when an ascent gradient was not finite, and `term` is then 0 (the
    perturbation keeps its last finite value, so no NaN reaches the backward pass).

    For a task group's batch, `clean_logits` and `task_type` are dicts over its heads (`inputs["task_name"]` the list
    of them) and `weights` each head's `adv_weight`: one perturbation climbs the weighted sum of the heads'
    divergences, and the term is that weighted sum (already weighted, unlike a single task's).
    """
    grouped = isinstance(task_type, Mapping)
    if grouped and weights is None:
        weights = {name: 1.0 for name in task_type}
    state: dict[str, torch.Tensor | None] = {"delta": None}

    def perturb(module, arguments, output):
        if state["delta"] is None:
            state["delta"] = (torch.randn_like(output) * noise_scale).requires_grad_()
        return output + state["delta"]

    handle = embedding_layer(model).register_forward_hook(perturb)
    mask = inputs.get("attention_mask")
    try:
        clean = {h: value.detach() for h, value in clean_logits.items()} if grouped else clean_logits.detach()
        device = next(iter(clean.values())).device if grouped else clean.device
        finite = torch.ones((), dtype=torch.bool, device=device)
        for _ in range(steps):
            adversarial = _logits_of(model(**inputs))
            divergence = _summed(_ascent_divergence, adversarial, clean, task_type, mask, weights)
            (gradient,) = torch.autograd.grad(divergence, state["delta"])
            finite = finite & torch.isfinite(gradient).all()
            moved = _normalize(state["delta"].detach() + step_size * torch.nan_to_num(gradient), norm)
            state["delta"] = torch.where(finite, moved, state["delta"].detach()).requires_grad_()
        state["delta"] = torch.nan_to_num(state["delta"].detach())
        term = _summed(symmetric_divergence, clean_logits, _logits_of(model(**inputs)), task_type, mask, weights)
        return torch.where(finite, term, torch.zeros_like(term)), finite
    finally:
        handle.remove()


def adversarial_loss(
    model: nn.Module,
    inputs: dict[str, Any],
    clean_logits: torch.Tensor,
    task_type: str,
    noise_scale: float = 1e-5,
    step_size: float = 1e-5,
    steps: int = 1,
    norm: str = "inf",
) -> torch.Tensor | None:
    """
    SMART's adversarial term `l_s(f(x + delta), f(x))` for one batch (`inputs` without labels; `clean_logits` the
    model's output on them, with its graph). Returns `None` when an ascent gradient is not finite (which reads a
    flag from the device: `MTDNNTrainer` calls [`adversarial_term`] instead, which does not).
    """
    term, finite = adversarial_term(
        model, inputs, clean_logits, task_type, noise_scale=noise_scale, step_size=step_size, steps=steps, norm=norm
    )
    return term if bool(finite) else None


class BregmanProximalCallback(TrainerCallback):
    """
    Keeps the Bregman proximal copy of `trainer.model`: made at the start of training (or read from the checkpoint a
    run resumes from), moved toward the model after every optimizer step, and saved into every checkpoint before the
    task sampler's state (the file that marks a checkpoint complete).
    """

    def __init__(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        model = self.trainer.model
        proximal = copy.deepcopy(model).eval().requires_grad_(False)
        checkpoint = self.trainer.resumed_from
        if checkpoint:
            path = os.path.join(checkpoint, PROXIMAL_FILE)
            if not os.path.isfile(path):
                raise ValueError(
                    f"The checkpoint {checkpoint!r} has no {PROXIMAL_FILE}: it was saved without --bregman_weight, so "
                    "the proximal copy cannot be restored; resume without --bregman_weight, or start the run afresh."
                )
            proximal.load_state_dict(load_file(path), strict=True)
        self.trainer.proximal_model = proximal

    def on_step_end(self, args, state, control, **kwargs):
        proximal = self.trainer.proximal_model
        momentum = args.bregman_momentum
        with torch.no_grad():
            for tilde, current in zip(proximal.parameters(), self.trainer.model.parameters()):
                tilde.lerp_(current.detach().to(tilde.dtype), 1 - momentum)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            weights = {
                key: value.contiguous().cpu() for key, value in self.trainer.proximal_model.state_dict().items()
            }
            with atomic_file(os.path.join(folder, PROXIMAL_FILE)) as temporary:
                save_file(weights, temporary, metadata={"format": "pt"})


def smart_terms(trainer, model, inputs: dict[str, Any], outputs) -> torch.Tensor | float:
    """
    SMART's regularizers for one training batch of `trainer` (an `MTDNNTrainer`): the adversarial term (weighted per
    task) and the Bregman proximal term.
    """
    args, task = trainer.args, inputs["task_name"]
    module = trainer.accelerator.unwrap_model(model)
    if not isinstance(task, str):
        return _group_smart_terms(trainer, module, inputs, outputs)
    task_type = module.config.tasks[task]["task_type"]
    logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[1]
    model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
    total = 0.0
    weight = trainer.adv_task_weights.get(task, args.adv_weight) if args.adv_train else 0.0
    if weight > 0:
        term, finite = adversarial_term(
            module,
            model_inputs,
            logits,
            task_type,
            noise_scale=args.adv_noise_scale,
            step_size=args.adv_step_size,
            steps=args.adv_steps,
            norm=args.adv_norm,
        )
        trainer._adv_skipped = trainer._adv_skipped + (~finite).to(torch.int64)  # read at logging steps only
        total = total + weight * term
    if trainer.proximal_model is not None:
        with torch.no_grad():
            proximal = trainer.proximal_model(**model_inputs).logits
        mask = model_inputs.get("attention_mask")
        total = total + args.bregman_weight * symmetric_divergence(logits, proximal, task_type, mask)
    return total


def _group_smart_terms(trainer, module: nn.Module, inputs: dict[str, Any], outputs) -> torch.Tensor | float:
    """
    SMART's regularizers for one batch of a task group (`inputs["task_name"]` its heads): the adversarial term of one
    perturbation over the sum of the heads' divergences, each weighted by its head's `adv_weight`, and the Bregman
    proximal term summed over the heads. Both are label-free: they cover every row, also the rows that lack a head's
    labels.
    """
    args, heads = trainer.args, list(inputs["task_name"])
    types = {head: module.config.tasks[head]["task_type"] for head in heads}
    logits = outputs["task_logits"] if isinstance(outputs, Mapping) else outputs[0]
    model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
    total = 0.0
    weights = {head: trainer.adv_task_weights.get(head, args.adv_weight) for head in heads} if args.adv_train else {}
    weights = {head: weight for head, weight in weights.items() if weight > 0}
    if weights:
        term, finite = adversarial_term(
            module,
            model_inputs | {"task_name": list(weights)},
            {head: logits[head] for head in weights},
            {head: types[head] for head in weights},
            noise_scale=args.adv_noise_scale,
            step_size=args.adv_step_size,
            steps=args.adv_steps,
            norm=args.adv_norm,
            weights=weights,
        )
        trainer._adv_skipped = trainer._adv_skipped + (~finite).to(torch.int64)  # read at logging steps only
        total = total + term
    if trainer.proximal_model is not None:
        with torch.no_grad():
            proximal = _logits_of(trainer.proximal_model(**model_inputs))
        mask = model_inputs.get("attention_mask")
        ones = dict.fromkeys(heads, args.bregman_weight)
        total = total + _summed(symmetric_divergence, logits, proximal, types, mask, ones)
    return total
