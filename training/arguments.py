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
"""Arguments of `run_mtdnn.py` as dataclasses for `HfArgumentParser`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

from modeling_mtdnn import POOLING_MODES

from .samplers import SAMPLING_STRATEGIES
from .smart import ADV_NORMS
from .task_affinity import AFFINITY_METHODS

__all__ = ["FINITE_LOSS_CHECKS", "PAPER_RECIPE", "DataArguments", "MTDNNTrainingArguments", "ModelArguments"]

# The MT-DNN paper's recipe (section 4.2): Adamax, lr 5e-5, batch 32, 5 epochs, linear decay with 10% warm-up,
# gradient norm clipped at 1. Per-task dropout lives in the task files.
# The settings of SMART's adversarial regularizer and their defaults: another value needs --adv_train.
_ADV_DEFAULTS = {"adv_weight": 1.0, "adv_noise_scale": 1e-5, "adv_step_size": 1e-5, "adv_steps": 1, "adv_norm": "inf"}
# When a non-finite training loss stops the run (see `MTDNNTrainingArguments.finite_loss_check`).
FINITE_LOSS_CHECKS = ("step", "log")

PAPER_RECIPE = {
    "optim": "adamax",
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 32,
    "num_train_epochs": 5.0,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,  # a float below 1 is a ratio of the total steps
    "max_grad_norm": 1.0,
}


@dataclass
class ModelArguments:
    """Which encoder (or MT-DNN checkpoint) to start from."""

    model_name_or_path: str = field(
        default="bert-base-uncased",
        metadata={"help": "The pretrained encoder (Hub id or local folder) under fresh task heads."},
    )
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "An MT-DNN checkpoint to continue from (per-task fine-tuning, domain adaptation): its encoder and "
            "the heads of the tasks it has; tasks it lacks get fresh heads."
        },
    )
    pooling: str | None = field(
        default=None,
        metadata={
            "help": "The sentence vector of the linear heads: auto (the pooled [CLS] vector where the encoder has a "
            "pooler, as in the paper; the default), cls, or mean (for sentence-transformers encoders such as "
            "all-MiniLM-L6-v2). An --init_from checkpoint keeps its own.",
            "choices": list(POOLING_MODES),
        },
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to cache Hub downloads."})
    lora_r: int | None = field(
        default=None,
        metadata={
            "help": "Train each task of --tasks as a LoRA adapter (peft) of this rank plus its head, the encoder "
            "frozen, instead of fine-tuning everything; the adapters are saved under OUTPUT_DIR/adapters/<task>."
        },
    )
    lora_alpha: float | None = field(
        default=None, metadata={"help": "LoRA's alpha: the update is scaled by alpha / r (default 16)."}
    )
    lora_dropout: float | None = field(
        default=None, metadata={"help": "Dropout on the LoRA adapters' input (default 0.1)."}
    )
    lora_target_modules: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated names of the encoder's linear layers to adapt (default: peft's for the "
            "encoder family, query,value for BERT and RoBERTa)."
        },
    )

    def __post_init__(self):
        given = [
            name for name in ("lora_alpha", "lora_dropout", "lora_target_modules") if getattr(self, name) is not None
        ]
        if self.lora_r is None and given:
            raise ValueError(
                f"--{given[0]} was given without --lora_r; pass --lora_r (the adapters' rank, e.g. 8) to train "
                "LoRA adapters, or leave the LoRA settings out."
            )

    def lora_settings(self) -> dict | None:
        """The task adapters' settings for `MTDNNForMultiTask.add_task_adapter`, or `None` without `--lora_r`."""
        if self.lora_r is None:
            return None
        settings = {"r": self.lora_r}
        for name in ("lora_alpha", "lora_dropout", "target_modules"):
            value = getattr(self, f"lora_{name}" if name == "target_modules" else name)
            if value is not None:
                settings[name] = value
        return settings


@dataclass
class DataArguments:
    """Which tasks to train and evaluate, and how to read their data."""

    tasks: str = field(
        default="rte,stsb,cola,sst2",
        metadata={"help": "Comma-separated task names from mtdnn.training/tasks/*.yaml or --task_files."},
    )
    task_files: list[str] = field(default_factory=list, metadata={"help": "Extra YAML task files (your own tasks)."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "A local copy in the Hub dataset's layout that replaces it (default: $MTDNN_DATA_DIR)."},
    )
    max_seq_length: int = field(default=128, metadata={"help": "Truncation length (a task file may override it)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows per task."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N validation rows per task."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test rows per task."})
    train_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Keep a seeded random fraction of each training set (domain adaptation: 0.001 .. 1). The rows are "
            "shuffled with --seed first (also at 1.0), so with --max_train_samples N it takes a seeded random sample."
        },
    )
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every batch to max_seq_length instead of its longest sequence."}
    )
    soft_targets: str | None = field(
        default=None,
        metadata={
            "help": "MT-DNN-KD: a folder of soft targets written by training/distill.py for (some of) the tasks; "
            "those tasks train on the mix of soft and hard losses (--kd_weight, --kd_temperature)."
        },
    )

    def __post_init__(self):
        if self.max_seq_length < 1:
            raise ValueError(
                f"--max_seq_length must be a positive number of tokens, got {self.max_seq_length!r}; 128 is the "
                "paper's."
            )
        self.task_names = [name.strip() for name in self.tasks.split(",") if name.strip()]
        if not self.task_names:
            raise ValueError(f"--tasks {self.tasks!r} names no task; give e.g. --tasks rte,stsb.")
        if self.train_fraction is not None and not 0 < self.train_fraction <= 1:
            raise ValueError(f"--train_fraction must be in (0, 1], got {self.train_fraction!r}.")
        for name in ("max_train_samples", "max_eval_samples", "max_predict_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value!r}.")


# The Trainer arguments that shape its training data loader and that the multi-task loader cannot honour, with the
# values it can: anything else is refused before training instead of being ignored.
_UNSUPPORTED_LOADER_SETTINGS = {
    "train_sampling_strategy": (
        ("random", "group_by_length"),
        "MTDNNTrainer's task sampler shuffles every task's examples itself (--sampling_strategy picks how tasks mix) "
        "or groups them by length within each task; sequential and rebalanced batches are not implemented for it",
    ),
}
_TRAINER_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainingArguments)}


def _recipe_field(name: str, type_help: str) -> dataclasses.Field:
    default = _TRAINER_DEFAULTS[name]
    return field(
        default=None,
        metadata={"help": f"{type_help} Default: {PAPER_RECIPE[name]} with --recipe paper, else {default}."},
    )


@dataclass
class MTDNNTrainingArguments(TrainingArguments):
    """
    `TrainingArguments` plus task sampling, the paper's recipe, `optim="adamax"` and `overwrite_output_dir`.

    The settings of the paper's recipe default to `None`, which means "not given": `--recipe paper` fills those, and
    without it they take `TrainingArguments`' defaults. A value given explicitly always wins, even if it equals a
    default (`--recipe paper --num_train_epochs 3` trains 3 epochs, `--learning_rate 5e-5` stays 5e-5).
    """

    optim: str | None = _recipe_field(
        "optim", "The optimizer: 'adamax' (the MT-DNN paper's) or any of transformers' `OptimizerNames`."
    )
    learning_rate: float | None = _recipe_field("learning_rate", "The initial learning rate.")
    per_device_train_batch_size: int | None = _recipe_field(
        "per_device_train_batch_size", "The batch size per device for training."
    )
    num_train_epochs: float | None = _recipe_field("num_train_epochs", "Total number of training epochs.")
    lr_scheduler_type: str | None = _recipe_field("lr_scheduler_type", "The learning rate schedule.")
    warmup_steps: float | None = _recipe_field(
        "warmup_steps", "Warm-up steps (an int), or a ratio of the total steps (a float below 1)."
    )
    max_grad_norm: float | None = _recipe_field("max_grad_norm", "Gradient norm clipping (0 disables it).")
    sampling_strategy: str = field(
        default="proportional",
        metadata={"help": f"How batches of tasks are mixed: one of {list(SAMPLING_STRATEGIES)}."},
    )
    sampling_temperature: float = field(
        default=2.0, metadata={"help": "T of the 'temperature' strategy: P(task) ~ size ** (1 / T)."}
    )
    adv_train: bool = field(
        default=False,
        metadata={
            "help": "SMART: add the smoothness-inducing adversarial regularizer (a perturbation of the embedding "
            "layer's output climbing the divergence between perturbed and clean predictions)."
        },
    )
    adv_weight: float = field(
        default=1.0, metadata={"help": "SMART: the regularizer's weight (a task file's adv_weight overrides it)."}
    )
    adv_noise_scale: float = field(default=1e-5, metadata={"help": "SMART: the std of the initial perturbation."})
    adv_step_size: float = field(default=1e-5, metadata={"help": "SMART: the step of each ascent step."})
    adv_steps: int = field(default=1, metadata={"help": "SMART: the number of ascent steps."})
    adv_norm: str = field(
        default="inf", metadata={"help": "SMART: the per-token norm the perturbation is normalised in: inf or l2."}
    )
    bregman_weight: float = field(
        default=0.0,
        metadata={
            "help": "SMART: the weight of the Bregman proximal term (0 turns it off): the divergence between the "
            "model's predictions and those of a slowly updated copy of it."
        },
    )
    bregman_momentum: float = field(
        default=0.99, metadata={"help": "SMART: the proximal copy moves as m * copy + (1 - m) * model each step."}
    )
    kd_weight: float = field(
        default=0.5,
        metadata={"help": "MT-DNN-KD: the soft-target loss's share, (1 - w) * hard + w * soft (with --soft_targets)."},
    )
    kd_temperature: float = field(
        default=1.0, metadata={"help": "MT-DNN-KD: the temperature T of the soft targets and the student."}
    )
    head_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "The learning rate of the task heads (default: --learning_rate, as in the paper); the encoder "
            "keeps --learning_rate. Fresh heads, SAN's GRU above all, may want more. Same warm-up and decay."
        },
    )
    group_by_length_mega_batches: int | None = field(
        default=None,
        metadata={
            "help": "With --train_sampling_strategy group_by_length: the batches of a length group (mega-batch) "
            "within each task. Default: transformers' rule per task, min(task examples // (4 x batch), 50)."
        },
    )
    recipe: str | None = field(
        default=None,
        metadata={
            "help": "'paper': the MT-DNN recipe (Adamax, lr 5e-5, batch 32, 5 epochs, warm-up 0.1, clip 1) "
            "for every one of these arguments not given."
        },
    )
    finite_loss_check: str = field(
        default="step",
        metadata={
            "help": "When a non-finite training loss stops the run: 'step' (at once, before its backward pass: no "
            "weight ever takes it, for one host-device sync per step) or 'log' (a flag kept on the device, read at "
            "each logging step and at the end: no sync per step, but the weights may have moved since; a model "
            "with non-finite weights is still never saved)."
        },
    )
    logging_nan_inf_filter: bool = field(
        default=False,
        metadata={
            "help": "The Trainer's filter of non-finite losses out of the logged loss. Off by default: a non-finite "
            "loss stops an MT-DNN run (--finite_loss_check), so the filter would only cost a sync per step."
        },
    )
    task_affinity_steps: int | None = field(
        default=None,
        metadata={
            "help": "Measure task affinity every N optimizer steps (off when left out): how a step on each task "
            "changes each other task's loss on probe rows held back from training; logged (affinity/<i>-><j>), kept "
            "in checkpoints, and written as task_affinity.json and .png, which the model card shows."
        },
    )
    task_affinity_probe_size: int = field(
        default=8,
        metadata={
            "help": "With --task_affinity_steps: the rows of each task held back from training (drawn with --seed) "
            "as its probe batch."
        },
    )
    task_affinity_method: str = field(
        default="cosine",
        metadata={
            "help": "With --task_affinity_steps: 'cosine' (of the tasks' gradients on the shared encoder: one "
            "backward pass per task) or 'lookahead' (Fifty et al. 2021: 1 - L_j after an SGD step on task i over "
            "L_j before; tasks squared forward passes more).",
            "choices": list(AFFINITY_METHODS),
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into an --output_dir that already holds a model, results or checkpoints (its results "
            "files are then replaced, not merged); without it such a folder is refused before any work."
        },
    )

    def _check_number(self, name: str, allowed: str, test) -> None:
        """Refuses a setting that is not a finite number passing `test`, naming the flag, the rule and the value."""
        value = getattr(self, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not test(value)
        ):
            raise ValueError(f"--{name} must be {allowed}, got {value!r}.")

    def _check_smart_settings(self) -> None:
        number = self._check_number
        number("adv_weight", "a finite number >= 0", lambda v: v >= 0)
        number("adv_noise_scale", "a finite number >= 0 (the initial noise's std)", lambda v: v >= 0)
        number("adv_step_size", "a finite number > 0", lambda v: v > 0)
        number("bregman_weight", "a finite number >= 0 (0 turns the proximal term off)", lambda v: v >= 0)
        number("bregman_momentum", "in [0, 1) (1 would never move the proximal copy)", lambda v: 0 <= v < 1)
        steps = self.adv_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(
                f"--adv_steps must be an int >= 1 (ascent steps of the perturbation), got {steps!r}"
                + ("; leave --adv_train out to train without the regularizer." if self.adv_train else ".")
            )
        if self.adv_norm not in ADV_NORMS:
            raise ValueError(f"--adv_norm must be one of {list(ADV_NORMS)}, got {self.adv_norm!r}.")
        changed = [name for name, default in _ADV_DEFAULTS.items() if getattr(self, name) != default]
        if changed and not self.adv_train:
            raise ValueError(
                f"--{changed[0]} {getattr(self, changed[0])!r} was given without --adv_train; pass --adv_train to "
                "train with SMART's adversarial regularizer, or leave the adv_* settings out."
            )

    def _check_affinity_settings(self) -> None:
        steps, size = self.task_affinity_steps, self.task_affinity_probe_size
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(
                f"--task_affinity_steps must be a positive int (measure every N optimizer steps), got {steps!r}; "
                "leave it out to train without measuring task affinity."
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"--task_affinity_probe_size must be a positive int (rows per task), got {size!r}.")
        if self.task_affinity_method not in AFFINITY_METHODS:
            raise ValueError(
                f"--task_affinity_method must be one of {list(AFFINITY_METHODS)}, got {self.task_affinity_method!r}."
            )
        changed = [
            name
            for name, default in (("task_affinity_probe_size", 8), ("task_affinity_method", "cosine"))
            if getattr(self, name) != default
        ]
        if changed and steps is None:
            raise ValueError(
                f"--{changed[0]} {getattr(self, changed[0])!r} was given without --task_affinity_steps; pass "
                "--task_affinity_steps N to measure task affinity every N steps, or leave the task_affinity_* "
                "settings out."
            )

    def __post_init__(self):
        if self.sampling_strategy not in SAMPLING_STRATEGIES:
            raise ValueError(
                f"--sampling_strategy must be one of {list(SAMPLING_STRATEGIES)}, got {self.sampling_strategy!r}."
            )
        temperature = self.sampling_temperature
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not 0 < temperature < math.inf
        ):
            raise ValueError(
                f"--sampling_temperature must be a finite number > 0 (1 is proportional, larger is flatter), got "
                f"{temperature!r}."
            )
        if self.finite_loss_check not in FINITE_LOSS_CHECKS:
            raise ValueError(
                f"--finite_loss_check must be one of {list(FINITE_LOSS_CHECKS)}, got {self.finite_loss_check!r}."
            )
        self._check_smart_settings()
        self._check_affinity_settings()
        self._check_number("kd_weight", "in [0, 1] (the soft loss's share)", lambda v: 0 <= v <= 1)
        self._check_number("kd_temperature", "a finite number > 0", lambda v: v > 0)
        if self.head_learning_rate is not None:
            self._check_number("head_learning_rate", "a finite number > 0", lambda v: v > 0)
        mega_batches = self.group_by_length_mega_batches
        if mega_batches is not None and (
            isinstance(mega_batches, bool) or not isinstance(mega_batches, int) or mega_batches < 1
        ):
            raise ValueError(
                f"--group_by_length_mega_batches must be an int >= 1 (batches per length group), got {mega_batches!r}."
            )
        if self.recipe not in (None, "paper"):
            raise ValueError(f"--recipe must be 'paper' or left out, got {self.recipe!r}.")
        for name in PAPER_RECIPE:
            if getattr(self, name) is None:  # not given
                setattr(self, name, PAPER_RECIPE[name] if self.recipe == "paper" else _TRAINER_DEFAULTS[name])
        for name, (allowed, reason) in _UNSUPPORTED_LOADER_SETTINGS.items():
            value = str(getattr(self, name))
            if value not in allowed:
                raise ValueError(f"--{name} {value} is not supported: {reason}. Use one of {list(allowed)}.")
        # Pinned memory only helps a GPU; on CPU torch warns about it on every data loader.
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False
        # Only the batch's task head gets gradients at each step: DDP must expect unused parameters.
        if self.ddp_find_unused_parameters is None:
            self.ddp_find_unused_parameters = True
        # transformers has no Adamax among its optimizers; MTDNNTrainer builds torch.optim.Adamax for it.
        adamax = str(self.optim) == "adamax"
        if adamax:
            self.optim = "adamw_torch"
        super().__post_init__()
        if adamax:
            self.optim = "adamax"
        config = self.accelerator_config
        if getattr(config, "split_batches", False) or getattr(config, "dispatch_batches", None):
            raise ValueError(
                "accelerator_config split_batches=True / dispatch_batches=True is not supported: MTDNNTrainer's "
                "sampler hands each rank whole batches of the same task at every step. Leave both unset."
            )
