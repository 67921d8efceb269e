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
Task affinity measured during training (`--task_affinity_steps N`): every N optimizer steps, how a step on task `i`
would change task `j`'s loss, on a probe batch per task held back from training (`--task_affinity_probe_size`).

Two measures (`--task_affinity_method`):

- `cosine` (the default): the cosine of task `i`'s and task `j`'s loss gradients on the shared encoder's weights.
  One forward and backward pass per task, no weight moves; symmetric, 1 on the diagonal. Its sign says whether a step
  on `i` lowers `j`'s loss to first order (a small SGD step on `i` changes `j`'s loss by `-lr * g_i . g_j`), its size
  how aligned the two updates are, whatever the learning rate.
- `lookahead`: the lookahead affinity of Fifty et al. 2021 ("Efficiently Identifying Task Groupings in Multi-Task
  Learning"), `Z[i][j] = 1 - L_j(theta - lr * g_i) / L_j(theta)`: an SGD step of the current learning rate on the
  shared encoder with task `i`'s probe gradient, then task `j`'s probe loss again (the heads are not moved), the
  weights put back exactly. Task count squared forward passes more; it reads the actual loss change, not its
  first-order part.

The shared weights are the encoder's, without LoRA adapters (each task's own): under `--lora_r` the encoder is frozen
and the measure says how well the tasks would share it (the weights are made to require gradients for the measure
only). The measure runs on the model itself (not the DDP wrapper: no gradient is synchronised), in eval mode (no
dropout), with the random generators saved and restored and gradients taken by `torch.autograd.grad` (no `.grad` is
touched), so training runs exactly as it would without it. Under DDP every rank measures the same probe batches and the
matrices are averaged, so every rank holds the same one. The running matrix is the mean of all measurements.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback
from transformers.utils import logging

from modeling_mtdnn.saving import atomic_file, read_json

from .task_groups import group_loss

__all__ = [
    "AFFINITY_FILE",
    "AFFINITY_METHODS",
    "AFFINITY_STATE_FILE",
    "TaskAffinityCallback",
    "cosine_affinity",
    "hold_out_probes",
    "lookahead_affinity",
    "shared_parameters",
]

logger = logging.get_logger(__name__)

AFFINITY_METHODS = ("cosine", "lookahead")
# The running matrix in each checkpoint (written before the task sampler's state, which marks a checkpoint complete).
AFFINITY_STATE_FILE = "task_affinity_state.json"
# The matrix a finished run leaves in its output folder (the heatmap is `model_cards.AFFINITY_PLOT_FILE`).
AFFINITY_FILE = "task_affinity.json"


def hold_out_probes(train_sets: Mapping[str, Any], probe_size: int, seed: int) -> tuple[dict, dict]:
    """
    Splits each task's training rows into a probe set of `probe_size` rows (drawn with `seed` and the task's place, so
    a resumed run holds back the same rows) and the rest, which is what training sees (in its own order). Refuses a
    task with no rows, or with no more rows than the probe batch, naming it and the flag.

    Returns:
        `tuple[dict, dict]`: task name to its training rows, and task name to its probe rows.
    """
    train, probes = {}, {}
    for place, (name, dataset) in enumerate(train_sets.items()):
        rows = len(dataset)
        if rows == 0:
            raise ValueError(
                f"Task '{name}' has no training rows to hold back a probe batch from (--task_affinity_probe_size "
                f"{probe_size}); give it training data or leave --task_affinity_steps out."
            )
        if probe_size >= rows:
            raise ValueError(
                f"Task '{name}': --task_affinity_probe_size {probe_size} is larger than its {rows} training rows can "
                f"spare (the probe rows are held back from training, and at least one must be left); use at most "
                f"{rows - 1}."
            )
        order = np.random.default_rng([seed, place]).permutation(rows)
        probes[name] = dataset.select(sorted(order[:probe_size].tolist()))
        train[name] = dataset.select(sorted(order[probe_size:].tolist()))
    return train, probes


def shared_parameters(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The encoder's weights that every task shares: all of `model.encoder`'s but LoRA adapters (each task's own)."""
    return [(name, parameter) for name, parameter in model.encoder.named_parameters() if "lora_" not in name]


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {key: _to_device(item, device) for key, item in value.items()}
    return value


def probe_loss(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
    """A probe batch's loss on its labels (a task group's: the sum of its heads'); soft targets are left out."""
    batch = {key: value for key, value in batch.items() if key != "teacher_logits"}
    if isinstance(batch.get("labels"), Mapping):
        return group_loss(model, batch, model.config.tasks)[0]
    outputs = model(**batch)
    return outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]


def _gradient(loss: torch.Tensor, parameters: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    gradients = torch.autograd.grad(loss, list(parameters), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gradients, parameters)]


def cosine_affinity(
    gradients: Sequence[Sequence[torch.Tensor]],
) -> torch.Tensor:
    """
    The `(tasks, tasks)` matrix of cosines between the tasks' gradients (each a list of tensors over the same shared
    weights), in float64; 0 where a gradient is all zeros.
    """
    flat = torch.stack([torch.cat([g.detach().double().reshape(-1) for g in grads]) for grads in gradients])
    norms = flat.norm(dim=1)
    dots = flat @ flat.T
    denominator = norms[:, None] * norms[None, :]
    return torch.where(denominator > 0, dots / denominator.clamp_min(1e-300), torch.zeros_like(dots))


def lookahead_affinity(
    losses: Callable[[], list[torch.Tensor]],
    gradients: Sequence[Sequence[torch.Tensor]],
    parameters: Sequence[torch.Tensor],
    learning_rate: float,
) -> torch.Tensor:
    """
    Fifty et al.'s lookahead affinity `Z[i][j] = 1 - L_j(theta - lr * g_i) / L_j(theta)` (float64), where `losses()`
    returns every task's probe loss at the current weights and `gradients[i]` is task `i`'s gradient over
    `parameters`. The weights are put back exactly after each lookahead; 0 where `L_j(theta)` is 0.
    """
    with torch.no_grad():
        before = torch.stack([loss.detach().double() for loss in losses()])
        saved = [parameter.detach().clone() for parameter in parameters]
        rows = []
        try:
            for grads in gradients:
                for parameter, gradient in zip(parameters, grads):
                    parameter.sub_(learning_rate * gradient.to(parameter.dtype))
                after = torch.stack([loss.detach().double() for loss in losses()])
                rows.append(torch.where(before != 0, 1 - after / before, torch.zeros_like(after)))
                for parameter, value in zip(parameters, saved):
                    parameter.copy_(value)
        finally:
            for parameter, value in zip(parameters, saved):
                parameter.copy_(value)
    return torch.stack(rows)


class TaskAffinityCallback(TrainerCallback):
    """
    Measures task affinity every `--task_affinity_steps` optimizer steps on `trainer.affinity_probes` (see the module's
    docstring), keeps the running mean, saves it into every checkpoint (before the sampler's state) and reads it back
    on resume, and writes `task_affinity.json` and the heatmap into the output folder when training ends. The matrix
    reaches the logs (`affinity/<i>-><j>`, see `MTDNNTrainer.log`) and the model card.
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.tasks = list(trainer.affinity_probes)
        self.total = torch.zeros(len(self.tasks), len(self.tasks), dtype=torch.float64)
        self.count = 0
        self.steps: list[int] = []
        self.seconds = 0.0
        self._batches: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------------------------------------ state
    @property
    def matrix(self) -> list[list[float]] | None:
        """The running affinity matrix (mean of the measurements; row `i`, column `j`: a step on `i`, seen by `j`)."""
        if not self.count:
            return None
        return (self.total / self.count).tolist()

    def state_dict(self) -> dict[str, Any]:
        return {
            "method": self.trainer.args.task_affinity_method,
            "tasks": self.tasks,
            "matrix": self.matrix,
            "measurements": self.count,
            "measured_at_steps": list(self.steps),
            "every_steps": self.trainer.args.task_affinity_steps,
            "probe_rows": self.trainer.args.task_affinity_probe_size,
            "seconds": round(self.seconds, 4),
            "sum": self.total.tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["tasks"]) != self.tasks or state["method"] != self.trainer.args.task_affinity_method:
            raise ValueError(
                f"The checkpoint's task affinity was measured by {state['method']!r} over {state['tasks']}, this run "
                f"measures by {self.trainer.args.task_affinity_method!r} over {self.tasks}; resume with the same "
                "--task_affinity_method and tasks."
            )
        self.total = torch.tensor(state["sum"], dtype=torch.float64).reshape(len(self.tasks), len(self.tasks))
        self.count = int(state["measurements"])
        self.steps = [int(step) for step in state["measured_at_steps"]]
        self.seconds = float(state["seconds"])

    def log_entries(self) -> dict[str, float]:
        """`affinity/<i>-><j>` of the running matrix for every pair of distinct tasks; empty before a measurement."""
        matrix = self.matrix
        if matrix is None:
            return {}
        return {
            f"affinity/{source}->{target}": round(matrix[i][j], 6)
            for i, source in enumerate(self.tasks)
            for j, target in enumerate(self.tasks)
            if i != j
        }

    def card_entry(self) -> dict[str, Any] | None:
        """What the model card shows of the matrix (`MTDNNModelCardData.task_affinity`)."""
        if not self.count:
            return None
        args = self.trainer.args
        return {
            "method": args.task_affinity_method,
            "tasks": self.tasks,
            "matrix": self.matrix,
            "measurements": self.count,
            "every_steps": args.task_affinity_steps,
            "probe_rows": args.task_affinity_probe_size,
        }

    # --------------------------------------------------------------------------------------------- measuring
    def _probe_batches(self, device: torch.device) -> list[dict[str, Any]]:
        if self._batches is None:
            collator = self.trainer.data_collator
            self._batches = [
                collator([dataset[i] for i in range(len(dataset))])
                for dataset in self.trainer.affinity_probes.values()
            ]
        return [_to_device(batch, device) for batch in self._batches]

    def measure(self) -> torch.Tensor:
        """One measurement of the affinity matrix at the current weights (all ranks agree on it); no side effects."""
        trainer = self.trainer
        model = trainer.accelerator.unwrap_model(trainer.model)
        parameters = [parameter for _, parameter in shared_parameters(model)]
        batches = self._probe_batches(next(model.parameters()).device)
        flags = [parameter.requires_grad for parameter in parameters]
        mode = model.training
        states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        model.eval()
        try:
            for parameter in parameters:
                parameter.requires_grad_(True)
            gradients = []
            for batch in batches:
                with trainer.autocast_smart_context_manager():
                    loss = probe_loss(model, batch)
                gradients.append(_gradient(loss.float(), parameters))
            if trainer.args.task_affinity_method == "cosine":
                matrix = cosine_affinity(gradients)
            else:
                learning_rate = trainer.lr_scheduler.get_last_lr()[0] if trainer.lr_scheduler is not None else 0.0

                def losses() -> list[torch.Tensor]:
                    with trainer.autocast_smart_context_manager():
                        return [probe_loss(model, batch).float() for batch in batches]

                matrix = lookahead_affinity(losses, gradients, parameters, learning_rate)
            del gradients
        finally:
            for parameter, flag in zip(parameters, flags):
                parameter.requires_grad_(flag)
            model.train(mode)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.random.set_rng_state(states[2])
            if cuda_states is not None:
                torch.cuda.set_rng_state_all(cuda_states)
        if trainer.args.world_size > 1:
            device = trainer.accelerator.device
            matrix = trainer.accelerator.reduce(matrix.to(device), reduction="mean")
        return matrix.double().cpu()

    def on_train_begin(self, args, state, control, **kwargs):
        checkpoint = self.trainer.resumed_from
        if not checkpoint:
            return
        path = os.path.join(checkpoint, AFFINITY_STATE_FILE)
        if os.path.isfile(path):
            self.load_state_dict(read_json(path, "Task affinity state"))
        else:
            logger.warning(
                "%s has no %s (it was saved without --task_affinity_steps): the task affinity is measured afresh.",
                checkpoint,
                AFFINITY_STATE_FILE,
            )

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % args.task_affinity_steps:
            return
        start = time.perf_counter()
        matrix = self.measure()
        if not torch.isfinite(matrix).all():
            logger.warning(
                "Task affinity at step %d is not finite; left out of the running matrix.", state.global_step
            )
        else:
            self.total += matrix
            self.count += 1
            self.steps.append(state.global_step)
        self.seconds += time.perf_counter() - start
        self._update_card()

    def _update_card(self) -> None:
        card = getattr(self.trainer.model, "model_card_data", None)
        if card is not None and hasattr(card, "task_affinity"):
            card.task_affinity = self.card_entry()

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if state.is_world_process_zero and os.path.isdir(folder):
            with atomic_file(os.path.join(folder, AFFINITY_STATE_FILE)) as temporary:
                temporary.write_text(json.dumps(self.state_dict(), indent=2))

    def on_train_end(self, args, state, control, **kwargs):
        self._update_card()
        if not state.is_world_process_zero or not self.count:
            return
        from mtdnn.model_cards import AFFINITY_PLOT_FILE, plot_affinity

        os.makedirs(args.output_dir, exist_ok=True)
        steps = max(state.global_step, 1)
        summary = self.state_dict() | {
            "seconds_per_measurement": round(self.seconds / self.count, 4),
            "reading": "matrix[i][j]: how a step on task i changes task j's probe loss (higher helps more)",
        }
        summary.pop("sum")
        summary["training_steps"] = steps
        with atomic_file(os.path.join(args.output_dir, AFFINITY_FILE)) as temporary:
            temporary.write_text(json.dumps(summary, indent=2))
        if not plot_affinity(self.card_entry(), os.path.join(args.output_dir, AFFINITY_PLOT_FILE)):
            logger.warning("matplotlib is not installed: %s is written without its heatmap.", AFFINITY_FILE)
        logger.info(
            "Task affinity (%s): %d measurements, %.3fs each; written to %s.",
            args.task_affinity_method,
            self.count,
            self.seconds / self.count,
            os.path.join(args.output_dir, AFFINITY_FILE),
        )
