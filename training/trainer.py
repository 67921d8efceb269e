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
"""`MTDNNTrainer`: a `transformers.Trainer` that mixes single-task batches of many tasks."""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader
from transformers import Trainer
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PredictionOutput, get_last_checkpoint, rotate_checkpoints, seed_worker
from transformers.utils import logging

from modeling_mtdnn.saving import atomic_directory
from modeling_mtdnn.task_types import task_type_of
from mtdnn.model_cards import MTDNNModelCardData, write_model_card

from .callbacks import SAMPLER_STATE_FILE, ModelCardCallback, TaskProgressCallback, TaskSamplerCallback
from .distill import distillation_loss
from .divergence import DivergenceGuard, TrainingDivergedError
from .metrics import average_score, score_task
from .samplers import MultiTaskBatchSampler
from .smart import BregmanProximalCallback, smart_terms
from .task_affinity import TaskAffinityCallback, hold_out_probes
from .task_groups import group_heads, group_loss
from .task_sets import EvalSpec

__all__ = [
    "SAMPLER_STATE_FILE",
    "EvalSpec",
    "MTDNNTrainer",
    "TaskSamplerCallback",
    "TrainingDivergedError",
    "end_distributed_run",
]

logger = logging.get_logger(__name__)


def end_distributed_run(trainer: Trainer | None = None, wait: bool = True) -> None:
    """
    Ends a distributed run cleanly; call it once at the end of a script launched with `accelerate launch`.

    A gloo process group still alive when the interpreter exits can abort it (`terminate called without an active
    exception`, SIGABRT) after all the work is done: its worker threads are torn down with the interpreter. Calling
    `destroy_process_group` is not enough while the `DistributedDataParallel` wrapper of the trained model still
    holds the group, so the trainer's and accelerate's references to the wrapped model are dropped first, all ranks
    meet at a barrier (unless `wait=False`, for a rank leaving on an error, which must not wait for the others),
    and the group is destroyed. A no-op when no process group is initialised.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if trainer is not None:
        trainer.accelerator.free_memory()  # accelerate's references to the wrapped model, optimizer, loaders
        trainer.model_wrapped = trainer.model
    gc.collect()
    if wait:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    gc.collect()


def _rows_in_order(outputs, order: np.ndarray):
    """`outputs` (an array, or tuples, lists or dicts of them, as `predict` returns) with rows taken in `order`."""
    if outputs is None:
        return None
    if isinstance(outputs, Mapping):
        return {key: _rows_in_order(value, order) for key, value in outputs.items()}
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(_rows_in_order(value, order) for value in outputs)
    return np.asarray(outputs)[order]


# The encoder settings that shape its weights or what they compute: a checkpoint is resumed only onto the same.
_ENCODER_SETTINGS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "hidden_act",
)


def check_resume_settings(model, checkpoint: str) -> None:
    """
    Refuses to resume `model`'s training from `checkpoint` when the checkpoint was trained as another model: another
    pooling (its linear heads read another vector), another encoder shape, other tasks or task fields that shape a
    head or its outputs (the training fields `update_task` may change are free), or other LoRA adapters. The
    Trainer would load the weights it can and continue in silence on a model they were not trained for.
    """
    config_file = os.path.join(checkpoint, "config.json")
    if not getattr(model.config, "model_type", None) == "mtdnn" or not os.path.isfile(config_file):
        return
    saved = type(model.config).from_pretrained(checkpoint)
    mine = model.config
    differences = []
    if saved.pooling != mine.pooling:
        differences.append(("pooling", saved.pooling, mine.pooling, f"--pooling {saved.pooling}"))
    for field in _ENCODER_SETTINGS:
        theirs, ours = getattr(saved.encoder_config, field, None), getattr(mine.encoder_config, field, None)
        if theirs != ours:
            differences.append((f"encoder_config.{field}", theirs, ours, "the encoder it was trained from"))
    if list(saved.tasks) != list(mine.tasks):
        differences.append(("tasks", list(saved.tasks), list(mine.tasks), f"--tasks {','.join(saved.tasks)}"))
    for name in set(saved.tasks) & set(mine.tasks):
        for field in sorted(set(saved.tasks[name]) | set(mine.tasks[name])):
            if field in type(model).UPDATABLE_TASK_FIELDS:
                continue
            theirs, ours = saved.tasks[name].get(field), mine.tasks[name].get(field)
            if theirs != ours:
                differences.append((f"tasks.{name}.{field}", theirs, ours, "the task file it was trained with"))
    if (saved.task_adapters or {}) != (mine.task_adapters or {}):
        differences.append(("task_adapters", saved.task_adapters, mine.task_adapters, "the same --lora_* flags"))
    if differences:
        lines = "\n  - ".join(
            f"{field}: {theirs!r} in the checkpoint, {ours!r} in this run's model (resume with {fix})"
            for field, theirs, ours, fix in differences
        )
        raise ValueError(
            f"Cannot resume from {checkpoint!r}: it was trained as another model than this run builds:\n  - {lines}\n"
            "Resume with the settings it was trained with, or start a new run from its weights with --init_from "
            "(which checks and keeps them)."
        )


class MTDNNTrainer(Trainer):
    r"""
    Multi-task training as in MT-DNN: every mini-batch comes from one task, batches of all tasks are mixed by a
    seeded [`MultiTaskBatchSampler`] (`args.sampling_strategy`), and each batch updates the shared encoder and its
    task's head. Only public `Trainer` methods are overridden:

    - `get_train_dataloader` (the task sampler over a `ConcatDataset`), `get_eval_dataloader` and
      `get_test_dataloader` (one task's rows, in batches grouped by length under `group_by_length`);
    - `train` (restores the sampler's state on resume), `compute_loss` (per-task losses, SMART, MT-DNN-KD, the
      non-finite check), `log` (per-task losses), `create_optimizer` (Adamax, the head learning rate);
    - `predict` (puts rows evaluated in length order back in dataset order) and `evaluate` (every task, its metric,
      and their GLUE-style average);
    - `save_model` (atomic, with the model card) and `create_model_card` (MT-DNN's card instead of the Trainer's);
    - and one private method, `_save_checkpoint`: older checkpoints are deleted only once the new one is complete.

    Args:
        train_dataset (`dict[str, datasets.Dataset]`):
            Task name to its prepared training split (see `mtdnn.training.task_sets.build_task_sets`); a task group's
            name to its rows, whose `labels.<task>` columns name its heads: the sampler takes the group as one task,
            and each of its batches trains every head it labels on one encoder pass (`mtdnn.training.task_groups`).
        eval_dataset (`dict[str, datasets.Dataset]`, *optional*):
            Evaluation key (`rte`, `mnli_mm`) to its prepared validation split.
        eval_specs (`dict[str, EvalSpec]`, *optional*):
            How to score each evaluation key; required with `eval_dataset`.
        kwargs:
            Everything else `Trainer` takes (`model`, `args` as [`MTDNNTrainingArguments`], `data_collator`, ...).

    Reports `loss_<task>` in the training logs (for a task group, its total and each head's own), and
    `eval_<key>_<metric>`, `eval_<key>_loss` and `eval_average` (the GLUE-style mean of the tasks' scores, usable as
    `metric_for_best_model="average"`) from `evaluate`, where a group's heads are tasks of their own. The model card
    written with every save (see `model_cards`) records the tasks' training sizes, the hyperparameters and the dev
    scores. With `args.task_affinity_steps`, each task's `task_affinity_probe_size` probe rows are held back from
    `train_dataset` when the trainer is built, and the task affinity measured on them (see
    `mtdnn.training.task_affinity`) is logged as `affinity/<i>-><j>`, checkpointed, and written to `output_dir`.
    """

    def __init__(
        self,
        *args,
        eval_specs: Mapping[str, EvalSpec] | None = None,
        adv_task_weights: Mapping[str, float] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.eval_specs = dict(eval_specs or {})
        if self.eval_dataset is not None:
            missing = sorted(set(self.eval_dataset) - set(self.eval_specs))
            if missing:
                raise ValueError(f"eval_specs has no entry for the evaluation set(s) {missing}.")
        self.task_sampler: MultiTaskBatchSampler | None = None
        self.resumed_from: str | None = None  # the checkpoint `train` resumes from, for the sampler's state
        self._task_losses: dict[str, list] = {}  # task -> [summed loss, batches] since the last log
        # SMART: per-task weights of the adversarial regularizer (others use args.adv_weight), skipped terms since
        # the last log, and the Bregman proximal copy (kept by its callback, which saves it before the sampler's
        # state so that file still marks a complete checkpoint).
        self.adv_task_weights = dict(adv_task_weights or {})
        self._adv_skipped = 0
        self.divergence = DivergenceGuard(self)  # stops the run at a non-finite loss (args.finite_loss_check)
        self.proximal_model = None
        if self.args.bregman_weight > 0:
            self.add_callback(BregmanProximalCallback(self))
        # Task affinity (--task_affinity_steps): each task's probe rows are held back here, before any loader is
        # built, so the sampler never sees them; its state goes into checkpoints before the sampler's.
        self.affinity_probes: dict | None = None
        self.task_affinity: TaskAffinityCallback | None = None
        if getattr(self.args, "task_affinity_steps", None):
            self._hold_out_affinity_probes()
        self.add_callback(TaskSamplerCallback(self))
        self.add_callback(ModelCardCallback(self))
        if self.pop_callback(ProgressCallback) is not None:  # the same bars, evaluation's named by task
            self.add_callback(TaskProgressCallback)

    def _hold_out_affinity_probes(self) -> None:
        """Splits each task's probe rows off the training data and adds the callback that measures affinity on them."""
        if not isinstance(self.train_dataset, Mapping) or len(self.train_dataset) < 2:
            tasks = list(self.train_dataset) if isinstance(self.train_dataset, Mapping) else []
            raise ValueError(
                f"--task_affinity_steps measures how tasks affect each other: it needs at least two training tasks, "
                f"got {tasks}."
            )
        self.train_dataset, self.affinity_probes = hold_out_probes(
            self.train_dataset, self.args.task_affinity_probe_size, self.args.seed
        )
        self.task_affinity = TaskAffinityCallback(self)
        self.add_callback(self.task_affinity)

    # ------------------------------------------------------------------------------------------------ training
    def get_train_dataloader(self) -> DataLoader:
        if not isinstance(self.train_dataset, Mapping) or not self.train_dataset:
            raise ValueError("MTDNNTrainer needs train_dataset as a non-empty dict of task name -> dataset.")
        tasks = dict(self.train_dataset)
        args = self.args
        grouped = str(args.train_sampling_strategy) == "group_by_length"
        self.task_sampler = MultiTaskBatchSampler(
            {name: len(dataset) for name, dataset in tasks.items()},
            batch_size=self._train_batch_size,
            strategy=args.sampling_strategy,
            temperature=args.sampling_temperature,
            num_epochs=max(1, math.ceil(args.num_train_epochs)),
            seed=args.seed,
            drop_last=args.dataloader_drop_last,
            num_replicas=args.world_size,
            lengths=self._task_lengths(tasks) if grouped else None,
            mega_batch_mult=args.group_by_length_mega_batches if grouped else None,
        )
        workers = args.dataloader_num_workers
        dataloader = DataLoader(
            ConcatDataset(list(tasks.values())),
            batch_sampler=self.task_sampler,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=args.dataloader_pin_memory,
            # The Trainer's own loader settings, honoured as `Trainer._get_dataloader` does.
            persistent_workers=args.dataloader_persistent_workers,
            prefetch_factor=args.dataloader_prefetch_factor,
            multiprocessing_context=args.dataloader_multiprocessing_context,
            in_order=args.dataloader_in_order,
            worker_init_fn=partial(seed_worker, num_workers=workers, rank=args.process_index),
        )
        # accelerate deals batch k to rank k % world_size; the sampler emits world_size same-task batches per step
        # and a multiple of world_size batches per epoch, so no rank may pad its last batch from another task.
        even_batches = self.accelerator.even_batches
        self.accelerator.even_batches = False
        try:
            return self.accelerator.prepare(dataloader)
        finally:
            self.accelerator.even_batches = even_batches

    def train(self, resume_from_checkpoint: str | bool | None = None, *args, **kwargs):
        """
        `Trainer.train` as it is (the loop is the Trainer's); it only checks, before any work, that a checkpoint to
        resume from holds the task sampler's state, and remembers it for `TaskSamplerCallback`. The sampler's state
        is the last file a checkpoint gets: without it the checkpoint is incomplete (its save was interrupted) or
        was not written by MTDNNTrainer, and the task order it was trained with cannot be checked.
        """
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No checkpoint-N folder to resume from in {self.args.output_dir!r}.")
        checkpoint = resume_from_checkpoint or None
        if checkpoint is not None and not os.path.isdir(checkpoint):
            raise ValueError(
                f"Cannot resume from {checkpoint!r}: there is no such folder. Give a checkpoint-N folder of an "
                "earlier run (or --resume_from_checkpoint true for the last one in --output_dir)."
            )
        if checkpoint is not None and not os.path.isfile(os.path.join(checkpoint, SAMPLER_STATE_FILE)):
            raise ValueError(
                f"Cannot resume from {checkpoint!r}: it has no {SAMPLER_STATE_FILE}, so it is incomplete (its save "
                "was interrupted) or was not written by MTDNNTrainer, and the task order it was trained with cannot "
                "be checked. Resume from an earlier checkpoint-N folder that has it, or start afresh with --init_from "
                "to keep its weights."
            )
        if checkpoint is not None:
            check_resume_settings(self.model, checkpoint)
        self.resumed_from = checkpoint
        output = super().train(checkpoint, *args, **kwargs)
        self.divergence.raise_if_diverged()
        return output

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test") -> PredictionOutput:
        """
        Under `group_by_length`, predicts in batches of similar lengths too (longest first, so a batch too large for
        memory fails at once), which pads far less, and returns predictions and labels in the dataset's own order.
        """
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TaskProgressCallback):  # `eval_mnli_mm` -> the bar's `eval mnli_mm`
                callback.label = metric_key_prefix.replace("_", " ", 1)
        grouped = str(self.args.train_sampling_strategy) == "group_by_length"
        if not grouped or not hasattr(test_dataset, "select") or len(test_dataset) < 2:
            return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        lengths = self._task_lengths({"predict": test_dataset})["predict"]
        order = np.argsort(-np.asarray(lengths), kind="stable")
        output = super().predict(
            test_dataset.select(order), ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
        )
        restore = np.argsort(order)
        return PredictionOutput(
            predictions=_rows_in_order(output.predictions, restore),
            label_ids=_rows_in_order(output.label_ids, restore),
            metrics=output.metrics,
        )

    @contextmanager
    def _dataset_order(self):
        """
        The Trainer groups evaluation batches by length too under `group_by_length`, with a sampler that reorders
        predictions; `predict` sorts the rows itself and puts them back, so the dataloader reads sequentially.
        """
        strategy = self.args.train_sampling_strategy
        if str(strategy) != "group_by_length":
            yield
            return
        self.args.train_sampling_strategy = "random"  # for evaluation: the Trainer then reads sequentially
        try:
            yield
        finally:
            self.args.train_sampling_strategy = strategy

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        with self._dataset_order():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset) -> DataLoader:
        with self._dataset_order():
            return super().get_test_dataloader(test_dataset)

    def _task_lengths(self, tasks: Mapping) -> dict[str, list[int]]:
        """
        Each example's length for `group_by_length`: the `length_column_name` column where a dataset has it, else the
        tokens of its `input_ids` (for a ranking row, its longest candidate times its candidates: what it pads to).
        """
        column = self.args.length_column_name
        lengths = {}
        for name, dataset in tasks.items():
            if column in dataset.column_names:
                lengths[name] = [int(value) for value in dataset[column]]
                continue
            rows = dataset["input_ids"]
            lengths[name] = [
                max(map(len, ids)) * len(ids) if ids and isinstance(ids[0], list) else len(ids) for ids in rows
            ]
        return lengths

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if isinstance(inputs.get("labels"), Mapping):  # a task group's batch: one encoder pass, every head's loss
            return self._group_loss(model, inputs, return_outputs)
        teacher_logits = inputs.pop("teacher_logits", None)
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]
        if teacher_logits is not None:  # MT-DNN-KD: the soft targets' loss mixed with the hard labels'
            spec = self.accelerator.unwrap_model(model).config.tasks[inputs["task_name"]]
            logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[1]
            weight, temperature = self.args.kd_weight, self.args.kd_temperature
            soft = distillation_loss(logits, teacher_logits, spec, temperature) * spec["loss_weight"]
            loss = (1 - weight) * loss + weight * soft
        if model.training and (self.args.adv_train or self.proximal_model is not None):
            loss = loss + smart_terms(self, model, inputs, outputs)
        if model.training:
            self.divergence.check(loss, inputs["task_name"])
            # summed as tensors: no host sync per step, one per log
            record = self._task_losses.setdefault(inputs["task_name"], [0.0, 0])
            record[0] = record[0] + loss.detach().float()
            record[1] += 1
        return (loss, outputs) if return_outputs else loss

    def _group_loss(self, model, inputs, return_outputs: bool):
        """
        `compute_loss` of a task group's batch (see `mtdnn.training.task_groups.group_loss`): the sum of its heads'
        losses from one encoder pass, plus SMART's terms summed over the heads; logged per head and for the group.
        """
        if "teacher_logits" in inputs:
            raise ValueError(
                f"Task group '{inputs['task_name']}': MT-DNN-KD soft targets are per task; train the group on its "
                "labels (leave it out of --soft_targets)."
            )
        tasks = self.accelerator.unwrap_model(model).config.tasks
        loss, outputs, head_losses, model_inputs = group_loss(model, inputs, tasks)
        if model.training and (self.args.adv_train or self.proximal_model is not None):
            loss = loss + smart_terms(self, model, model_inputs, outputs)
        if model.training:
            self.divergence.check(loss, inputs["task_name"])
            for name, value in [(inputs["task_name"], loss), *head_losses.items()]:
                record = self._task_losses.setdefault(name, [0.0, 0])
                record[0] = record[0] + value.detach().float()
                record[1] += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        self.divergence.raise_if_diverged()
        if "loss" in logs:
            names = []
            if isinstance(self.train_dataset, Mapping):  # each task, each task group and each of its heads
                for name, dataset in self.train_dataset.items():
                    names += [name, *group_heads(dataset)]
                names = sorted(names)
            records = [self._task_losses.get(name, [0.0, 0]) for name in names]
            totals = torch.tensor([[float(total), count] for total, count in records], dtype=torch.float64)
            totals = totals.reshape(-1, 2)
            if self.args.world_size > 1:
                totals = self.accelerator.reduce(totals.to(self.accelerator.device), reduction="sum").cpu()
            for name, (total, count) in zip(names, totals.tolist()):
                if count:
                    logs[f"loss_{name}"] = round(total / count, 4)
            self._task_losses = {}
            if self.task_affinity is not None:  # the running matrix, the same on every rank
                logs.update(self.task_affinity.log_entries())
            if self.args.adv_train:
                skipped = torch.tensor([float(self._adv_skipped)], dtype=torch.float64)  # a sync per log, not step
                if self.args.world_size > 1:
                    skipped = self.accelerator.reduce(skipped.to(self.accelerator.device), reduction="sum").cpu()
                logs["adv_skipped"] = int(skipped.item())
                self._adv_skipped = 0
        super().log(logs, start_time)

    def create_optimizer(self, model=None):
        if str(self.args.optim) == "adamax" and self.optimizer is None:
            self.optimizer_cls_and_kwargs = (
                torch.optim.Adamax,
                {
                    "lr": self.args.learning_rate,
                    "betas": (self.args.adam_beta1, self.args.adam_beta2),
                    "eps": self.args.adam_epsilon,
                },
            )
        optimizer = super().create_optimizer(model)
        head_lr = self.args.head_learning_rate
        if head_lr is None or head_lr == self.args.learning_rate:
            return optimizer
        # The heads' parameters in groups of their own (same weight decay as before), at --head_learning_rate.
        heads = {id(parameter) for parameter in self.accelerator.unwrap_model(model or self.model).heads.parameters()}
        groups = []
        for group in self.optimizer.param_groups:
            for is_head in (False, True):
                parameters = [parameter for parameter in group["params"] if (id(parameter) in heads) == is_head]
                if parameters:
                    groups.append({**group, "params": parameters, "lr": head_lr if is_head else group["lr"]})
        optimizer_cls, kwargs = self.optimizer_cls_and_kwargs or Trainer.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """
        `Trainer.save_model` (model, tokenizer, training arguments) written to a staging folder beside `output_dir`
        that takes its place as a whole once every file is there (see `modeling_mtdnn.saving.atomic_directory`): a
        failed or killed save leaves what `output_dir` held before unchanged, and what the folder holds besides the
        model (results, logs, `checkpoint-N` folders) stays in it.
        """
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        self.divergence.raise_if_diverged()
        broken = [name for name, parameter in self.model.named_parameters() if not torch.isfinite(parameter).all()]
        if broken:
            raise TrainingDivergedError(
                f"Not saving to {output_dir!r}: {len(broken)} weight(s) hold NaN or infinite values ({broken[:3]}), "
                "so training diverged. Try a lower --learning_rate or gradient clipping (--max_grad_norm 1.0)."
            )
        if not self.args.should_save:
            return super().save_model(output_dir, _internal_call)
        with atomic_directory(output_dir) as staging:
            super().save_model(str(staging), _internal_call)

    def _save_checkpoint(self, model, trial) -> None:
        """
        `Trainer._save_checkpoint` with the deletion of older checkpoints (`--save_total_limit`) held back until the
        new checkpoint is complete. The Trainer deletes them at the end of `_save_checkpoint`, before the `on_save`
        callbacks write the Bregman proximal copy and then the task sampler's state (the file that marks a checkpoint
        complete), so a kill in between left no checkpoint to resume from. `TaskSamplerCallback.on_save`, the last of
        those writers, calls [`~MTDNNTrainer._rotate_completed_checkpoints`] once both are written.
        """
        self._rotate_completed_checkpoints()  # one still pending (no TaskSamplerCallback ran): it is complete
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # the Trainer's own rotation finds nothing to do
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        self._rotation_pending = self._get_output_dir(trial=trial)

    def _rotate_completed_checkpoints(self) -> None:
        """
        Deletes the checkpoints beyond `--save_total_limit` (keeping the newest and the best, as the Trainer does)
        once the checkpoint `_save_checkpoint` wrote last is complete; a no-op when no rotation is pending.
        """
        run_dir, self._rotation_pending = getattr(self, "_rotation_pending", None), None
        if run_dir is None or not self.args.should_save:
            return
        rotate_checkpoints(
            output_dir=run_dir,
            save_total_limit=self.args.save_total_limit,
            best_model_checkpoint=self.state.best_model_checkpoint,
            use_mtime=True,
        )

    def create_model_card(self, model_name: str | None = None, **kwargs) -> None:
        """Writes this model's MT-DNN card (not the Trainer's generic one) into `output_dir`, as `push_to_hub` asks."""
        if not self.is_world_process_zero():
            return
        card_data = getattr(self.model, "model_card_data", None) or MTDNNModelCardData()
        if model_name:
            card_data.model_name = model_name
        write_model_card(self.model, self.args.output_dir, card_data, model_id=self.hub_model_id or None)

    # ---------------------------------------------------------------------------------------------- evaluation
    def predictions_of(self, task_name: str, dataset, logits: np.ndarray, **settings) -> Any:
        """
        A task's predictions from its head's logits over `dataset`, in dataset order, as its task type decodes them:
        class ids (classification), scores (regression), per-pair class ids after ranking each question's candidates
        (ranking, which reads the dataset's `group_id`; `positive_label` is the class of a top-ranked candidate), tag
        ids per word (token classification) or each question's answer (span extraction: `n_best_size`,
        `max_answer_length`).
        """
        spec = self.model.config.tasks[task_name]
        return task_type_of(spec).decode(logits, dataset, task_name=task_name, **settings)

    def _score(self, key: str, dataset, logits: np.ndarray) -> dict[str, float]:
        spec = self.eval_specs[key]
        return score_task(
            spec.task_name, self.model.config.tasks[spec.task_name], spec.metric, dataset, logits, **spec.settings
        )

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Evaluates every task's validation set; returns `<prefix>_<key>_<metric>` and `<prefix>_average`."""
        eval_sets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(eval_sets, Mapping) or not eval_sets:
            raise ValueError("MTDNNTrainer.evaluate needs a non-empty dict of evaluation key -> dataset.")
        metrics: dict[str, float] = {}
        per_task: dict[str, dict[str, float]] = {}
        for key, dataset in eval_sets.items():
            output = self.predict(dataset, ignore_keys=ignore_keys, metric_key_prefix=f"{metric_key_prefix}_{key}")
            # predict() gathers every rank's predictions, so each rank scores the whole set alike.
            per_task[key] = self._score(key, dataset, output.predictions)
            metrics.update({f"{metric_key_prefix}_{key}_{name}": value for name, value in per_task[key].items()})
            loss_key = f"{metric_key_prefix}_{key}_loss"
            if loss_key in output.metrics:
                metrics[loss_key] = output.metrics[loss_key]
        metrics[f"{metric_key_prefix}_average"] = average_score(per_task)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
