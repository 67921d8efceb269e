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
"""Stopping a run at a non-finite training loss, with or without a host-device sync per step."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["DivergenceGuard", "TrainingDivergedError"]


class TrainingDivergedError(RuntimeError):
    """Raised when a training loss is NaN or infinite: the run stops, and no diverged model is saved."""


class DivergenceGuard:
    """
    Watches the training losses of an `MTDNNTrainer` (`args.finite_loss_check`):

    - `"step"`: stops training at the first NaN or infinite loss, before its backward pass, so no weight takes it.
      It reads one flag from the device per step: the only host-device sync of a training step.
    - `"log"`: keeps the step and task of the first non-finite loss on the device (no sync per step) and raises at
      the next logging step, save, or the end of training; the weights may have moved since, and a model whose
      weights are not finite is still never saved.

    Every rank learns of a non-finite loss on any rank, so none is left waiting in a collective.
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.first_bad: torch.Tensor | None = None  # "log": (step, task index) of the first non-finite loss, or -1

    def check(self, loss: torch.Tensor, task_name: str) -> None:
        """Checks one training step's loss as `finite_loss_check` says."""
        if self.trainer.args.finite_loss_check == "step":
            self._check_now(loss, task_name)
        else:
            self.note(loss, task_name)

    def _check_now(self, loss: torch.Tensor, task_name: str) -> None:
        """
        `finite_loss_check="step"`: stops training at the first NaN or infinite loss, before its backward pass, so
        no weight takes it. (The Trainer's `logging_nan_inf_filter` would otherwise hide it in the logged loss and
        train on.) Every rank learns of a non-finite loss on any rank, so none is left waiting in an all-reduce. It
        reads one flag from the device per step: the only host-device sync of a training step.
        """
        finite = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
        if self.trainer.args.world_size > 1:
            finite = self.trainer.accelerator.reduce(finite, reduction="sum") / self.trainer.args.world_size
        if finite.item() == 1.0:
            return
        where = " on one of the ranks" if self.trainer.args.world_size > 1 else ""
        raise TrainingDivergedError(
            f"Task '{task_name}': the training loss is {loss.detach().float().item()}{where} at step "
            f"{self.trainer.state.global_step + 1} (epoch {self.trainer.state.epoch or 0:.2f}): training diverged. "
            "This step changed no weight and training stops here, so no diverged model is saved. " + self._advice()
        )

    def _advice(self) -> str:
        return (
            f"Try a lower --learning_rate (now {self.trainer.args.learning_rate}), gradient clipping "
            "(--max_grad_norm 1.0), a warm-up (--warmup_steps 0.1), or bf16 instead of fp16."
        )

    def note(self, loss: torch.Tensor, task_name: str) -> None:
        """
        `finite_loss_check="log"`: remembers the step and task of the first non-finite loss on the device (no
        host-device sync); `raise_if_diverged` reads it at the next logging step, save or the end of training.
        """
        bad = ~torch.isfinite(loss.detach()).all()
        if self.first_bad is None:
            self.first_bad = torch.full((2,), -1, dtype=torch.int64, device=loss.device)
        names = sorted(self.trainer.train_dataset) if isinstance(self.trainer.train_dataset, Mapping) else [task_name]
        seen = torch.full_like(self.first_bad, self.trainer.state.global_step + 1)
        seen[1] = names.index(task_name)
        self.first_bad = torch.where(bad & (self.first_bad[0] < 0), seen, self.first_bad)

    def raise_if_diverged(self) -> None:
        """Raises `TrainingDivergedError` if a non-finite loss was noted (`finite_loss_check="log"`) on any rank."""
        if self.trainer.args.finite_loss_check != "log":
            return
        if self.first_bad is None:
            if self.trainer.args.world_size == 1:
                return
            self.first_bad = torch.full((2,), -1, dtype=torch.int64, device=self.trainer.accelerator.device)
        if self.trainer.args.world_size > 1:  # every rank's first noted (step, task): all ranks stop alike
            rows = self.trainer.accelerator.gather(self.first_bad.reshape(1, 2)).reshape(-1, 2).tolist()
        else:
            rows = [self.first_bad.tolist()]
        noted = [(step, task) for step, task in rows if step >= 0]
        if not noted:
            return
        step, task = min(noted)
        names = sorted(self.trainer.train_dataset) if isinstance(self.trainer.train_dataset, Mapping) else []
        name = names[task] if 0 <= task < len(names) else "?"
        raise TrainingDivergedError(
            f"Task '{name}': the training loss was not finite at step {step}: training diverged. With "
            "--finite_loss_check log this is read at logging steps, so the weights were updated since; training "
            "stops here and no diverged model is saved (--finite_loss_check step stops before the step's update). "
            + self._advice()
        )
