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
"""MT-DNN configuration: one shared encoder config plus a JSON-able spec per task."""

from __future__ import annotations

import copy
import re
from typing import Any

from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .saving import is_local_path, public_name
from .task_types import TASK_TYPE_CLASSES, TASK_TYPES, check_fraction, check_positive, fail, get_task_type

__all__ = [
    "HEADS",
    "INPUT_KINDS",
    "POOLING_MODES",
    "TASK_SPEC_FIELDS",
    "TASK_TYPES",
    "MTDNNConfig",
    "check_task_name",
    "normalize_task_spec",
]

HEADS = ("linear", "san")
POOLING_MODES = ("auto", "cls", "mean")
INPUT_KINDS = ("single", "pair")

# Fields every task spec has, with their defaults.
_COMMON_DEFAULTS: dict[str, Any] = {"head": "linear", "dropout": 0.1, "loss_weight": 1.0}
# The most SAN reasoning steps: each is a GRU update and a classifier on every forward.
MAX_SAN_STEPS = 100
# Fields of SAN heads, with their defaults.
_SAN_DEFAULTS: dict[str, Any] = {"san_steps": 5, "san_step_dropout": 0.1}
# Every field a task spec takes: the common ones, SAN's, and each task type's own (`TaskType.extra_fields`).
TASK_SPEC_FIELDS = (
    "task_type",
    "num_labels",
    "id2label",
    "inputs",
    *_COMMON_DEFAULTS,
    *_SAN_DEFAULTS,
    *(field for cls in TASK_TYPE_CLASSES.values() for field in cls.extra_fields),
)
_TASK_NAME_PATTERN = re.compile(r"[A-Za-z0-9_\-]+")
# Heads live in an `nn.ModuleDict` keyed by task name: a name that is already an attribute of one (`train`,
# `training`, `forward`, `to`, `keys`, ...) cannot be a key.
_RESERVED_TASK_NAMES = frozenset(dir(nn.ModuleDict()))


def check_task_name(task: Any) -> str:
    """
    Returns `task` if it can name a task (a head module, a checkpoint key prefix, a file name), else raises a
    `ValueError` saying why.
    """
    if not isinstance(task, str) or not _TASK_NAME_PATTERN.fullmatch(task):
        raise ValueError(
            f"Task name {task!r} is not valid: use a non-empty string of letters, digits, '_' and '-' "
            "(it becomes a module name, so no dots, spaces or newlines)."
        )
    if task in _RESERVED_TASK_NAMES:
        raise ValueError(
            f"Task name {task!r} is not valid: it is an attribute of torch's nn.ModuleDict, which holds the heads; "
            f"choose another name, such as '{task}_task'."
        )
    return task


def normalize_task_spec(task: str, spec: Any) -> dict[str, Any]:
    """
    Validates one task spec and returns it complete, with every default filled in.

    Args:
        task (`str`):
            The task's name, used as the key of its head (`heads.<task>`) and in every error message.
        spec (`dict`):
            The task spec. `task_type` is required; see [`MTDNNConfig`] for every field.

    Returns:
        `dict`: a new dict holding only JSON-able values (`id2label` keys are `int` here and strings in JSON).

    Raises:
        `ValueError`: naming the task, the field, the value received and what is allowed.
    """
    check_task_name(task)
    if not isinstance(spec, dict):
        raise ValueError(f"Task '{task}': the spec must be a dict of fields, got {type(spec).__name__} {spec!r}.")
    unknown = sorted(set(spec) - set(TASK_SPEC_FIELDS))
    if unknown:
        raise ValueError(
            f"Task '{task}': unknown field(s) {unknown}; the fields a task spec takes are {list(TASK_SPEC_FIELDS)}."
        )

    if spec.get("task_type") not in TASK_TYPES:
        raise fail(task, "task_type", spec.get("task_type"), f"one of {list(TASK_TYPES)}")
    task_type = get_task_type(spec["task_type"])
    head = spec.get("head", _COMMON_DEFAULTS["head"])
    if head not in HEADS:
        raise fail(task, "head", head, f"one of {list(HEADS)}")
    if head not in task_type.heads:
        raise fail(
            task, "head", head, f"'linear' for task_type '{task_type.name}' (the SAN head is for classification)"
        )

    out: dict[str, Any] = {"task_type": task_type.name}
    num_labels = spec.get("num_labels")
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int)):
        raise fail(task, "num_labels", num_labels, "an integer")
    out |= task_type.complete_labels(task, spec, num_labels)
    out["head"] = head
    # SAN heads read sentence pairs, and so do the types whose inputs are fixed; the others declare theirs (the
    # pipeline checks it) or leave it open.
    inputs = spec.get("inputs", "pair" if head == "san" else task_type.forced_inputs)
    if inputs is not None and inputs not in INPUT_KINDS:
        raise fail(task, "inputs", inputs, f"one of {list(INPUT_KINDS)} or left out")
    task_type.check_inputs(task, inputs)
    out["inputs"] = inputs
    out["dropout"] = check_fraction(task, "dropout", spec.get("dropout", _COMMON_DEFAULTS["dropout"]))
    out["loss_weight"] = check_positive(task, "loss_weight", spec.get("loss_weight", _COMMON_DEFAULTS["loss_weight"]))

    for field, default in _SAN_DEFAULTS.items():
        if head != "san":
            if field in spec:
                raise fail(task, field, spec[field], "left out unless head is 'san'")
            continue
        value = spec.get(field, default)
        if field == "san_steps":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise fail(task, field, value, "an integer >= 1")
            if value > MAX_SAN_STEPS:
                raise fail(task, field, value, f"an integer from 1 to {MAX_SAN_STEPS} (the paper uses 5)")
            out[field] = value
        else:
            out[field] = check_fraction(task, field, value)
    for owner in TASK_TYPE_CLASSES.values():
        for field, default in owner.extra_fields.items():
            if owner.name == task_type.name:
                out[field] = task_type.check_extra_field(task, field, spec.get(field, default))
            elif field in spec:
                raise fail(task, field, spec[field], f"left out unless task_type is '{owner.name}'")
    return out


@strict
class MTDNNConfig(PreTrainedConfig):
    r"""
    Configuration of an [`MTDNNForMultiTask`]: the shared encoder's own config and one spec per task.

    Args:
        encoder_config (`PreTrainedConfig` or `dict`, *optional*):
            The config of the shared Transformer encoder: any transformers encoder config (BERT, RoBERTa,
            DeBERTa-v2, ELECTRA, ...) as an object or its dict (with `model_type`). Defaults to `BertConfig()`.
        tasks (`dict[str, dict]`, *optional*, defaults to `{}`):
            Maps a task name to its spec (kept sorted by name), a dict of:

            - **task_type** (`str`) -- `"classification"` (cross-entropy), `"regression"` (MSE on one output),
              `"ranking"` (one score per candidate; softmax over a question's candidates, NLL of the positive) or
              `"token_classification"` (one class per token, cross-entropy over the labelled tokens: NER) or
              `"span_extraction"` (a start and an end logit per token, cross-entropy of the answer's first and last
              token: SQuAD).
            - **num_labels** (`int`, *optional*) -- number of classes; derived from `id2label` when left out, always
              1 for regression and ranking and 2 (start, end) for span extraction.
            - **id2label** (`dict[int, str]`, *optional*) -- class names for classification and token
              classification; `LABEL_i` by default.
            - **head** (`str`, *optional*, defaults to `"linear"`) -- `"linear"` (dropout + linear on the sentence
              vector, or on every token's vector for token classification) or `"san"` (the stochastic answer
              network, classification only).
            - **inputs** (`str`, *optional*) -- `"single"` (one text) or `"pair"` (two texts, joined by the
              tokenizer); `"pair"` by default for SAN heads and ranking, open (`None`) otherwise. The pipeline refuses
              a pair task called without `text_pair`.
            - **dropout** (`float`, *optional*, defaults to 0.1) -- dropout of the task-specific layer.
            - **loss_weight** (`float`, *optional*, defaults to 1.0) -- factor applied to this task's loss.
            - **san_steps** (`int`, *optional*, defaults to 5) -- SAN reasoning steps K (`head="san"` only).
            - **san_step_dropout** (`float`, *optional*, defaults to 0.1) -- probability of dropping a whole step's
              prediction while training (`head="san"` only).
            - **ranking_gamma** (`float`, *optional*, defaults to 1.0) -- the softmax scale gamma of the ranking
              loss (`task_type="ranking"` only).
            - **tag_scheme** (`str`, *optional*, defaults to `"entities"`) -- `"entities"` (tags of an entity scheme,
              IOB2 / IOB1 / IOBES, grouped into entities) or `"tags"` (any tag per word, such as part of speech)
              (`task_type="token_classification"` only).

            Specs are validated and completed with their defaults when the config is built; a bad spec raises a
            `ValueError` that names the task, the field, the value and what is allowed.
        pooling (`str`, *optional*, defaults to `"auto"`):
            The sentence vector that linear heads read (SAN heads read every token):

            - `"auto"`: the encoder's pooled [CLS] vector where it has a pooler (BERT, RoBERTa: dense + tanh on the
              first token, as in the paper, the authors' code and `BertForSequenceClassification`), else the first
              token's final hidden state.
            - `"cls"`: the first token's final hidden state.
            - `"mean"`: the mean of the final hidden states over the non-padding tokens, for encoders trained with
              mean pooling, such as sentence-transformers models, whose pooler is often untrained.
        encoder_name_or_path (`str`, *optional*):
            The pretrained encoder's Hub id, when it came from the Hub; `None` for a local folder, whose path is never
            stored (a path given here is kept only as `encoder_hint`, its folder's name). Set by
            `MTDNNForMultiTask.from_encoder`.
        encoder_revision (`str`, *optional*):
            The encoder's Hub revision, when one was asked for.
        encoder_fingerprint (`str`, *optional*):
            The pretrained encoder's identity by content: a SHA-256 of its loaded weights (rounded to bfloat16, so
            an fp32 and a bf16 load agree), the same wherever the weights lie. `load_head` compares it.
        encoder_hint (`str`, *optional*):
            A readable name for an encoder loaded from a local folder: the id its own `config.json` records
            (`_name_or_path`, such as `nreimers/MiniLM-L6-H384-uncased`) or else the folder's name. Never a path.
        task_adapters (`dict[str, dict]`, *optional*):
            The tasks that run the encoder with their own LoRA adapter (peft), each with its settings (`r`,
            `lora_alpha`, `lora_dropout`, `target_modules`). Set by `MTDNNForMultiTask.add_task_adapter` and
            `load_task_adapter`; the adapters' weights are part of the model's weights.
        custom_pipelines (`dict`, *optional*):
            Points transformers' `pipeline("mtdnn", ..., trust_remote_code=True)` at `MTDNNPipeline`; set by default.

    Example:

    ```python
    >>> from transformers import BertConfig
    >>> from modeling_mtdnn import MTDNNConfig

    >>> encoder = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    >>> rte = {"task_type": "classification", "id2label": {0: "entailment", 1: "not_entailment"}, "head": "san"}
    >>> config = MTDNNConfig(encoder_config=encoder, tasks={"rte": rte, "stsb": {"task_type": "regression"}})
    >>> config.tasks["rte"]["san_steps"]
    5

    ```
    """

    model_type = "mtdnn"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: PreTrainedConfig | dict | None = None
    tasks: dict | None = None
    pooling: str = "auto"
    encoder_name_or_path: str | None = None
    encoder_revision: str | None = None
    encoder_fingerprint: str | None = None
    encoder_hint: str | None = None
    task_adapters: dict | None = None
    custom_pipelines: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # `pipeline("mtdnn", model=<Hub id>, trust_remote_code=True)` finds MTDNNPipeline in the checkpoint's code.
        if self.custom_pipelines is None:
            self.custom_pipelines = {
                "mtdnn": {"impl": "pipeline_mtdnn.MTDNNPipeline", "pt": ["AutoModel"], "type": "text"}
            }
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling={self.pooling!r} is not supported; choose one of {list(POOLING_MODES)}.")
        # No machine path is kept: a local encoder keeps a name as a hint.
        if is_local_path(self.encoder_name_or_path):
            self.encoder_hint = self.encoder_hint or public_name(self.encoder_name_or_path)
            self.encoder_name_or_path = None
        if isinstance(self.encoder_config, PreTrainedConfig) and is_local_path(self.encoder_config.name_or_path):
            self.encoder_config.name_or_path = self.encoder_name_or_path or ""
        # Tasks are kept sorted by name, the order `config.json` stores them in, so a reload changes nothing.
        self.tasks = {name: normalize_task_spec(name, spec) for name, spec in sorted((self.tasks or {}).items())}
        adapters = self.task_adapters or {}
        if not isinstance(adapters, dict) or not all(isinstance(spec, dict) for spec in adapters.values()):
            raise ValueError(f"task_adapters must map task names to LoRA settings (dicts), got {adapters!r}.")
        unknown = sorted(set(adapters) - set(self.tasks))
        if unknown:
            raise ValueError(
                f"task_adapters names {unknown}, which are not tasks of this config ({sorted(self.tasks)}); an "
                "adapter belongs to a task."
            )
        self.task_adapters = dict(sorted(adapters.items())) or None

    @property
    def hidden_size(self) -> int:
        """The hidden size of the shared encoder, which every head reads."""
        return self.encoder_config.hidden_size

    @property
    def initializer_range(self) -> float:
        return getattr(self.encoder_config, "initializer_range", 0.02)

    def to_dict(self) -> dict[str, Any]:
        # The encoder config may have been loaded from a folder after this config was built: its path stays here.
        output = super().to_dict()
        encoder = output.get("encoder_config")
        if isinstance(encoder, dict) and is_local_path(encoder.get("_name_or_path")):
            encoder["_name_or_path"] = self.encoder_name_or_path or ""
        return output

    def new_task_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The completed spec `add_task` would add under `name`, checked, without adding it."""
        if name in self.tasks:
            raise ValueError(f"Task '{name}' already exists; remove it first or choose another name.")
        return normalize_task_spec(name, copy.deepcopy(spec))

    def add_task(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Validates `spec`, adds it under `name` and returns the completed spec; an existing name is an error."""
        added = self.new_task_spec(name, spec)
        self.tasks = dict(sorted({**self.tasks, name: added}.items()))
        return added

    def get_task(self, name: Any) -> dict[str, Any]:
        """Returns the spec of task `name`, or raises a `ValueError` that lists the known tasks."""
        if not isinstance(name, str) or name not in self.tasks:
            raise ValueError(f"Unknown task_name {name!r}; this model has the tasks {sorted(self.tasks)}.")
        return self.tasks[name]
