"""
MT-DNN models for transformers: one shared encoder and a head per task, addressed by name.

What a checkpoint needs and ships with itself (transformers copies these files into a saved model for
`trust_remote_code=True`): the config (`configuration_mtdnn`), the model (`modeling_mtdnn`), the heads and SAN
answer module (`heads`), the losses (`losses`), the task types that define what each kind of task is
(`task_types`), decoding of predictions (`decoding`), saving of single heads and the Hub mixin (`saving`,
`hub_mixin`), LoRA task adapters (`adapters`) and the pipeline (`pipeline_mtdnn`). Importing this package
registers the model with `AutoConfig`, `AutoModel` and the `mtdnn` pipeline.
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

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .adapters import default_lora_target_modules
from .configuration_mtdnn import (
    HEADS,
    INPUT_KINDS,
    POOLING_MODES,
    TASK_SPEC_FIELDS,
    MTDNNConfig,
    check_task_name,
    normalize_task_spec,
)
from .heads import HEAD_TYPES, LinearHead, SANHead
from .modeling_mtdnn import MTDNNForMultiTask, MTDNNPreTrainedModel
from .outputs import MTDNNMixedOutput, MTDNNMultiTaskOutput, MTDNNOutput
from .pipeline_mtdnn import PIPELINE_TASK, MTDNNPipeline
from .task_types import LOSS_FUNCTIONS, TASK_TYPES, TaskType, compute_task_loss, get_task_type

__all__ = [
    "HEADS",
    "HEAD_TYPES",
    "INPUT_KINDS",
    "LOSS_FUNCTIONS",
    "TASK_SPEC_FIELDS",
    "TASK_TYPES",
    "LinearHead",
    "MTDNNConfig",
    "MTDNNForMultiTask",
    "MTDNNMixedOutput",
    "MTDNNMultiTaskOutput",
    "MTDNNOutput",
    "MTDNNPipeline",
    "MTDNNPreTrainedModel",
    "PIPELINE_TASK",
    "POOLING_MODES",
    "SANHead",
    "TaskType",
    "check_task_name",
    "compute_task_loss",
    "default_lora_target_modules",
    "get_task_type",
    "normalize_task_spec",
    "register_auto_classes",
]

__version__ = "0.1.0"


def register_auto_classes() -> None:
    """Registers MT-DNN with `AutoConfig`, `AutoModel` and the `mtdnn` pipeline (done on import; safe to repeat)."""
    AutoConfig.register(MTDNNConfig.model_type, MTDNNConfig, exist_ok=True)
    AutoModel.register(MTDNNConfig, MTDNNForMultiTask, exist_ok=True)
    if PIPELINE_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(
            PIPELINE_TASK, pipeline_class=MTDNNPipeline, pt_model=AutoModel, type="text"
        )


register_auto_classes()
