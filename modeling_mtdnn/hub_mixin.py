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
"""One task head on its own: save, push, load, and export as a plain transformers model."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import HfApi, ModelCard, ModelCardData, snapshot_download
from safetensors.torch import save_file
from torch import nn
from transformers import (
    PreTrainedModel,
)

from .configuration_mtdnn import normalize_task_spec
from .heads import build_head
from .saving import (
    ADAPTER_CONFIG_FILE,
    HEAD_CONFIG_FILE,
    HEAD_WEIGHTS_FILE,
    atomic_directory,
    check_local_path,
    fingerprint_weights,
    public_name,
    read_json,
    read_safetensors,
)
from .task_types import task_type_of

__all__ = ["HEAD_CONFIG_FILE", "HEAD_WEIGHTS_FILE", "TaskHeadHubMixin"]


_HEAD_CARD = """---
{{ card_data }}
---

# MT-DNN task head: {{ task_name }}

A {{ spec.task_type }} head (`{{ spec.head }}`) of an [MT-DNN](https://arxiv.org/abs/1901.11504) model, alone: its
weights (`head.safetensors`, {{ size }}) and its task spec (`head_config.json`). It was trained on top of the
encoder {% if encoder.hub_id %}[{{ encoder.hub_id }}](https://huggingface.co/{{ encoder.hub_id }})
{%- if encoder.revision %} at revision `{{ encoder.revision }}`{% endif %}
{%- else %}`{{ encoder.hint or encoder.model_type }}` (a local copy){% endif %} (hidden size
{{ encoder.hidden_size }}), with the encoder's weights as they were when the head was saved (fingerprint
`{{ (encoder.fingerprint or "unknown")[:19] }}`), and only fits an MT-DNN model whose encoder has those weights:
`load_head` compares the fingerprint, wherever the weights were loaded from.
{%- if encoder.base_fingerprint and encoder.base_fingerprint != encoder.fingerprint %} Training changed the encoder
(the pretrained one is `{{ encoder.base_fingerprint[:19] }}`): load the head onto the trained MT-DNN model it was
saved from, not onto the pretrained encoder, where it would predict at chance.
{%- elif encoder.base_fingerprint %} The encoder was not changed by training (frozen, or the head trained with a LoRA
adapter): the head fits the pretrained encoder itself.
{%- endif %}
{% if labels %}
Labels: {{ labels }}.
{% endif %}
```python
from transformers import AutoModel

model = AutoModel.from_pretrained("path/to/the/mt-dnn/model", trust_remote_code=True)
model.load_head("{{ repo_id }}")          # adds the task '{{ task_name }}'
model(**inputs, task_name="{{ task_name }}").logits
```
"""


_ADAPTER_CARD = """---
{{ card_data }}
---

# MT-DNN task adapter: {{ task_name }}

A LoRA adapter (rank {{ adapter.r }}, alpha {{ adapter.lora_alpha }}, on `{{ adapter.target_modules | join("`, `") }}`)
of the shared encoder of an [MT-DNN](https://arxiv.org/abs/1901.11504) model, with the {{ spec.task_type }} head
(`{{ spec.head }}`, {{ size }}) trained together with it. The adapter is in peft's layout (`adapter_config.json`,
`adapter_model.safetensors`); the head is `head.safetensors` with its spec in `head_config.json`. It was trained on
the encoder {% if encoder.hub_id %}[{{ encoder.hub_id }}](https://huggingface.co/{{ encoder.hub_id }})
{%- else %}`{{ encoder.hint or encoder.model_type }}` (a local copy){% endif %} (weights fingerprint
`{{ (encoder.fingerprint or "unknown")[:19] }}`) and only fits a model on that encoder.
{% if labels %}
Labels: {{ labels }}.
{% endif %}
```python
from transformers import AutoModel

model = AutoModel.from_pretrained("path/to/the/mt-dnn/model", trust_remote_code=True)
model.load_task_adapter("{{ repo_id }}")  # the task '{{ task_name }}' runs with its adapter, the others without
model(**inputs, task_name="{{ task_name }}").logits
```
"""


# Identity fields a head records, with the types they must have (`None` allowed for all but the last two).
_IDENTITY_FIELDS = {
    "hub_id": str,
    "revision": str,
    "fingerprint": str,
    "base_fingerprint": str,
    "hint": str,
    "model_type": str,
    "hidden_size": int,
}


def _read_identity(encoder: Any, config_file: str, lenient: bool) -> dict[str, Any]:
    """
    The encoder identity of a `head_config.json`, checked.
    """
    if not isinstance(encoder, dict):
        raise ValueError(f"Head config {config_file!r}: field 'encoder' must be a dict, got {encoder!r}.")
    identity = dict(encoder)
    unknown = sorted(set(identity) - set(_IDENTITY_FIELDS) - {"pooling"})
    if unknown and not lenient:
        raise ValueError(
            f"Head config {config_file!r}: field(s) {['encoder.' + field for field in unknown]} are not fields of a "
            f"head's encoder identity ({', '.join(list(_IDENTITY_FIELDS) + ['pooling'])}). Save the head again from "
            "its model, or pass allow_other_encoder=True to attach it anyway."
        )
    for field, kind in _IDENTITY_FIELDS.items():
        value = identity.get(field)
        required = field in ("model_type", "hidden_size")
        malformed = (value is None and required) or (
            value is not None and (not isinstance(value, kind) or isinstance(value, bool))
        )
        if field.endswith("fingerprint") and isinstance(value, str) and not value.startswith("sha256:"):
            malformed = True
        if malformed and (required or not lenient):
            raise ValueError(
                f"Head config {config_file!r}: field 'encoder.{field}' must be "
                f"{'a ' + kind.__name__ if required else 'a ' + kind.__name__ + ' or null'}"
                f"{' starting with sha256:' if field.endswith('fingerprint') else ''}, got {value!r}. Save the head "
                "again from its model, or pass allow_other_encoder=True to attach it anyway."
            )
        if malformed:
            identity[field] = None
    return identity


def _same_encoder(saved: dict[str, Any], mine: dict[str, Any]) -> bool:
    """
    Whether a saved head fits this model's encoder: by the weights' fingerprint when both have one (wherever the
    weights were loaded from), else by Hub id (and revision when both name one), else by the model type and the
    readable hint, as far as either side knows.
    """
    if saved["model_type"] != mine["model_type"]:
        return False
    if saved.get("fingerprint") and mine.get("fingerprint"):
        return saved["fingerprint"] == mine["fingerprint"]
    if saved.get("hub_id") and mine.get("hub_id"):
        revisions = saved.get("revision"), mine.get("revision")
        return saved["hub_id"] == mine["hub_id"] and (None in revisions or revisions[0] == revisions[1])
    names = [public_name(side.get("hub_id") or side.get("hint")) for side in (saved, mine)]
    return None in names or names[0] == names[1]


def _describe(identity: dict[str, Any]) -> str:
    name = identity.get("hub_id") or identity.get("hint") or identity.get("model_type")
    fingerprint = identity.get("fingerprint")
    return f"{name!r}" + (f" (weights {fingerprint[:19]}...)" if fingerprint else "")


class TaskHeadHubMixin:
    """Methods of `MTDNNForMultiTask` that move one task head on its own, or export it as a plain model."""

    # --------------------------------------------------------------------------------------- single heads
    def _encoder_identity(self) -> dict[str, Any]:
        """
        What a saved head records of the encoder it was trained on (no machine path): its weights as they are now
        (`fingerprint`: a head trained with the encoder fits those weights, not the pretrained ones they started
        from) and the pretrained encoder they came from (`base_fingerprint`, Hub id, hint).
        """
        return {
            "hub_id": self.config.encoder_name_or_path,
            "revision": self.config.encoder_revision,
            "fingerprint": fingerprint_weights(self.encoder_state_dict()),  # LoRA layers apart: the base weights
            "base_fingerprint": self.config.encoder_fingerprint,
            "hint": self.config.encoder_hint,
            "model_type": self.config.encoder_config.model_type,
            "hidden_size": self.config.hidden_size,
            "pooling": self.config.pooling,
        }

    def save_head(self, task_name: str, save_directory: str | os.PathLike) -> Path:
        """
        Writes one task's head as a small repo: `head.safetensors` (its weights), `head_config.json` (its task spec
        with labels, and the encoder it was trained with by name and revision) and a `README.md` card.

        Returns:
            `Path`: the folder written.
        """
        spec = self.config.get_task(task_name)
        if task_name in (self.config.task_adapters or {}):
            raise ValueError(
                f"Task '{task_name}' has a LoRA adapter, and its head gives wrong outputs without it; save both with "
                f"save_task_adapter('{task_name}', ...)."
            )
        with atomic_directory(save_directory) as staging:
            self._write_head(task_name, spec, staging, repo_id=Path(save_directory).name)
        return Path(save_directory)

    def _write_head(
        self, task_name: str, spec: dict[str, Any], folder: Path, repo_id: str, adapter: dict[str, Any] | None = None
    ) -> None:
        weights = {key: value.detach().contiguous().cpu() for key, value in self.heads[task_name].state_dict().items()}
        save_file(weights, folder / HEAD_WEIGHTS_FILE, metadata={"format": "pt"})
        head_config = {"task_name": task_name, "spec": spec, "encoder": self._encoder_identity()}
        (folder / HEAD_CONFIG_FILE).write_text(json.dumps(head_config, indent=2, sort_keys=True) + "\n")
        size = sum(value.numel() * value.element_size() for value in weights.values())
        labels = ", ".join(spec["id2label"].values()) if "id2label" in spec else ""
        metadata = ModelCardData(
            library_name="peft" if adapter else "transformers",
            tags=["mt-dnn", "mt-dnn-head", spec["task_type"]] + (["lora", "mt-dnn-adapter"] if adapter else []),
            base_model=self.config.encoder_name_or_path,
        )
        card = ModelCard.from_template(
            metadata,
            template_str=_ADAPTER_CARD if adapter else _HEAD_CARD,
            adapter=adapter,
            task_name=task_name,
            spec=spec,
            encoder=head_config["encoder"],
            size=f"{size / 1024:.1f} KiB",
            labels=labels,
            repo_id=repo_id,
        )
        card.save(folder / "README.md")

    def push_head_to_hub(
        self,
        task_name: str,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
    ):
        """
        Uploads one task's head (see [`~TaskHeadHubMixin.save_head`]) to the Hub repo `repo_id`, creating it if
        needed; costs kilobytes to megabytes, not a whole encoder. Returns the upload's `CommitInfo`.
        """
        message = commit_message or f"Upload MT-DNN head for task '{task_name}'"
        return self._upload_task_folder(self.save_head, task_name, repo_id, message, private, token, revision)

    def _upload_task_folder(self, save, task_name, repo_id, commit_message, private, token, revision):
        """Creates the Hub repo if needed and uploads what `save(task_name, folder)` writes, in one commit."""
        self.config.get_task(task_name)
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            save(task_name, folder)
            return api.upload_folder(
                repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=revision
            )

    def load_head(
        self,
        repo_id_or_path: str | os.PathLike,
        task_name: str | None = None,
        revision: str | None = None,
        token: str | None = None,
        allow_other_encoder: bool = False,
    ) -> str:
        """
        Attaches a head saved by [`~TaskHeadHubMixin.save_head`] (a local folder or a Hub repo) as a task of this
        model; the encoder and the other heads are untouched.

        Args:
            repo_id_or_path (`str` or `os.PathLike`): the head's folder or Hub repo id.
            task_name (`str`, *optional*): the name to attach it under; the saved task name by default.
            revision, token: for a Hub repo.
            allow_other_encoder (`bool`, *optional*, defaults to `False`):
                Attach a head trained on another encoder of the same hidden size (its outputs are then unreliable).

        Returns:
            `str`: the task name it was attached under.

        Raises:
            `ValueError`: when the hidden size or the encoder differ, the name is taken, or the weights do not fit
            the spec.
        """
        folder = Path(repo_id_or_path)
        if not folder.is_dir():
            check_local_path(repo_id_or_path, "Head folder")
            folder = Path(
                snapshot_download(
                    str(repo_id_or_path),
                    revision=revision,
                    token=token,
                    allow_patterns=[HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ADAPTER_CONFIG_FILE],
                )
            )
        if (folder / ADAPTER_CONFIG_FILE).is_file():
            raise ValueError(
                f"{str(repo_id_or_path)!r} holds a task adapter: its head was trained with a LoRA adapter on the "
                "encoder and gives wrong outputs without it. Load both with model.load_task_adapter."
            )
        name, spec, weights = self._read_head_folder(folder, repo_id_or_path, task_name, allow_other_encoder)
        if name in self.config.tasks:
            raise ValueError(f"Task '{name}' already exists; remove_task('{name}') first or pass another task_name.")
        head = self.add_task(name, spec)
        with torch.no_grad():
            head.load_state_dict(weights)
        return name

    def _read_head_folder(
        self, folder: Path, repo_id_or_path: str | os.PathLike, task_name: str | None, allow_other_encoder: bool
    ) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
        """A saved head's task name, spec and weights, checked against this model's encoder (the model unchanged)."""
        if not (folder / HEAD_CONFIG_FILE).is_file() or not (folder / HEAD_WEIGHTS_FILE).is_file():
            raise ValueError(
                f"{str(repo_id_or_path)!r} holds no MT-DNN head: {HEAD_CONFIG_FILE} and {HEAD_WEIGHTS_FILE} are "
                "needed (write them with model.save_head)."
            )
        head_config = read_json(folder / HEAD_CONFIG_FILE, "Head config")
        config_file = str(folder / HEAD_CONFIG_FILE)
        if not isinstance(head_config, dict) or not {"task_name", "spec", "encoder"} <= set(head_config):
            raise ValueError(
                f"Head config {config_file!r} lacks 'task_name', 'spec' or 'encoder'; it was not written by "
                "save_head. Save the head again."
            )
        name = task_name or head_config["task_name"]
        saved, mine = (
            _read_identity(head_config["encoder"], config_file, allow_other_encoder),
            self._encoder_identity(),
        )
        if saved["hidden_size"] != mine["hidden_size"]:
            raise ValueError(
                f"Head '{name}' from {str(repo_id_or_path)!r} reads hidden size {saved['hidden_size']}, but this "
                f"model's encoder has {mine['hidden_size']}; it cannot be attached."
            )
        if not _same_encoder(saved, mine) and not allow_other_encoder:
            raise ValueError(
                f"Head '{name}' from {str(repo_id_or_path)!r} was trained on the encoder {_describe(saved)}, but this "
                f"model's is {_describe(mine)}; pass allow_other_encoder=True to attach it anyway."
            )
        spec = normalize_task_spec(name, copy.deepcopy(head_config["spec"]))
        saved_pooling = saved.get("pooling")
        if spec["head"] == "linear" and saved_pooling != mine["pooling"]:
            raise ValueError(
                f"Head '{name}' from {str(repo_id_or_path)!r} was trained on pooling={saved_pooling!r}, but this "
                f"model pools with {mine['pooling']!r}; build the model with pooling={saved_pooling!r} to attach it."
            )
        weights = read_safetensors(folder / HEAD_WEIGHTS_FILE, f"Head '{name}'")
        # The head is built and filled on its own; the model changes only once nothing can fail any more.
        probe = build_head(name, self.config.hidden_size, spec)
        try:
            probe.load_state_dict(weights)
        except RuntimeError as error:
            raise ValueError(
                f"Head '{name}' from {str(repo_id_or_path)!r}: its weights do not fit its spec ({error})."
            ) from None
        return name, spec, weights

    # --------------------------------------------------------------------------------------------- export
    def _export_token_task(self, task_name: str, spec: dict[str, Any]) -> PreTrainedModel:
        """Token and span heads: one linear layer on every token's state, in transformers' own classes."""
        task_type = task_type_of(spec)
        encoder_config = copy.deepcopy(self.config.encoder_config)
        task_type.configure_export(encoder_config, spec)
        exported = task_type.export_auto_class().from_config(encoder_config)
        classifier = getattr(exported, task_type.export_output_layer, None)
        base = getattr(exported, exported.base_model_prefix)
        if not isinstance(classifier, nn.Linear):
            raise ValueError(
                f"Task '{task_name}': exporting needs a transformers model whose output layer is one linear layer on "
                f"the token states, as MT-DNN's head; {type(exported).__name__} has {type(classifier).__name__}."
            )
        state = self.encoder_state_dict(task_name)  # the task's LoRA adapter merged in, if it has one
        if getattr(base, "pooler", None) is None:  # token models leave the pooler out (BERT: add_pooling_layer=False)
            state = {key: value for key, value in state.items() if not key.startswith("pooler.")}
        base.load_state_dict(state)
        classifier.load_state_dict(self.heads[task_name].classifier.state_dict())
        return exported.to(dtype=next(self.parameters()).dtype).eval()

    def export_task(self, task_name: str) -> PreTrainedModel:
        """
        One task as a plain transformers model that loads with no remote code and gives the same logits:
        `AutoModelForSequenceClassification` for linear classification and regression heads (with `id2label`),
        `AutoModelForMultipleChoice` for ranking heads (inputs `(groups, candidates, seq_len)`),
        `AutoModelForTokenClassification` for token-classification heads and `AutoModelForQuestionAnswering` for
        span-extraction heads (any encoder: both are a linear layer on every token's state, so transformers'
        `token-classification` and `question-answering` pipelines run them). A task with a LoRA
        adapter is exported with the adapter merged into the encoder's weights.

        Raises:
            `ValueError`: for SAN heads (a multi-step GRU reader that no transformers class has), and for encoders
            whose transformers classifier differs from MT-DNN's linear head on the pooled vector (only BERT- and
            RoBERTa-style encoders with a pooler, and `pooling="auto"`, can be exported).
        """
        spec = self.config.get_task(task_name)
        if spec["head"] == "san":
            raise ValueError(
                f"Task '{task_name}' has a SAN head, which no plain transformers model class implements; only linear "
                "classification, regression and ranking heads can be exported. Keep the MT-DNN model for this task."
            )
        task_type = task_type_of(spec)
        if task_type.per_token:
            return self._export_token_task(task_name, spec)
        if self.config.pooling != "auto":
            raise ValueError(
                f"Task '{task_name}': this model pools with pooling={self.config.pooling!r}, but transformers' "
                "classification models read the pooled [CLS] vector (pooling='auto'); only heads trained with "
                "pooling='auto' can be exported. Keep the MT-DNN model for this task."
            )
        encoder_config = copy.deepcopy(self.config.encoder_config)
        task_type.configure_export(encoder_config, spec)
        exported = task_type.export_auto_class().from_config(encoder_config)
        base = getattr(exported, exported.base_model_prefix)
        head = self.heads[task_name]
        encoder_state = self.encoder_state_dict(task_name)  # the task's LoRA adapter merged in, if it has one
        classifier = getattr(exported, "classifier", None)
        has_pooler = any(key.startswith("pooler.") for key in encoder_state)
        if isinstance(classifier, nn.Linear) and has_pooler and getattr(base, "pooler", None) is not None:
            base.load_state_dict(encoder_state)  # BERT style: encoder + pooler, then dropout + linear
            classifier.load_state_dict(head.classifier.state_dict())
        elif hasattr(classifier, "dense") and hasattr(classifier, "out_proj") and has_pooler:
            # RoBERTa style: its classification head is dense + tanh + linear on <s>: our pooler, then our head.
            base.load_state_dict({k: v for k, v in encoder_state.items() if not k.startswith("pooler.")})
            classifier.dense.load_state_dict(
                {k[len("pooler.dense.") :]: v for k, v in encoder_state.items() if k.startswith("pooler.dense.")}
            )
            classifier.out_proj.load_state_dict(head.classifier.state_dict())
        else:
            raise ValueError(
                f"Task '{task_name}': exporting needs an encoder whose transformers classifier matches MT-DNN's "
                f"linear head on the pooled [CLS] vector (BERT- or RoBERTa-style with a pooler); "
                f"{type(exported).__name__} does not."
            )
        task_type.finish_export(classifier if isinstance(classifier, nn.Linear) else classifier.out_proj, spec)
        return exported.to(dtype=next(self.parameters()).dtype).eval()
