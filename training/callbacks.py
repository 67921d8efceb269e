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
"""The callbacks of `MTDNNTrainer`: the task sampler's state in step with training, and the model card's data."""

from __future__ import annotations

import json
import math
import os

from tqdm.auto import tqdm
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import has_length

from modeling_mtdnn.saving import atomic_file, read_json
from mtdnn.model_cards import MTDNNModelCardData

from .task_groups import group_heads, label_is_present, labels_column

__all__ = ["HYPERPARAMETERS", "SAMPLER_STATE_FILE", "ModelCardCallback", "TaskProgressCallback", "TaskSamplerCallback"]

# The task sampler's state, the last file of a complete checkpoint.
SAMPLER_STATE_FILE = "task_sampler_state.json"

# The training arguments a card reports, when set.
HYPERPARAMETERS = (
    "optim",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "sampling_strategy",
    "sampling_temperature",
    "train_sampling_strategy",
    "seed",
    "bf16",
    "fp16",
)


class ModelCardCallback(TrainerCallback):
    """
    Records into `model.model_card_data` ([`MTDNNModelCardData`]) what the card of a trained MT-DNN reports: the
    training examples per task (per head of a task group: the rows with its labels) and the hyperparameters when
    training begins, the dev scores after each evaluation.
    The card itself is written by `save_pretrained` (so by `Trainer.save_model` and `push_to_hub` too).
    """

    def __init__(self, trainer):
        self.trainer = trainer

    @property
    def card_data(self) -> MTDNNModelCardData:
        model = self.trainer.model
        if getattr(model, "model_card_data", None) is None:
            model.model_card_data = MTDNNModelCardData()
        return model.model_card_data

    def on_train_begin(self, args, state, control, **kwargs):
        card = self.card_data
        datasets = self.trainer.train_dataset
        if isinstance(datasets, dict):
            card.training_data = {}
            for name, dataset in datasets.items():
                heads = group_heads(dataset)  # a task group's heads: each its own task, with the rows it labels
                card.training_data |= {
                    head: sum(map(label_is_present, dataset[labels_column(head)])) for head in heads
                } or {name: len(dataset)}
        values = {name: getattr(args, name, None) for name in HYPERPARAMETERS}
        defaults = {"max_steps": -1, "bf16": False, "fp16": False, "weight_decay": 0.0}
        card.hyperparameters = {
            name: getattr(value, "value", value)  # as a user types it: `linear`, not `SchedulerType.LINEAR`
            for name, value in values.items()
            if value is not None and defaults.get(name, object()) != value
        }
        if getattr(args, "sampling_strategy", None) != "temperature":
            card.hyperparameters.pop("sampling_temperature", None)
        warmup = card.hyperparameters.get("warmup_steps")
        if isinstance(warmup, float) and 0 < warmup < 1:  # transformers reads a float below 1 as a ratio of the steps
            card.hyperparameters["warmup_steps"] = f"{warmup:g} (a ratio: {warmup:.0%} of the training steps)"

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.card_data.eval_results.update(
                {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
            )


class TaskSamplerCallback(TrainerCallback):
    """
    Keeps the task sampler in step with the Trainer: sets its epoch at each epoch's start (also when a resumed run
    skips into the middle of an epoch), writes its state as JSON into every checkpoint, and checks that state when
    training resumes from a checkpoint (`args.resume_from_checkpoint`). Its state is the last file of a checkpoint:
    only once it is written does `MTDNNTrainer` delete the checkpoints beyond `--save_total_limit`.
    """

    def __init__(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        checkpoint = self.trainer.resumed_from
        if checkpoint and self.trainer.task_sampler is not None:
            path = os.path.join(checkpoint, SAMPLER_STATE_FILE)
            self.trainer.task_sampler.load_state_dict(read_json(path, "Task sampler state"))

    def on_epoch_begin(self, args, state, control, **kwargs):
        if self.trainer.task_sampler is not None:
            self.trainer.task_sampler.set_epoch(math.floor(state.epoch + 1e-6))

    def on_save(self, args, state, control, **kwargs):
        sampler = self.trainer.task_sampler
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if sampler is not None and state.is_world_process_zero and os.path.isdir(folder):
            with atomic_file(os.path.join(folder, SAMPLER_STATE_FILE)) as temporary:
                temporary.write_text(json.dumps(sampler.state_dict(), indent=2))
        # The checkpoint is complete only now (the Bregman proximal copy's callback, added before this one, has run
        # too): the older ones that --save_total_limit drops may go.
        rotate = getattr(self.trainer, "_rotate_completed_checkpoints", None)
        if rotate is not None:
            rotate()


class TaskProgressCallback(ProgressCallback):
    """
    transformers' progress bars, with each evaluation or prediction bar named by the set it runs over (`eval
    mnli_mm`): `MTDNNTrainer` evaluates one set per task, and unnamed bars said nothing of which was running.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label: str | None = None

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if self.prediction_bar is None and state.is_world_process_zero and has_length(eval_dataloader):
            self.prediction_bar = tqdm(
                total=len(eval_dataloader), leave=self.training_bar is None, dynamic_ncols=True, desc=self.label
            )
        super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)
