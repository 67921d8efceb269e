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
Task adapters: one LoRA adapter (peft) per task on the shared encoder, trained, saved, shared and loaded by task name.

A task with an adapter runs the encoder with its adapter on; a task without one runs the plain shared encoder. An
adapter is saved in peft's own layout (`adapter_config.json`, `adapter_model.safetensors`, keys as `PeftModel` writes
them), beside the task's head (`head_config.json`, `head.safetensors`), since the two were trained together.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import snapshot_download
from safetensors.torch import save_file
from torch import nn

from .saving import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_WEIGHTS_FILE,
    HEAD_CONFIG_FILE,
    HEAD_WEIGHTS_FILE,
    atomic_directory,
    check_local_path,
    read_json,
    read_safetensors,
)

__all__ = ["ADAPTER_CONFIG_FILE", "ADAPTER_WEIGHTS_FILE", "TaskAdapterMixin", "default_lora_target_modules"]

# `PeftModel.save_pretrained` prefixes every key with this; peft strips it again when loading.
_PEFT_PREFIX = "base_model.model."
# The LoRA settings a task adapter takes; the rest of peft's `LoraConfig` keeps its defaults.
LORA_SETTINGS = ("r", "lora_alpha", "lora_dropout", "target_modules")
# The parameter groups LoRA adds to a layer (peft's `LoraLayer.adapter_layer_names`).
_LORA_PARAMETERS = ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B")


def _peft():
    # Imported here, inside `try`, so a checkpoint's remote code loads without peft until a task adapter is used.
    try:
        import peft
    except ImportError:
        raise ImportError(
            "Task adapters need peft, which is not installed: pip install 'mt-dnn[adapters]' (or pip install peft)."
        ) from None
    return peft


def default_lora_target_modules(model_type: str) -> list[str]:
    """
    The layers LoRA adapts by default for an encoder family: peft's own default (`query` and `value` of the attention
    for BERT, RoBERTa, ELECTRA; `query_proj`, `value_proj` for DeBERTa-v2, ...).

    Raises:
        `ValueError`: for a family peft has no default for, naming it and how to choose modules.
    """
    defaults = _peft().utils.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    if model_type not in defaults:
        raise ValueError(
            f"peft has no default LoRA target modules for encoders of type {model_type!r}; name the layers to adapt "
            "with target_modules (--lora_target_modules), for example the attention's query and value projections."
        )
    return list(defaults[model_type])


def _module_matches(name: str, target: str) -> bool:
    """peft's rule for a target given as a name: the module's full name or its last dotted parts."""
    return name == target or name.endswith("." + target)


def _is_lora_key(key: str) -> bool:
    return any(f".{group}." in f".{key}" for group in _LORA_PARAMETERS)


class TaskAdapterMixin:
    """Methods of `MTDNNForMultiTask` that give tasks their own LoRA adapter on the shared encoder."""

    # -------------------------------------------------------------------------------------------- building
    @property
    def task_adapters(self) -> list[str]:
        """The tasks that have a LoRA adapter, sorted by name."""
        return sorted(self.config.task_adapters or {})

    def _lora_layers(self) -> list[tuple[str, nn.Module]]:
        if not self.config.task_adapters and not getattr(self, "_has_lora_layers", False):
            return []
        layer_class = _peft().tuners.tuners_utils.BaseTunerLayer
        return [(name, module) for name, module in self.encoder.named_modules() if isinstance(module, layer_class)]

    def _check_lora_settings(self, task_name: str, settings: dict[str, Any]) -> dict[str, Any]:
        """The LoRA settings completed with their defaults and checked against this encoder."""
        unknown = sorted(set(settings) - set(LORA_SETTINGS))
        if unknown:
            raise ValueError(
                f"Task '{task_name}': LoRA setting(s) {unknown} are not supported; a task adapter takes "
                f"{LORA_SETTINGS}."
            )
        out = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "target_modules": None, **settings}
        r, alpha, dropout = out["r"], out["lora_alpha"], out["lora_dropout"]
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(
                f"Task '{task_name}': LoRA field 'r' must be an int >= 1 (the adapter's rank), got {r!r}."
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < float("inf"):
            raise ValueError(
                f"Task '{task_name}': LoRA field 'lora_alpha' must be a number > 0 (the update is scaled by "
                f"alpha / r), got {alpha!r}."
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(
                f"Task '{task_name}': LoRA field 'lora_dropout' must be a number in [0, 1), got {dropout!r}."
            )
        targets = out["target_modules"]
        model_type = self.config.encoder_config.model_type
        if targets is None:
            targets = default_lora_target_modules(model_type)
        if isinstance(targets, str):
            targets = [part.strip() for part in targets.split(",") if part.strip()]
        if not isinstance(targets, (list, tuple)) or not targets or not all(isinstance(t, str) for t in targets):
            raise ValueError(
                f"Task '{task_name}': LoRA field 'target_modules' must be a list of layer names, got {targets!r}."
            )
        linear = {
            name: module
            for name, module in self.encoder.named_modules()
            if isinstance(module, nn.Linear) and not _is_lora_key(name + ".") and not name.endswith(".base_layer")
        }
        linear |= {name: module for name, module in self._lora_layers()}
        for target in targets:
            if not any(_module_matches(name, target) for name in linear):
                names = sorted({name.rsplit(".", 1)[-1] for name in linear})
                raise ValueError(
                    f"Task '{task_name}': LoRA target module {target!r} is not a linear layer of this encoder "
                    f"({model_type}); its linear layers are named {names}. Pass target_modules with some of these."
                )
        out["target_modules"] = sorted(set(targets))
        out["r"], out["lora_alpha"], out["lora_dropout"] = r, float(alpha), float(dropout)
        return out

    def _lora_config(self, settings: dict[str, Any]):
        peft = _peft()
        return peft.LoraConfig(
            r=settings["r"],
            lora_alpha=settings["lora_alpha"],
            lora_dropout=settings["lora_dropout"],
            target_modules=list(settings["target_modules"]),
            bias="none",
            base_model_name_or_path=self.config.encoder_name_or_path,
            revision=self.config.encoder_revision,
        )

    def _inject_adapter(self, task_name: str, settings: dict[str, Any]) -> None:
        """Adds `task_name`'s LoRA layers to the encoder (peft), leaving every `requires_grad` flag as it was."""
        peft = _peft()
        flags = [(parameter, parameter.requires_grad) for parameter in self.encoder.parameters()]
        with warnings.catch_warnings():  # peft warns that a second adapter joins the first: that is the point here
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            peft.inject_adapter_in_model(self._lora_config(settings), self.encoder, adapter_name=task_name)
        for parameter, flag in flags:  # peft marks only adapters trainable: training decides that, not adding
            parameter.requires_grad_(flag)
        self.encoder.train(self.encoder.training)  # the new dropout layers follow the model's train/eval mode
        self._has_lora_layers = True
        self._active_task_adapter = ...  # unknown: set again on the next forward

    def add_task_adapter(self, task_name: str, **lora_settings: Any) -> dict[str, Any]:
        """
        Gives task `task_name` a fresh LoRA adapter on the shared encoder (peft's `LoraConfig`: `B` starts at zero,
        so the task's outputs are unchanged until it trains). Other tasks keep running the plain encoder.

        Args:
            task_name (`str`): a task of the model, without an adapter yet.
            r (`int`, *optional*, defaults to 8): the adapter's rank.
            lora_alpha (`float`, *optional*, defaults to 16): the update is scaled by `lora_alpha / r`.
            lora_dropout (`float`, *optional*, defaults to 0.1): dropout on the adapter's input.
            target_modules (`list[str]`, *optional*):
                The encoder's linear layers to adapt, by name; peft's default for the encoder family when left out
                (`["query", "value"]` for BERT and RoBERTa).

        Returns:
            `dict`: the adapter's settings, completed (as stored in `config.task_adapters`).

        Raises:
            `ValueError`: for an unknown task, a task that already has an adapter, a bad setting or a target module
            this encoder does not have.

        Example:

        ```python
        >>> import torch
        >>> from transformers import BertConfig
        >>> from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask

        >>> encoder = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
        >>> tasks = {"rte": {"task_type": "classification", "num_labels": 2}, "stsb": {"task_type": "regression"}}
        >>> model = MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks=tasks))
        >>> model.add_task_adapter("rte", r=4)["target_modules"]
        ['query', 'value']
        >>> model.task_adapters
        ['rte']

        ```
        """
        self.config.get_task(task_name)
        if task_name in (self.config.task_adapters or {}):
            raise ValueError(
                f"Task '{task_name}' already has a LoRA adapter; call remove_task_adapter('{task_name}') first to "
                "replace it."
            )
        settings = self._check_lora_settings(task_name, lora_settings)
        self._inject_adapter(task_name, settings)
        self.config.task_adapters = dict(sorted({**(self.config.task_adapters or {}), task_name: settings}.items()))
        return copy.deepcopy(settings)

    def remove_task_adapter(self, task_name: str) -> None:
        """Removes `task_name`'s adapter; the task then runs the plain shared encoder (its head is kept)."""
        if task_name not in (self.config.task_adapters or {}):
            raise ValueError(f"Task {task_name!r} has no LoRA adapter; the tasks with one are {self.task_adapters}.")
        with warnings.catch_warnings():  # peft warns when the active adapter goes; the next forward sets one
            warnings.filterwarnings("ignore", message="Adapter .* was active which is now deleted")
            for name, layer in self._lora_layers():
                if task_name in layer.lora_A:
                    layer.delete_adapter(task_name)
        self.config.task_adapters = {
            name: settings for name, settings in self.config.task_adapters.items() if name != task_name
        }
        if not self.config.task_adapters:  # no adapter left: the encoder gets its plain layers back
            for name, layer in self._lora_layers():
                parent_name, _, child = name.rpartition(".")
                parent = self.encoder.get_submodule(parent_name) if parent_name else self.encoder
                setattr(parent, child, layer.get_base_layer())
            self._has_lora_layers = False
        self._active_task_adapter = ...

    def _use_task_adapter(self, task_name: str | None) -> None:
        """Turns `task_name`'s adapter on (`None`: the plain encoder) for the next passes; `requires_grad` is kept."""
        if getattr(self, "_active_task_adapter", ...) == task_name:
            return
        layers = [layer for _, layer in self._lora_layers()]
        flags = [(parameter, parameter.requires_grad) for layer in layers for parameter in layer.parameters()]
        for layer in layers:
            if task_name is None or task_name not in layer.lora_A:
                layer.enable_adapters(False)
            else:
                layer.set_adapter(task_name)
                layer.enable_adapters(True)
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        self._active_task_adapter = task_name

    def train_adapters_only(self, task_names: list[str]) -> dict[str, int]:
        """
        Freezes the model but for the LoRA adapters and heads of `task_names` (which must have adapters): the
        per-task stage of training with adapters.

        Returns:
            `dict`: `trainable` and `total` parameter counts.
        """
        missing = [name for name in task_names if name not in (self.config.task_adapters or {})]
        if missing:
            raise ValueError(
                f"Task(s) {missing} have no LoRA adapter; add one with add_task_adapter first (the tasks with one are "
                f"{self.task_adapters})."
            )
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        for _, layer in self._lora_layers():
            for group in _LORA_PARAMETERS:
                for name in task_names:
                    if name in getattr(layer, group, {}):
                        getattr(layer, group)[name].requires_grad_(True)
        for name in task_names:
            self.heads[name].requires_grad_(True)
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"trainable": trainable, "total": sum(p.numel() for p in self.parameters())}

    # ----------------------------------------------------------------------------------------- weights
    def _adapter_weights(self, task_name: str) -> dict[str, torch.Tensor]:
        """`task_name`'s adapter weights, keyed as `PeftModel.save_pretrained` keys them (no adapter name)."""
        weights = {}
        for name, layer in self._lora_layers():
            if task_name in layer.lora_A:
                for group in ("lora_A", "lora_B"):
                    weight = getattr(layer, group)[task_name].weight
                    weights[f"{_PEFT_PREFIX}{name}.{group}.weight"] = weight.detach().contiguous().cpu()
        return weights

    def encoder_state_dict(self, task_name: str | None = None) -> dict[str, torch.Tensor]:
        """
        The encoder's weights under its own key names (no LoRA layers), with `task_name`'s adapter merged in when it
        has one (`W + B A * alpha / r`, as peft's `merge_and_unload`), without changing the model.
        """
        state = {}
        for key, value in self.encoder.state_dict().items():
            if not _is_lora_key(key):
                state[key.replace(".base_layer.", ".")] = value
        if task_name is not None and task_name in (self.config.task_adapters or {}):
            with torch.no_grad():
                for name, layer in self._lora_layers():
                    if task_name in layer.lora_A:
                        key = f"{name}.weight"
                        state[key] = state[key] + layer.get_delta_weight(task_name).to(state[key].dtype)
        return state

    # -------------------------------------------------------------------------------------- save and load
    def save_task_adapter(self, task_name: str, save_directory: str | os.PathLike) -> Path:
        """
        Writes a task's adapter in peft's layout (`adapter_config.json`, `adapter_model.safetensors`, which peft's
        `PeftModel.from_pretrained` reads on the plain encoder) together with the task's head and spec
        (`head_config.json`, `head.safetensors`) and a card. A few MB, against a whole encoder for a fine-tuned copy.

        Returns:
            `Path`: the folder written.
        """
        spec = self.config.get_task(task_name)
        if task_name not in (self.config.task_adapters or {}):
            raise ValueError(
                f"Task '{task_name}' has no LoRA adapter (the tasks with one are {self.task_adapters}); save its head "
                "alone with save_head, or add and train an adapter first."
            )
        settings = self.config.task_adapters[task_name]
        with atomic_directory(save_directory) as staging:
            save_file(self._adapter_weights(task_name), staging / ADAPTER_WEIGHTS_FILE, metadata={"format": "pt"})
            self._lora_config(settings).save_pretrained(str(staging))
            self._write_head(task_name, spec, staging, repo_id=Path(save_directory).name, adapter=settings)
        return Path(save_directory)

    def push_task_adapter_to_hub(
        self,
        task_name: str,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
    ):
        """Uploads a task's adapter and head (as `save_task_adapter` writes them); returns the `CommitInfo`."""
        message = commit_message or f"Upload MT-DNN LoRA adapter for task '{task_name}'"
        return self._upload_task_folder(self.save_task_adapter, task_name, repo_id, message, private, token, revision)

    def load_task_adapter(
        self,
        repo_id_or_path: str | os.PathLike,
        task_name: str | None = None,
        revision: str | None = None,
        token: str | None = None,
        allow_other_encoder: bool = False,
    ) -> str:
        """
        Attaches a task adapter saved by [`~TaskAdapterMixin.save_task_adapter`] (a local folder or a Hub repo): the
        adapter and the head trained with it. A new task name adds the task; the name of a task without an adapter
        gives that task the adapter and replaces its head (same task type and labels required).

        Returns:
            `str`: the task name it was attached under.

        Raises:
            `ValueError`: for another encoder or hidden size, another task type or labels, a task that already has
            an adapter, a target module the encoder lacks, or weights that do not fit; the model is left unchanged.
        """

        files = [HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]
        folder = Path(repo_id_or_path)
        if not folder.is_dir():
            check_local_path(repo_id_or_path, "Adapter folder")
            folder = Path(
                snapshot_download(str(repo_id_or_path), revision=revision, token=token, allow_patterns=files)
            )
        absent = [name for name in files if not (folder / name).is_file()]
        if absent:
            raise ValueError(
                f"{str(repo_id_or_path)!r} holds no MT-DNN task adapter: {absent} missing (a task adapter has "
                f"{files}; write them with model.save_task_adapter). A head alone loads with load_head."
            )
        name, spec, head_weights = self._read_head_folder(folder, repo_id_or_path, task_name, allow_other_encoder)
        where = f"Adapter '{name}' from {str(repo_id_or_path)!r}"
        adapter_config = _read_adapter_config(folder / ADAPTER_CONFIG_FILE, where)
        settings = self._check_lora_settings(name, {key: adapter_config[key] for key in LORA_SETTINGS})
        if name in (self.config.task_adapters or {}):
            raise ValueError(
                f"{where}: task '{name}' already has a LoRA adapter; call remove_task_adapter('{name}') first, or "
                "pass another task_name to load it beside the first."
            )
        if name in self.config.tasks:
            mine = self.config.tasks[name]
            for field in ("task_type", "num_labels", "id2label", "head"):
                if mine.get(field) != spec.get(field):
                    raise ValueError(
                        f"{where}: it was trained for a task with {field}={spec.get(field)!r}, but this model's task "
                        f"'{name}' has {field}={mine.get(field)!r}; pass another task_name to load it as a new task."
                    )
        saved = read_safetensors(folder / ADAPTER_WEIGHTS_FILE, where)
        adapter_weights = self._check_adapter_weights(name, settings, saved, where)
        # Everything is checked: the model changes only now.
        if name in self.config.tasks:
            with torch.no_grad():
                self.heads[name].load_state_dict(head_weights)
        else:
            head = self.add_task(name, spec)
            with torch.no_grad():
                head.load_state_dict(head_weights)
        self._inject_adapter(name, settings)
        self.config.task_adapters = dict(sorted({**(self.config.task_adapters or {}), name: settings}.items()))
        loaded = self.encoder.load_state_dict(adapter_weights, strict=False)
        if loaded.unexpected_keys or any(key in adapter_weights for key in loaded.missing_keys):
            raise RuntimeError(f"{where}: weights left unloaded: {loaded.unexpected_keys}")  # checked above
        return name

    def _check_adapter_weights(
        self, task_name: str, settings: dict[str, Any], saved: dict[str, torch.Tensor], where: str
    ) -> dict[str, torch.Tensor]:
        """Saved adapter weights checked against the layers the settings adapt; keyed for the encoder."""
        expected = {}
        for name, module in self.encoder.named_modules():
            if name.endswith(".base_layer") or _is_lora_key(name + "."):
                continue
            if not any(_module_matches(name, target) for target in settings["target_modules"]):
                continue
            base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
            if not isinstance(base, nn.Linear):
                continue
            r = settings["r"]
            expected[f"{name}.lora_A.weight"] = (f"{name}.lora_A.{task_name}.weight", (r, base.in_features))
            expected[f"{name}.lora_B.weight"] = (f"{name}.lora_B.{task_name}.weight", (base.out_features, r))
        keys = {
            key[len(_PEFT_PREFIX) :] if key.startswith(_PEFT_PREFIX) else key: value for key, value in saved.items()
        }
        missing, unexpected = sorted(set(expected) - set(keys)), sorted(set(keys) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"{where}: its weights do not fit its adapter_config.json on this encoder (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}); it was saved from another encoder or its files were mixed up."
            )
        out = {}
        for key, (target_key, shape) in expected.items():
            if tuple(keys[key].shape) != shape:
                raise ValueError(
                    f"{where}: weight {key!r} has shape {tuple(keys[key].shape)}, but r={settings['r']} on this "
                    f"encoder needs {shape}; it was saved from another encoder."
                )
            out[target_key] = keys[key]
        return out


def _read_adapter_config(path: Path, where: str) -> dict[str, Any]:
    config = read_json(path, "Adapter config")
    if not isinstance(config, dict):
        raise ValueError(f"{where}: {str(path)!r} is not a JSON object; save the adapter again.")
    if config.get("peft_type") != "LORA":
        raise ValueError(
            f"{where}: it is a {config.get('peft_type')!r} adapter; MT-DNN task adapters are LoRA adapters "
            "(peft_type 'LORA')."
        )
    absent = [key for key in LORA_SETTINGS if key not in config]
    if absent:
        raise ValueError(f"{where}: adapter_config.json lacks {absent}; save the adapter again.")
    if isinstance(config["target_modules"], str):  # peft also allows a regular expression; ours are names
        raise ValueError(
            f"{where}: target_modules is the pattern {config['target_modules']!r}; MT-DNN task adapters name their "
            "target modules as a list."
        )
    return json.loads(json.dumps(config))
