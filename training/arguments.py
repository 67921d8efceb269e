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
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

from modeling_mtdnn import POOLING_MODES

from .samplers import SAMPLING_STRATEGIES

__all__ = ["PAPER_RECIPE", "DataArguments", "MTDNNTrainingArguments", "ModelArguments"]

# The MT-DNN paper's recipe (section 4.2): Adamax, lr 5e-5, batch 32, 5 epochs, linear decay with 10% warm-up,
# gradient norm clipped at 1. Per-task dropout lives in the task files.
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


@dataclass
class DataArguments:
    """Which tasks to train and evaluate, and how to read their data."""

    tasks: str = field(
        default="rte,stsb,cola,sst2",
        metadata={"help": "Comma-separated task names from training/tasks/*.yaml or --task_files."},
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
        metadata={"help": "Keep a seeded random fraction of each training set (domain adaptation: 0.001 .. 1)."},
    )
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every batch to max_seq_length instead of its longest sequence."}
    )

    def __post_init__(self):
        self.task_names = [name.strip() for name in self.tasks.split(",") if name.strip()]
        if not self.task_names:
            raise ValueError(f"--tasks {self.tasks!r} names no task; give e.g. --tasks rte,stsb.")
        if self.train_fraction is not None and not 0 < self.train_fraction <= 1:
            raise ValueError(f"--train_fraction must be in (0, 1], got {self.train_fraction!r}.")
        for name in ("max_train_samples", "max_eval_samples", "max_predict_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value!r}.")


@dataclass
class MTDNNTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus task sampling, the paper's recipe, and `optim="adamax"`."""

    optim: str = field(
        default=TrainingArguments.optim,
        metadata={"help": "The optimizer: 'adamax' (the MT-DNN paper's) or any of transformers' `OptimizerNames`."},
    )
    sampling_strategy: str = field(
        default="proportional",
        metadata={"help": f"How batches of tasks are mixed: one of {list(SAMPLING_STRATEGIES)}."},
    )
    sampling_temperature: float = field(
        default=2.0, metadata={"help": "T of the 'temperature' strategy: P(task) ~ size ** (1 / T)."}
    )
    recipe: str | None = field(
        default=None,
        metadata={
            "help": "'paper': the MT-DNN recipe (Adamax, lr 5e-5, batch 32, 5 epochs, warm-up 0.1, clip 1) "
            "for every argument left at its default."
        },
    )

    def __post_init__(self):
        if self.sampling_strategy not in SAMPLING_STRATEGIES:
            raise ValueError(
                f"--sampling_strategy must be one of {list(SAMPLING_STRATEGIES)}, got {self.sampling_strategy!r}."
            )
        if self.recipe not in (None, "paper"):
            raise ValueError(f"--recipe must be 'paper' or left out, got {self.recipe!r}.")
        if self.recipe == "paper":
            defaults = {f.name: f.default for f in dataclasses.fields(TrainingArguments)}
            for name, value in PAPER_RECIPE.items():
                if getattr(self, name) == defaults[name]:
                    setattr(self, name, value)
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
