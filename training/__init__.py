"""
Multi-task training for MT-DNN, installed as `mtdnn.training`: the command line (`run_mtdnn`, the console command
`mtdnn-train`), task files and the built-in GLUE, SNLI, SciTail, CoNLL-2003 and SQuAD tasks (`tasks/`), data
loading and preparation per input kind (`data_loading`, `prepare_*`, `task_sets`), the task-sampling `Trainer`
(`trainer`, `samplers`, `callbacks`), SMART and MT-DNN-KD (`smart`, `distill`), metrics and the demo's configs.
"""

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

from __future__ import annotations

from .arguments import DataArguments, ModelArguments, MTDNNTrainingArguments
from .collator import MultiTaskDataCollator
from .data_loading import load_raw_split
from .preparation import prepare_split
from .prepare_groups import prepare_group
from .samplers import SAMPLING_STRATEGIES, MultiTaskBatchSampler
from .task_files import TaskDataSpec, load_task_specs
from .task_groups import group_loss
from .task_sets import TaskSets, build_task_sets
from .trainer import EvalSpec, MTDNNTrainer, TrainingDivergedError, end_distributed_run

__all__ = [
    "SAMPLING_STRATEGIES",
    "DataArguments",
    "EvalSpec",
    "MTDNNTrainer",
    "MTDNNTrainingArguments",
    "ModelArguments",
    "MultiTaskBatchSampler",
    "MultiTaskDataCollator",
    "TaskDataSpec",
    "TaskSets",
    "TrainingDivergedError",
    "build_task_sets",
    "end_distributed_run",
    "group_loss",
    "load_raw_split",
    "load_task_specs",
    "prepare_group",
    "prepare_split",
]
