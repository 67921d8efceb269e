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
"""MT-DNN: one shared pretrained encoder and one head per task, addressed by task name."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import HfApi
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import logging

from .adapters import TaskAdapterMixin
from .configuration_mtdnn import MTDNNConfig, normalize_task_spec
from .heads import build_head, pool_sentence, stack_san_heads, stacked_san_forward
from .hub_mixin import TaskHeadHubMixin
from .outputs import MTDNNMixedOutput, MTDNNMultiTaskOutput, MTDNNOutput
from .pipeline_mtdnn import MTDNNPipeline  # noqa: F401  (ships with checkpoints for `custom_pipelines`)
from .saving import (
    atomic_directory,
    check_local_path,
    fingerprint_weights,
    is_local_path,
    public_name,
    saved_name,
)
from .task_types import compute_task_loss, task_type_of

__all__ = ["MTDNNForMultiTask", "MTDNNPreTrainedModel", "fingerprint_weights"]

logger = logging.get_logger(__name__)

_HEADS_PREFIX = "heads."
# The entry-point group through which an installed package supplies the model card writer (mt-dnn's `model_cards`).
MODEL_CARD_ENTRY_POINT = "mtdnn.model_card_writer"


def _local_encoder_hint(folder: str) -> str | None:
    """
    The name a local encoder folder gives itself: the Hub id its model card (`README.md`) is titled and loaded by
    (a packaged copy of `sentence-transformers/all-MiniLM-L6-v2`), else the id its `config.json` records as
    `_name_or_path` (for many checkpoints the model they were trained from, hence second), else the folder's name.
    """
    folder_path = Path(folder)
    try:
        card = (folder_path / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        card = ""
    title = re.search(r"^# +(\S+)\s*$", card, flags=re.MULTILINE)
    if title:
        quoted = re.search(rf"[\"']([\w.-]+/{re.escape(title.group(1))})[\"']", card)
        return quoted.group(1) if quoted else title.group(1)
    try:
        recorded = json.loads((folder_path / "config.json").read_text()).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and recorded and not is_local_path(recorded):
        return recorded
    return public_name(folder)


def _task_of_key(key: str) -> str | None:
    return key[len(_HEADS_PREFIX) :].split(".", 1)[0] if key.startswith(_HEADS_PREFIX) else None


class MTDNNPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the `from_pretrained` plumbing shared by MT-DNN models."""

    config: MTDNNConfig
    config_class = MTDNNConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.GRUCell):
            bound = module.hidden_size**-0.5
            for parameter in module.parameters(recurse=False):
                nn.init.uniform_(parameter, -bound, bound)


class MTDNNForMultiTask(TaskAdapterMixin, TaskHeadHubMixin, MTDNNPreTrainedModel):
    r"""
    MT-DNN (Liu et al. 2019): a shared Transformer encoder and one head per task in an `nn.ModuleDict` keyed by task
    name (`heads.<task>.*` in the checkpoint). Each call routes to the heads named by `task_name`.

    Args:
        config ([`MTDNNConfig`]):
            The encoder config and the task specs. Building from a config gives random weights; use
            [`~MTDNNForMultiTask.from_encoder`] to start from a pretrained encoder, or `from_pretrained` to load an
            MT-DNN checkpoint.

    Example:

    ```python
    >>> import torch
    >>> from transformers import BertConfig
    >>> from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask

    >>> encoder = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
    >>> tasks = {"sst2": {"task_type": "classification", "num_labels": 2}, "stsb": {"task_type": "regression"}}
    >>> model = MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder, tasks=tasks)).eval()
    >>> input_ids = torch.tensor([[2, 5, 7, 3]])
    >>> model(input_ids, task_name="sst2").logits.shape
    torch.Size([1, 2])
    >>> sorted(model(input_ids, task_name=None).task_logits)
    ['sst2', 'stsb']

    ```
    """

    # Called as `model_card_writer(model, folder)` after every `save_pretrained`. Unset, it is looked up once among
    # the installed entry points of `MODEL_CARD_ENTRY_POINT` (mt-dnn's own `model_cards` when the package is
    # installed); this folder ships to the Hub alone, so it never imports that package by name.
    model_card_writer: ClassVar[Callable[..., Any] | None] = None
    # Task fields that change how a head trains but not its weights: `update_task` may change them on a trained head.
    UPDATABLE_TASK_FIELDS: ClassVar[tuple[str, ...]] = ("dropout", "loss_weight", "san_step_dropout", "ranking_gamma")
    # A mixed batch (`task_per_row`): the share of padded tokens an encoder pass may add over running each of its
    # tasks' rows alone, trimmed to their longest row. Rows of a task much shorter than the rest of their adapter
    # group get a pass of their own instead, so the encoder never does more than 1.1x the work of the same rows
    # grouped by task beforehand.
    MIXED_BATCH_PADDING: ClassVar[float] = 0.1

    _card_writer_looked_up: ClassVar[bool] = False

    @classmethod
    def _card_writer(cls) -> Callable[..., Any] | None:
        if cls.model_card_writer is None and not MTDNNForMultiTask._card_writer_looked_up:
            MTDNNForMultiTask._card_writer_looked_up = True
            for point in sorted(entry_points(group=MODEL_CARD_ENTRY_POINT), key=lambda point: point.name):
                try:
                    MTDNNForMultiTask.model_card_writer = staticmethod(point.load())
                    break
                except ImportError as error:  # an install without the card's extras: save without a card
                    logger.warning(f"The model card writer {point.value!r} cannot be loaded ({error}); no card.")
        return cls.model_card_writer

    def __init__(self, config: MTDNNConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config)
        self.heads = nn.ModuleDict(
            {name: build_head(name, config.hidden_size, spec) for name, spec in config.tasks.items()}
        )
        # Stacked weights of SAN heads evaluated together, keyed by their task names (see `_stacked_san_logits`).
        self._stacked_san_cache: dict[tuple[str, ...], tuple] = {}
        for name, settings in (config.task_adapters or {}).items():  # their weights come with the checkpoint's
            self._inject_adapter(name, settings)
        self.post_init()

    # ----------------------------------------------------------------------------------------------- building
    @classmethod
    def from_encoder(
        cls, pretrained_model_name_or_path: str, tasks: dict[str, dict[str, Any]], pooling: str = "auto", **kwargs
    ) -> MTDNNForMultiTask:
        """
        A new MT-DNN from a pretrained encoder: the encoder's weights, fresh heads for `tasks`.

        Args:
            pretrained_model_name_or_path (`str`):
                A Hub id (`"bert-base-uncased"`) or a local folder of any transformers encoder.
            tasks (`dict[str, dict]`):
                The task specs, as in [`MTDNNConfig`].
            pooling (`str`, *optional*, defaults to `"auto"`):
                The sentence vector of the linear heads, as in [`MTDNNConfig`]: `"auto"` (the pooled [CLS] vector
                where the encoder has a pooler), `"cls"` or `"mean"` (for sentence-transformers encoders).
            kwargs:
                Passed to the encoder's `from_pretrained` (`revision`, `dtype`, `attn_implementation`, ...).

        Example:

        ```python
        >>> rte = {"task_type": "classification", "num_labels": 2, "head": "san"}
        >>> model = MTDNNForMultiTask.from_encoder("bert-base-uncased", tasks={"rte": rte})  # doctest: +SKIP
        ```
        """
        source = os.fspath(pretrained_model_name_or_path)
        config = MTDNNConfig(  # bad specs fail here, before the encoder is loaded
            tasks=tasks,
            pooling=pooling,
            encoder_name_or_path=None if is_local_path(source) else source,
            encoder_revision=kwargs.get("revision"),
            encoder_hint=_local_encoder_hint(source) if is_local_path(source) else None,
        )
        check_local_path(source, "Encoder folder")
        encoder, info = AutoModel.from_pretrained(source, output_loading_info=True, **kwargs)
        # The encoder's identity by content: the weights it loaded (not those it had to initialise afresh).
        config.encoder_fingerprint = fingerprint_weights(encoder.state_dict(), skip=info["missing_keys"])
        encoder.config.name_or_path = config.encoder_name_or_path or ""  # a Hub id, never a machine path
        config.encoder_config = encoder.config
        with torch.device("meta"):
            model = cls(config)
        model.encoder = encoder
        model.heads.to_empty(device=encoder.device)
        model.heads.to(encoder.dtype)
        for head in model.heads.values():
            head.apply(model._init_weights)
        model.config.encoder_config = encoder.config
        return model

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """
        Loads an MT-DNN checkpoint like `PreTrainedModel.from_pretrained`, and refuses one whose weights do not
        match its config (a head missing, extra, or of another shape; encoder weights the config's encoder lacks, as
        when its `num_hidden_layers` was lowered) with an error naming the task or the weights, instead of
        initialising or dropping weights in silence. `ignore_mismatched_sizes=True` lets mismatched shapes through,
        freshly initialised, as in transformers.
        """
        output_loading_info = kwargs.pop("output_loading_info", False)
        ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        if source is not None:
            check_local_path(source, "MT-DNN checkpoint")
        try:
            model, info = super().from_pretrained(
                *args, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
            )
        except Exception as error:
            if type(error).__name__ != "SafetensorError" and "deserializ" not in str(error):
                raise
            raise ValueError(
                f"The weights of {source!r} cannot be read ({error}): the safetensors file is truncated or corrupt. "
                "Save the model again, or restore the file from a copy."
            ) from None
        problems = []
        for key in sorted(info["missing_keys"]):
            owner = f"task '{task}'" if (task := _task_of_key(key)) is not None else "the encoder"
            problems.append(f"{owner}: weight '{key}' is missing from the checkpoint")
        unexpected_encoder = []
        for key in sorted(info["unexpected_keys"]):
            if (task := _task_of_key(key)) is not None:
                problems.append(f"task '{task}': the checkpoint has weight '{key}', which the config's heads lack")
            else:
                unexpected_encoder.append(key)
        if unexpected_encoder:  # dropped in silence, they would leave a smaller encoder than the one trained
            shown = ", ".join(f"'{key}'" for key in unexpected_encoder[:3])
            more = f" and {len(unexpected_encoder) - 3} more" if len(unexpected_encoder) > 3 else ""
            problems.append(
                f"the encoder: the checkpoint has weights {shown}{more}, which the config's encoder lacks (its "
                "`encoder_config` has fewer layers or another architecture than the weights)"
            )
        if not ignore_mismatched_sizes:
            for key, saved, expected in sorted(info["mismatched_keys"]):
                owner = f"task '{task}'" if (task := _task_of_key(key)) is not None else "the encoder"
                problems.append(
                    f"{owner}: weight '{key}' has shape {tuple(saved)} in the checkpoint but {tuple(expected)} in "
                    "the model"
                )
        if problems:
            raise ValueError(
                f"The checkpoint {source!r} does not match its config:\n  - "
                + "\n  - ".join(problems)
                + "\nFix the config's `tasks` or the weights; to start a head afresh, load without it and call "
                "`add_task`. An encoder weight that is missing was never saved: save the model again."
            )
        return (model, info) if output_loading_info else model

    def save_pretrained(self, save_directory: str | os.PathLike, *args, model_id: str | None = None, **kwargs) -> None:
        """
        `PreTrainedModel.save_pretrained`, then the model card (`README.md`) when a card writer is available (see
        `model_card_writer`). Everything is written to a staging folder beside `save_directory` first and moved in
        only once every file is written, so a failed save leaves an earlier checkpoint there loadable and unchanged.
        """
        if not kwargs.get("is_main_process", True):
            return super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("push_to_hub"):
            kwargs.setdefault("repo_id", saved_name(save_directory))
        with atomic_directory(save_directory) as staging:
            super().save_pretrained(staging, *args, **kwargs)
            writer = self._card_writer()
            if writer is not None:
                writer(self, staging, model_id=model_id, name=saved_name(save_directory))

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        commit_description: str | None = None,
        **kwargs,
    ):
        """
        Uploads the whole model: weights (safetensors), config with `auto_map`, the modeling code and, when the
        `model_cards` package is imported, this model's card (instead of transformers' generic one). Without a card
        writer it is `PreTrainedModel.push_to_hub`.
        """
        if self._card_writer() is None:
            return super().push_to_hub(
                repo_id,
                commit_message=commit_message,
                private=private,
                token=token,
                revision=revision,
                create_pr=create_pr,
                max_shard_size=max_shard_size,
                commit_description=commit_description,
                **kwargs,
            )
        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, max_shard_size=max_shard_size, model_id=repo_id)
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message or "Upload MT-DNN model",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )

    # ------------------------------------------------------------------------------------------ task editing
    @property
    def task_names(self) -> list[str]:
        """The model's tasks, sorted by name as in its config."""
        return list(self.config.tasks)

    def add_task(self, name: str, spec: dict[str, Any]) -> nn.Module:
        """
        Adds a task with a freshly initialised head; the encoder and the other heads are untouched.

        Raises:
            `ValueError`: for a bad spec (naming the field) or a name the model already has.
        """
        spec = self.config.new_task_spec(name, spec)
        reference = next(self.encoder.parameters())
        head = build_head(name, self.config.hidden_size, spec).to(device=reference.device, dtype=reference.dtype)
        head.apply(self._init_weights)
        head.train(self.training)  # a head added to a model in eval mode must not drop out
        # Everything that can fail is done: only now do the heads and the config change, together.
        self.heads[name] = head
        self.config.tasks = dict(sorted({**self.config.tasks, name: spec}.items()))
        return head

    def update_task(self, name: str, **changes: Any) -> dict[str, Any]:
        """
        Changes training settings of a task that leave its head's weights as they are (`dropout`, `loss_weight`,
        `san_step_dropout`, `ranking_gamma`), in the config and in the head; returns the new spec.

        Raises:
            `ValueError`: for an unknown task, a field that would change the head's weights, or a bad value.
        """
        spec = self.config.get_task(name)
        fixed = sorted(set(changes) - set(self.UPDATABLE_TASK_FIELDS))
        if fixed:
            raise ValueError(
                f"Task '{name}': update_task changes only {list(self.UPDATABLE_TASK_FIELDS)}, not {fixed} (they shape "
                "the head's weights); remove_task and add_task to start a new head."
            )
        updated = normalize_task_spec(name, {**spec, **changes})
        self.heads[name].apply_spec(updated)
        self.config.tasks[name] = updated
        return updated

    def remove_task(self, name: str) -> None:
        """Removes a task's head, spec and LoRA adapter; the encoder and the other tasks are untouched."""
        self.config.get_task(name)
        if name in (self.config.task_adapters or {}):
            self.remove_task_adapter(name)
        del self.heads[name]
        del self.config.tasks[name]

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """The encoder's `resize_token_embeddings`, with the new vocabulary size recorded in `encoder_config`."""
        embeddings = self.encoder.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.config.encoder_config.vocab_size = embeddings.weight.shape[0]
        return embeddings

    # ---------------------------------------------------------------------------------------------- forward
    def _stacked_san_logits(
        self,
        names: list[str],
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """
        At inference (eval mode, no gradient), the SAN heads among `names` that share a number of steps run as one
        batched computation ([`stacked_san_forward`]) on weights stacked once and cached until any of them changes;
        each head's logits are its own (equal to a separate call within float rounding). Anything else, or a
        lone head of its kind, is left to the per-head loop.
        """
        if self.training or torch.is_grad_enabled():
            return {}
        groups: dict[int, list[str]] = {}
        for name in names:
            if self.config.tasks[name]["head"] == "san":
                groups.setdefault(self.config.tasks[name]["san_steps"], []).append(name)
        results = {}
        for steps, members in groups.items():
            if len(members) < 2:
                continue
            heads = [self.heads[name] for name in members]
            version = tuple((p.data_ptr(), p._version, p.dtype) for head in heads for p in head.parameters())
            cached = self._stacked_san_cache.get(tuple(members))
            if cached is None or cached[0] != version:
                cached = (version, stack_san_heads(heads))
                self._stacked_san_cache[tuple(members)] = cached
            log_probabilities = stacked_san_forward(cached[1], steps, hidden_states, attention_mask, token_type_ids)
            for h, name in enumerate(members):
                results[name] = log_probabilities[h, :, : self.config.tasks[name]["num_labels"]]
        return results

    def _encoder_passes(self, names: list[str]) -> list[tuple[str | None, list[str]]]:
        """
        The encoder passes `names` need: one for the tasks on the plain encoder (first), one per task with a LoRA
        adapter. Without adapters, every task shares one pass.
        """
        adapters = self.config.task_adapters or {}
        plain = [name for name in names if name not in adapters]
        return ([(None, plain)] if plain else []) + [(name, [name]) for name in names if name in adapters]

    def _resolve_tasks(self, task_name: str | Sequence[str] | None) -> list[str]:
        if task_name is None:
            return self.task_names
        if not isinstance(task_name, (str, list, tuple)) or (
            not isinstance(task_name, str) and not all(isinstance(name, str) for name in task_name)
        ):
            raise TypeError(
                f"task_name must be a task's name (str), a list of names or None (every task), got "
                f"{type(task_name).__name__} {task_name!r}; this model has the tasks {sorted(self.config.tasks)}."
            )
        names = [task_name] if isinstance(task_name, str) else list(task_name)
        if not names:
            raise ValueError(f"task_name is an empty list; name one or more of {sorted(self.config.tasks)}.")
        for name in names:
            self.config.get_task(name)
        return list(dict.fromkeys(names))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        task_name: str | Sequence[str] | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        task_per_row: Sequence[str] | None = None,
    ) -> MTDNNOutput | MTDNNMultiTaskOutput | MTDNNMixedOutput | tuple:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq_len)`, or `(groups, candidates, seq_len)` for ranking):
                Token ids; a sentence pair is one sequence joined by the tokenizer.
            attention_mask, token_type_ids, position_ids, inputs_embeds:
                As for the encoder, shaped like `input_ids` (plus a hidden dimension for `inputs_embeds`). For
                ranking, a candidate whose attention mask is all zeros is padding: it gets the lowest score.
            task_name (`str`, `list[str]` or `None`):
                The task whose head to run. A list, or `None` for every task, runs several heads on one encoder pass
                and returns an [`MTDNNMultiTaskOutput`] (inference only: no `labels`). A task with a LoRA adapter
                runs on its own pass with its adapter on (`hidden_states` and `attentions` are then those of the
                first pass: the plain encoder's when any task has no adapter).
            labels (`torch.Tensor`, *optional*):
                Class ids `(batch,)` for classification, floats `(batch,)` for regression, the positive candidate's
                index `(groups,)` for ranking, tag ids `(batch, seq_len)` for token classification (-100 on the
                tokens that carry no label: special tokens, padding, a word's later sub-tokens), and the answer's
                first and last token `(batch, 2)` for span extraction; -100 ignores an example (or group). Each task
                type ([`~task_types.TaskType`]) checks its labels and computes its loss. The keyword is `labels` for
                every task type, as for transformers' `AutoModelFor{Sequence,Token}Classification` and
                `AutoModelForMultipleChoice` (ranking); span extraction also takes the two keywords below.
            start_positions, end_positions (`torch.LongTensor` of shape `(batch,)`, *optional*):
                For a span-extraction task, the answer's first and last token, as `AutoModelForQuestionAnswering`
                takes them: the same as `labels=torch.stack([start_positions, end_positions], dim=-1)`. Give both
                and no `labels`.
            task_per_row (`Sequence[str]`, *optional*):
                A mixed batch: the task of each row (a list of `batch` task names), where `task_name` runs the same
                tasks on every row. Each row gets its own task's head only, and the same logits as a call of that
                task alone (within float rounding). Inputs are `(batch, seq_len)`: a ranking row is one (query,
                candidate) pair, scored alone. Inference only: not with `task_name`, `labels`, `start_positions` or
                `end_positions`. The encoder runs once per LoRA adapter among the rows' tasks (rows of tasks
                without one share the plain encoder), each pass over its own rows only, trimmed to their longest
                row; a task whose rows are much shorter than the rest of its group runs in a pass of its own (see
                `MIXED_BATCH_PADDING`). Returns an [`MTDNNMixedOutput`].

        Returns:
            [`MTDNNOutput`] with `loss` (when `labels` is given) and `logits` for one task,
            [`MTDNNMultiTaskOutput`] with `task_logits` for several, or [`MTDNNMixedOutput`] with `row_logits`,
            `task_logits` and `task_rows` for a mixed batch (`task_per_row`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if task_per_row is not None:
            names = self._check_mixed_call(
                task_per_row,
                task_name,
                {"labels": labels, "start_positions": start_positions, "end_positions": end_positions},
                input_ids if input_ids is not None else inputs_embeds,
                "input_ids" if input_ids is not None else "inputs_embeds",
            )
            output = self._mixed_forward(
                names,
                input_ids,
                attention_mask,
                token_type_ids,
                position_ids,
                inputs_embeds,
                output_attentions,
                output_hidden_states,
            )
            return output if return_dict else output.to_tuple()
        names = self._resolve_tasks(task_name)
        single = isinstance(task_name, str)
        if start_positions is not None or end_positions is not None:
            labels = self._span_labels(task_name, names, labels, start_positions, end_positions)
        if labels is not None and not single:
            raise ValueError(
                f"labels were given with task_name={task_name!r}; training and loss need exactly one task name (a "
                "str), since each batch belongs to one task."
            )
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None:
            raise ValueError("Give either input_ids or inputs_embeds.")
        sequence_dims = 1 if input_ids is not None else 2
        grouped = reference.dim() == 2 + sequence_dims
        if grouped:
            not_ranking = [name for name in names if not task_type_of(self.config.tasks[name]).groups_candidates]
            if not_ranking:
                raise ValueError(
                    f"Inputs of shape {tuple(reference.shape)} (groups, candidates, ...) are only for ranking tasks, "
                    f"but {not_ranking} are not ranking tasks; give them (batch, seq_len) inputs."
                )
        elif single and task_type_of(self.config.tasks[names[0]]).groups_candidates and labels is not None:
            raise ValueError(
                f"Task '{names[0]}' (ranking): training needs inputs of shape (groups, candidates, seq_len), got "
                f"{tuple(reference.shape)}; group each question's candidates as for multiple choice."
            )
        group_shape = reference.shape[: 1 + int(grouped)]

        def flat(tensor: torch.Tensor | None, dims: int) -> torch.Tensor | None:
            return tensor.reshape(-1, *tensor.shape[-dims:]) if tensor is not None and grouped else tensor

        input_ids, inputs_embeds = flat(input_ids, 1), flat(inputs_embeds, 2)
        attention_mask, token_type_ids, position_ids = (
            flat(attention_mask, 1),
            flat(token_type_ids, 1),
            flat(position_ids, 1),
        )
        if attention_mask is None:
            flat_reference = input_ids if input_ids is not None else inputs_embeds
            attention_mask = torch.ones(flat_reference.shape[:2], dtype=torch.long, device=flat_reference.device)
        encoder_kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        task_logits, first_outputs = {}, None
        for adapter, members in self._encoder_passes(names):
            if self.config.task_adapters:
                self._use_task_adapter(adapter)
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                inputs_embeds=inputs_embeds,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
                **encoder_kwargs,
            )
            first_outputs = first_outputs or encoder_outputs
            sequence_output = encoder_outputs.last_hidden_state
            pooled_output = None  # the sentence vector of the linear heads, pooled once for all of them
            if any(self.config.tasks[name]["head"] == "linear" for name in members):
                pooled_output = pool_sentence(
                    sequence_output,
                    attention_mask,
                    getattr(encoder_outputs, "pooler_output", None),
                    self.config.pooling,
                )
            task_logits |= self._stacked_san_logits(members, sequence_output, attention_mask, token_type_ids)
            for name in members:
                if name in task_logits:
                    continue
                logits = self.heads[name](sequence_output, attention_mask, token_type_ids, pooled_output)
                task_logits[name] = task_type_of(self.config.tasks[name]).shape_logits(
                    logits, group_shape, attention_mask
                )
        task_logits = {name: task_logits[name] for name in names}
        encoder_outputs = first_outputs

        if not single:
            output = MTDNNMultiTaskOutput(
                task_logits=task_logits,
                hidden_states=encoder_outputs.hidden_states,
                attentions=encoder_outputs.attentions,
            )
            return output if return_dict else output.to_tuple()

        logits = task_logits[names[0]]
        loss = None
        if labels is not None:
            # In training the label values were checked when the data was prepared: no host-device sync per step.
            spec = self.config.tasks[names[0]]
            loss = compute_task_loss(names[0], spec, logits, labels.to(logits.device), check_values=not self.training)
        output = MTDNNOutput(
            loss=loss,
            logits=logits,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )
        return output if return_dict else output.to_tuple()

    # ------------------------------------------------------------------------------------------ mixed batches
    def _check_mixed_call(
        self,
        task_per_row: Any,
        task_name: Any,
        labels: dict[str, torch.Tensor | None],
        reference: torch.Tensor | None,
        field: str,
    ) -> list[str]:
        """The task of each row of a mixed batch, checked against the model's tasks and the inputs."""
        known = sorted(self.config.tasks)
        if isinstance(task_per_row, str):
            raise TypeError(
                f"task_per_row must be a list of task names, one per row, got the str {task_per_row!r}; to run one "
                f"task on every row, pass task_name={task_per_row!r}."
            )
        if not isinstance(task_per_row, (list, tuple)):
            raise TypeError(
                f"task_per_row must be a list of task names, one per row, got {type(task_per_row).__name__} "
                f"{task_per_row!r}; this model has the tasks {known}."
            )
        if task_name is not None:
            raise ValueError(
                f"task_per_row was given with task_name={task_name!r}: task_name runs the same task(s) on every row, "
                "task_per_row names each row's own task; give one of them."
            )
        given = [keyword for keyword, value in labels.items() if value is not None]
        if given:
            raise ValueError(
                f"{' and '.join(given)} were given with task_per_row: a mixed batch is for inference only (its rows "
                "belong to different tasks, each with its own loss); train on single-task batches named by task_name."
            )
        if reference is None:
            raise ValueError("Give either input_ids or inputs_embeds.")
        rows = reference.dim() - (1 if field == "input_ids" else 2)
        if rows != 1:
            raise ValueError(
                f"task_per_row takes {field} of shape (batch, seq_len{'' if field == 'input_ids' else ', hidden'}), "
                f"one row per task name, got {tuple(reference.shape)}; in a mixed batch a ranking row is one (query, "
                "candidate) pair, scored alone: give each candidate its own row."
            )
        if len(task_per_row) != reference.shape[0]:
            raise ValueError(
                f"task_per_row names {len(task_per_row)} tasks for a batch of {reference.shape[0]} rows ({field} of "
                f"shape {tuple(reference.shape)}); give one task name per row."
            )
        if not task_per_row:
            raise ValueError("task_per_row is empty: give a batch of one row or more, and one task name per row.")
        for row, name in enumerate(task_per_row):
            if not isinstance(name, str) or name not in self.config.tasks:
                raise ValueError(
                    f"task_per_row[{row}] is {name!r}, which is not a task of this model; its tasks are {known}."
                )
        return list(task_per_row)

    def _mixed_passes(
        self, rows_of: dict[str, list[int]], lengths: list[int]
    ) -> list[tuple[str | None, int, list[str]]]:
        """
        The encoder passes of a mixed batch, as `(adapter, length, tasks)`: the plain encoder's first, then one per
        task with a LoRA adapter. Within a group, tasks are taken longest rows first, and a task joins the pass before
        it only if the pass then pads at most `MIXED_BATCH_PADDING` more tokens than its tasks would take alone, each
        trimmed to its longest row; otherwise it starts a pass of its own. `length` is the pass's longest row.
        """
        adapters = self.config.task_adapters or {}
        groups: dict[str | None, list[str]] = {}
        for name in rows_of:
            groups.setdefault(name if name in adapters else None, []).append(name)
        passes: list[tuple[str | None, int, list[str]]] = []
        for adapter in sorted(groups, key=lambda key: key is not None):  # the plain encoder first; order kept
            blocks = sorted(
                ((max(lengths[row] for row in rows_of[name]), name) for name in groups[adapter]),
                key=lambda block: -block[0],
            )
            alone = 0  # the tokens of the current pass's tasks, each alone at its own longest row
            for longest, name in blocks:
                count = len(rows_of[name])
                if passes and passes[-1][0] == adapter and alone:
                    _, length, members = passes[-1]
                    together = (sum(len(rows_of[member]) for member in members) + count) * length
                    if together <= (1 + self.MIXED_BATCH_PADDING) * (alone + count * longest):
                        members.append(name)
                        alone += count * longest
                        continue
                passes.append((adapter, longest, [name]))
                alone = count * longest
        return passes

    def _mixed_forward(
        self,
        names: list[str],
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
    ) -> MTDNNMixedOutput:
        """
        A mixed batch (see `forward`'s `task_per_row`): the encoder passes of [`_mixed_passes`], each over its rows
        only, trimmed to their longest; each head on its own rows; the logits gathered back per row.
        """
        reference = input_ids if input_ids is not None else inputs_embeds
        batch, seq_len = reference.shape[:2]
        device = reference.device
        rows_of: dict[str, list[int]] = {}
        for row, name in enumerate(names):
            rows_of.setdefault(name, []).append(row)
        if attention_mask is None:
            lengths = [seq_len] * batch
            attention_mask = torch.ones(batch, seq_len, dtype=torch.long, device=device)
        else:  # each row's last real token (left padding and rows without padding: the whole row)
            real = attention_mask.bool().flip(-1).long()
            lengths = (seq_len - real.argmax(dim=-1)).tolist()
        passes = self._mixed_passes(rows_of, lengths)
        task_logits: dict[str, torch.Tensor] = {}
        hidden_states, attentions = None, None
        for adapter, length, members in passes:
            rows = [row for name in members for row in rows_of[name]]
            index = None if rows == list(range(batch)) else torch.tensor(rows, device=device)

            def take(tensor: torch.Tensor | None) -> torch.Tensor | None:
                if tensor is None:
                    return None
                if index is not None and tensor.shape[0] == batch:  # not a row broadcast to all (position_ids)
                    tensor = tensor.index_select(0, index)
                return tensor if length == seq_len else tensor[:, :length]

            mask, types = take(attention_mask), take(token_type_ids)
            if self.config.task_adapters:
                self._use_task_adapter(adapter)
            encoder_outputs = self.encoder(
                input_ids=take(input_ids),
                attention_mask=mask,
                position_ids=take(position_ids),
                inputs_embeds=take(inputs_embeds),
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
                **({"token_type_ids": types} if types is not None else {}),
            )
            hidden_states = self._gather_rows(hidden_states, encoder_outputs.hidden_states, index, batch, seq_len, 1)
            attentions = self._gather_rows(attentions, encoder_outputs.attentions, index, batch, seq_len, 2)
            sequence_output = encoder_outputs.last_hidden_state
            pooled_output = None
            if any(self.config.tasks[name]["head"] == "linear" for name in members):
                pooled_output = pool_sentence(
                    sequence_output, mask, getattr(encoder_outputs, "pooler_output", None), self.config.pooling
                )
            start = 0
            for name in members:
                part = slice(start, start + len(rows_of[name]))
                start = part.stop
                task_type = task_type_of(self.config.tasks[name])
                logits = self.heads[name](
                    sequence_output[part],
                    mask[part],
                    types[part] if types is not None else None,
                    pooled_output[part] if pooled_output is not None else None,
                )
                logits = task_type.shape_logits(logits, torch.Size([part.stop - part.start]), mask[part])
                if task_type.per_token and length < seq_len:  # back to the batch's length: padding in every row
                    lowest = torch.finfo(logits.dtype).min
                    logits = nn.functional.pad(logits, (0, 0, 0, seq_len - length), value=lowest)
                task_logits[name] = logits
        task_logits = {name: task_logits[name] for name in rows_of}  # in the order of each task's first row
        row_logits: list[torch.Tensor | None] = [None] * batch
        for name, rows in rows_of.items():
            for row, logits in zip(rows, task_logits[name].unbind(0)):
                row_logits[row] = logits
        return MTDNNMixedOutput(
            row_logits=tuple(row_logits),
            task_logits=task_logits,
            task_rows={name: torch.tensor(rows, device=device) for name, rows in rows_of.items()},
            hidden_states=hidden_states,
            attentions=attentions,
        )

    @staticmethod
    def _gather_rows(
        gathered: tuple[torch.Tensor, ...] | None,
        states: tuple[torch.Tensor, ...] | None,
        index: torch.Tensor | None,
        batch: int,
        seq_len: int,
        token_dims: int,
    ) -> tuple[torch.Tensor, ...] | None:
        """
        Puts one encoder pass's per-layer `states` back at their rows (`index`; `None`: every row, in order) of
        batch-sized tensors, zeros past the pass's length: hidden states `(rows, length, d)` (`token_dims` 1) or
        attentions `(rows, heads, length, length)` (`token_dims` 2).
        """
        if not states:  # not asked for (None), or not given by this encoder's attention (an empty tuple)
            return gathered if gathered is not None else states
        length = states[0].shape[-1] if token_dims == 2 else states[0].shape[1]
        if gathered is None and index is None and length == seq_len:
            return states  # one pass over the whole batch
        if gathered is None:
            gathered = tuple(
                state.new_zeros(batch, state.shape[1], seq_len, seq_len)
                if token_dims == 2
                else state.new_zeros(batch, seq_len, state.shape[-1])
                for state in states
            )
        rows = index if index is not None else slice(None)
        for target, state in zip(gathered, states):
            if token_dims == 2:
                target[rows, :, :length, :length] = state
            else:
                target[rows, :length] = state
        return gathered

    def _span_labels(
        self,
        task_name: str | Sequence[str] | None,
        names: list[str],
        labels: torch.Tensor | None,
        start_positions: torch.Tensor | None,
        end_positions: torch.Tensor | None,
    ) -> torch.Tensor:
        """`labels` `(batch, 2)` of a span-extraction task from transformers' `start_positions` / `end_positions`."""
        if not isinstance(task_name, str) or not task_type_of(self.config.tasks[names[0]]).input_kind == "spans":
            raise ValueError(
                f"start_positions / end_positions were given with task_name={task_name!r}; they are the labels of "
                "one span-extraction task: name that task, or give the labels of other task types as `labels`."
            )
        if labels is not None:
            raise ValueError(
                f"Task '{names[0]}': give the answer span either as `labels` (batch, 2) or as start_positions and "
                "end_positions, not both."
            )
        if start_positions is None or end_positions is None:
            missing = "end_positions" if end_positions is None else "start_positions"
            raise ValueError(
                f"Task '{names[0]}': start_positions and end_positions go together; {missing} is missing."
            )
        if start_positions.shape != end_positions.shape or start_positions.dim() > 1:
            raise ValueError(
                f"Task '{names[0]}': start_positions and end_positions must both be of shape (batch,), got "
                f"{tuple(start_positions.shape)} and {tuple(end_positions.shape)}."
            )
        return torch.stack([start_positions.reshape(-1), end_positions.reshape(-1)], dim=-1)


MTDNNConfig.register_for_auto_class()
MTDNNForMultiTask.register_for_auto_class("AutoModel")
