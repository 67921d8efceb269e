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
"""`MTDNNPipeline`: label names and scores for one task, or for every task from one encoder pass."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Pipeline

from .task_types import task_type_of

__all__ = ["PIPELINE_TASK", "MTDNNPipeline"]

PIPELINE_TASK = "mtdnn"
# What preprocessing passes on beside the model's inputs, for postprocessing.
_EXTRAS = ("offset_mapping", "word_ids", "text", "in_context")
# The key of the token tasks' own inputs (the context alone) in a call that also answers a question.
_TAGGED = "tagged_context"
# The key of an input's own task in a mixed call, and of its logits in the model's outputs.
_ROW_TASK = "task"
_ROW_LOGITS = "row_logits"
# The attention mask of a batch of token-task inputs, kept for postprocessing: the batch's padding is no word. (A key
# with a space: never a task's name.)
_MASK = "attention mask"


class MTDNNPipeline(Pipeline):
    r"""
    Text classification and entity recognition with an MT-DNN model: single texts or sentence pairs in, label names
    and scores (or entities) out.

    Inputs: a string, a `{"text": ..., "text_pair": ...}` dict or a `(text, text_pair)` tuple; a list of those for
    several inputs. Call arguments:

    - `task_name` (`str`, `list[str]` or `None`): one task gives that task's result; a list, or `None` (the default),
      gives `{task: result}` for each task, all from one encoder pass.
    - `top_k` (`int` or `None`, defaults to 1): classification labels to return, best first; `None` for all.
    - `task_per_row` (`list[str]`): for a list of inputs, the task of each (see mixed calls below).

    Mixed calls: each input may name its own task, as a `"task"` key of its dict (`{"text": ..., "task": "sst2"}`,
    `{"question": ..., "context": ..., "task": "squad"}`) or through `task_per_row` (one name per input of a list);
    every input of the call then names one, and `task_name` is left out. Each input's result is its task's alone
    (as with `task_name="sst2"`), and with `batch_size > 1` the inputs of each batch go to the model together, in
    one call with `task_per_row` whatever their tasks (LoRA adapters included: see `MTDNNForMultiTask.forward`).
    A span-extraction input must then fit one window of `max_seq_len` tokens (with `batch_size` 1 it may span
    several).

    A classification result is `{"label", "score"}` (a list of them when `top_k != 1`); regression and ranking
    results are `{"score": value}`. A token-classification (NER) result is the list of entities found, each
    `{"entity_group", "score", "word", "start", "end"}`: words are tagged by their first sub-token (as trained) and
    grouped into entities by the rules seqeval scores with (IOB2: consecutive words of one type join, a `B-` tag starts
    a new entity; IOB1 and IOBES tags are read as seqeval reads them), so the entities are the ones the entity F1
    counts; `score` is the mean of the words' tag probabilities, and `start` / `end` are character offsets into the
    text (`word == text[start:end]`). A span
    extraction (question answering) result is `{"answer", "score", "start", "end"}`: the input is the question and
    its context (`{"question": ..., "context": ...}`, or `text` and `text_pair`); a context longer than `max_seq_len`
    tokens (384) is read in windows sharing `doc_stride` tokens (128), and the answer is the one evaluation scores:
    in each window the `n_best_size` (20) best starts and ends, at most `max_answer_len` tokens (30) apart, and the
    span with the highest start + end logit over all windows wins (the n-best rule of transformers'
    question-answering examples); `score` is the product of its start and end probabilities (softmax over its
    window's context tokens) and `start` / `end` index the context. Span tasks run one input at a time (`batch_size`
    1: the windows of one input are the batch); the sentence tasks of the call read the first window, and its token
    tasks tag the context alone, on a second pass.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("mtdnn", model="org/mt-dnn", trust_remote_code=True)  # doctest: +SKIP
    >>> pair = {"text": "A man plays a guitar.", "text_pair": "Someone makes music."}
    >>> classifier(pair, task_name="rte")  # doctest: +SKIP
    {'label': 'entailment', 'score': 0.93}
    ```
    """

    def __call__(self, inputs: Any, *args, batch_size: int | None = None, task_per_row: Any = None, **kwargs):
        size = batch_size if batch_size is not None else self._batch_size
        if task_per_row is not None:
            inputs = self._name_row_tasks(inputs, task_per_row)
        # Batched, an input that names its task is one row (for a generator or dataset too: the windows beyond its
        # first would be dropped by the pipeline's collation, so they are refused).
        kwargs["_one_window"] = size not in (None, 1)
        if self._names_row_tasks(inputs):
            if kwargs.get("task_name") is not None:
                raise ValueError(
                    f"The inputs name their own task ('task' key or task_per_row) and task_name="
                    f"{kwargs['task_name']!r} was given too: task_name runs the same task(s) on every input; give one "
                    "of them."
                )
        elif size not in (None, 1) and self._span_tasks(kwargs.get("task_name")):
            raise ValueError(
                f"Span-extraction tasks {self._span_tasks(kwargs.get('task_name'))} read each input's context windows "
                f"as one batch, so they run with batch_size 1, got {size}; call them without batch_size."
            )
        return super().__call__(inputs, *args, batch_size=batch_size, **kwargs)

    def _name_row_tasks(self, inputs: Any, task_per_row: Any) -> list[dict[str, Any]]:
        """The inputs of a list as dicts with their task from `task_per_row` under the `"task"` key."""
        if isinstance(task_per_row, str) or not isinstance(task_per_row, (list, tuple)):
            raise TypeError(
                f"task_per_row must be a list of task names, one per input, got {type(task_per_row).__name__} "
                f"{task_per_row!r}; to run one task on every input, pass task_name."
            )
        if not isinstance(inputs, list):
            raise TypeError(
                f"task_per_row names the task of each input of a list, but the inputs are {type(inputs).__name__} "
                f"{inputs!r}; pass a list of inputs (or give one input its task with task_name)."
            )
        if len(task_per_row) != len(inputs):
            raise ValueError(
                f"task_per_row names {len(task_per_row)} tasks for {len(inputs)} inputs; give one task name per input."
            )
        named = []
        for row, (item, name) in enumerate(zip(inputs, task_per_row)):
            self._check_row_task(name, f"task_per_row[{row}]")
            if isinstance(item, str):
                item = {"text": item}
            elif isinstance(item, tuple) and len(item) == 2:
                item = {"text": item[0], "text_pair": item[1]}
            elif not isinstance(item, dict):
                raise ValueError(
                    f"Input {row}: MTDNNPipeline takes a string, a {{'text': ..., 'text_pair': ...}} dict, a "
                    f"{{'question': ..., 'context': ...}} dict or a (text, text_pair) tuple, got {item!r}."
                )
            elif item.get(_ROW_TASK, name) != name:
                raise ValueError(
                    f"Input {row} names task {item[_ROW_TASK]!r} in its 'task' key but task_per_row[{row}] is "
                    f"{name!r}; name each input's task once."
                )
            named.append({**item, _ROW_TASK: name})
        return named

    def _names_row_tasks(self, inputs: Any) -> bool:
        """Whether the call's inputs name their own tasks (`"task"` keys): all of a list's, or none."""
        if isinstance(inputs, dict):
            return _ROW_TASK in inputs
        if not isinstance(inputs, list):
            return False
        named = [row for row, item in enumerate(inputs) if isinstance(item, dict) and _ROW_TASK in item]
        if named and len(named) < len(inputs):
            unnamed = [row for row in range(len(inputs)) if row not in set(named)]
            raise ValueError(
                f"Inputs {named} name their task ('task' key) but inputs {unnamed} do not; in one call every input "
                "names its task, or none does and task_name picks the tasks."
            )
        for row in named:
            self._check_row_task(inputs[row][_ROW_TASK], f"Input {row}'s 'task'")
        return bool(named)

    def _check_row_task(self, name: Any, field: str) -> dict[str, Any]:
        """The spec of an input's own task, or a `ValueError` naming where it was given."""
        if not isinstance(name, str) or name not in self.model.config.tasks:
            raise ValueError(
                f"{field} is {name!r}, which is not a task of this model; its tasks are "
                f"{sorted(self.model.config.tasks)}."
            )
        return self.model.config.tasks[name]

    def _tasks_reading(self, task_name: Any, input_kind: str) -> list[str]:
        """The tasks of a call whose task type reads `input_kind` inputs (`"spans"`, `"tokens"`)."""
        tasks = self.model.config.tasks
        return [name for name in self._task_names(task_name) if task_type_of(tasks[name]).input_kind == input_kind]

    def _span_tasks(self, task_name: Any) -> list[str]:
        return self._tasks_reading(task_name, "spans")

    def _sanitize_parameters(
        self,
        task_name: Any = None,
        top_k: Any = 1,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        max_answer_len: int = 30,
        n_best_size: int = 20,
        _one_window: bool = False,
        **kwargs,
    ):
        names = self._task_names(task_name)
        settings = {
            "max_seq_len": max_seq_len,
            "doc_stride": doc_stride,
            "max_answer_len": max_answer_len,
            "n_best_size": n_best_size,
        }
        for flag, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{flag} must be an int >= 1, got {value!r}.")
        if top_k is not None:
            most = max(
                (
                    self.model.config.tasks[name]["num_labels"]
                    for name in names
                    if task_type_of(self.model.config.tasks[name]).has_classes
                    and not task_type_of(self.model.config.tasks[name]).per_token
                ),
                default=1,
            )
            if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= most:
                raise ValueError(
                    f"top_k must be an int from 1 to {most} (the most labels of the tasks {names}) or None for "
                    f"every label, got {top_k!r}."
                )
        windows = {"max_seq_len": max_seq_len, "doc_stride": doc_stride, "one_window": _one_window}
        return (
            {"task_name": task_name, **windows},
            {"task_name": task_name},
            {"task_name": task_name, "top_k": top_k, "max_answer_len": max_answer_len, "n_best_size": n_best_size},
        )

    def _task_names(self, task_name: Any) -> list[str]:
        """The tasks a call runs, checked: all of them for `None`."""
        if task_name is None:
            return list(self.model.config.tasks)
        names = [task_name] if isinstance(task_name, str) else list(task_name)
        for name in names:
            self.model.config.get_task(name)
        return names

    def preprocess(
        self,
        inputs: Any,
        task_name: Any = None,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        one_window: bool = False,
    ) -> dict[str, torch.Tensor]:
        if isinstance(inputs, dict) and _ROW_TASK in inputs:
            return self._preprocess_row(inputs, task_name, max_seq_len, doc_stride, one_window)
        if isinstance(inputs, str):
            text, pair = inputs, None
        elif isinstance(inputs, dict) and {"question", "context"} <= set(inputs):
            text, pair = inputs["question"], inputs["context"]
        elif isinstance(inputs, dict) and "text" in inputs:
            text, pair = inputs["text"], inputs.get("text_pair")
        elif isinstance(inputs, tuple) and len(inputs) == 2:
            text, pair = inputs
        else:
            raise ValueError(
                "MTDNNPipeline takes a string, a {'text': ..., 'text_pair': ...} dict, a {'question': ..., "
                f"'context': ...}} dict or a (text, text_pair) tuple, got {inputs!r}."
            )
        span_tasks = self._span_tasks(task_name)
        if span_tasks:
            if pair is None:
                raise ValueError(
                    f"Task(s) {span_tasks} answer a question from a context, but {text!r} came alone; pass "
                    "{'question': ..., 'context': ...}."
                )
            windows = self._windows(text, pair, max_seq_len, doc_stride)
            if self._tasks_reading(task_name, "tokens"):  # token tasks tag the context, on a pass of their own
                windows[_TAGGED] = self._tagged(pair)
            return windows
        token_tasks = self._tasks_reading(task_name, "tokens")
        if pair is not None and token_tasks:
            raise ValueError(
                f"Task(s) {token_tasks} tag the words of one text, but a text_pair came with {text!r}; call them with "
                "a single text."
            )
        if pair is None and task_name is not None:
            pair_tasks = [
                name for name in self._task_names(task_name) if self.model.config.tasks[name].get("inputs") == "pair"
            ]
            if pair_tasks:
                raise ValueError(
                    f"Task(s) {pair_tasks} read sentence pairs, but {text!r} came without a text_pair; pass "
                    "{'text': ..., 'text_pair': ...} or a (text, text_pair) tuple."
                )
        if not token_tasks:
            return self.tokenizer(text, pair, return_tensors="pt", truncation=True)
        return self._tagged(text)

    def _preprocess_row(
        self, inputs: dict[str, Any], task_name: Any, max_seq_len: int, doc_stride: int, one_window: bool
    ) -> dict[str, Any]:
        """
        An input of a mixed call, encoded as its own task reads it. Every input of such a call has the same keys
        (the model's inputs, `offset_mapping`, `word_ids`, `in_context`, `text` and its task), so that the pipeline's
        batching can put inputs of different tasks into one batch.
        """
        name = inputs[_ROW_TASK]
        if task_name is not None:
            raise ValueError(
                f"An input names its own task ('task': {name!r}) and task_name={task_name!r} was given too; give "
                "one of them."
            )
        spec = self._check_row_task(name, "An input's 'task'")
        task_type = task_type_of(spec)
        fields = {key: value for key, value in inputs.items() if key != _ROW_TASK}
        if fields.keys() & {"question", "context"}:
            missing = sorted({"question", "context"} - fields.keys())
            if missing:
                raise ValueError(
                    f"Task '{name}': the input {inputs!r} has no '{missing[0]}'; pass {{'question': ..., "
                    f"'context': ..., 'task': '{name}'}}."
                )
            text, pair = fields["question"], fields["context"]
        elif "text" in fields:
            text, pair = fields["text"], fields.get("text_pair")
        else:
            raise ValueError(
                f"Task '{name}': an input naming its task is a {{'text': ..., 'text_pair': ..., 'task': ...}} or "
                f"{{'question': ..., 'context': ..., 'task': ...}} dict, got {inputs!r}."
            )
        if task_type.input_kind == "spans":
            if pair is None:
                raise ValueError(
                    f"Task '{name}' ({task_type.name}) answers a question from its context, but the input {text!r} "
                    f"came alone, without 'text_pair' (or 'question' and 'context'); pass {{'question': ..., "
                    f"'context': ..., 'task': '{name}'}}."
                )
            encoded = self._windows(text, pair, max_seq_len, doc_stride)
            if one_window and len(encoded["input_ids"]) > 1:
                raise ValueError(
                    f"Task '{name}': the context of the question {text!r} needs {len(encoded['input_ids'])} windows "
                    f"of max_seq_len={max_seq_len} tokens, but with batch_size > 1 each input of a mixed call is one "
                    "row of its batch; call with batch_size 1 (the windows are then the batch) or a larger "
                    "max_seq_len."
                )
            encoded["word_ids"] = torch.full_like(encoded["input_ids"], -1)
        elif task_type.input_kind == "tokens":
            if pair is not None:
                raise ValueError(
                    f"Task '{name}' ({task_type.name}) tags the words of one text, but a text_pair came with "
                    f"{text!r}; give it a single text."
                )
            encoded = self._tagged(text)
            encoded["in_context"] = torch.zeros_like(encoded["input_ids"], dtype=torch.bool)
        else:
            if pair is None and spec.get("inputs") == "pair":
                raise ValueError(
                    f"Task '{name}' reads sentence pairs, but {text!r} came without a text_pair; pass {{'text': ..., "
                    f"'text_pair': ..., 'task': '{name}'}}."
                )
            encoded = self.tokenizer(text, pair, return_tensors="pt", truncation=True, return_offsets_mapping=True)
            encoded = {
                **encoded,
                "word_ids": torch.full_like(encoded["input_ids"], -1),
                "in_context": torch.zeros_like(encoded["input_ids"], dtype=torch.bool),
                "text": text,
            }
        return {**encoded, _ROW_TASK: name}

    def _tagged(self, text: str) -> dict[str, Any]:
        """One text as token tasks read it: with its offsets and each token's word (-1 for special tokens)."""
        encoded = self.tokenizer(text, return_tensors="pt", truncation=True, return_offsets_mapping=True)
        word_ids = [-1 if word is None else word for word in encoded.word_ids(0)]
        return {**encoded, "word_ids": torch.tensor([word_ids]), "text": text}

    def _windows(self, question: str, context: str, max_seq_len: int, doc_stride: int) -> dict[str, Any]:
        """The question with windows over the context (`doc_stride` tokens shared), as one padded batch."""
        positions = getattr(self.model.config.encoder_config, "max_position_embeddings", None) or max_seq_len
        longest = min(max_seq_len, self.tokenizer.model_max_length or max_seq_len, positions)
        question_tokens = len(self.tokenizer(question.lstrip(), add_special_tokens=False)["input_ids"])
        if doc_stride >= longest - self.tokenizer.num_special_tokens_to_add(pair=True) - question_tokens:
            raise ValueError(
                f"doc_stride {doc_stride} leaves no room for context in windows of {longest} tokens with a question "
                f"of {question_tokens}; pass a smaller doc_stride or a larger max_seq_len."
            )
        encoded = self.tokenizer(
            question.lstrip(),
            context,
            truncation="only_second",
            max_length=longest,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="longest",
            return_tensors="pt",
        )
        encoded.pop("overflow_to_sample_mapping", None)
        in_context = [[index == 1 for index in encoded.sequence_ids(i)] for i in range(len(encoded["input_ids"]))]
        return {**encoded, "in_context": torch.tensor(in_context), "text": context}

    def _forward(self, model_inputs: dict[str, Any], task_name: Any = None) -> dict[str, Any]:
        # A flat dict of tensors: the pipeline's batching (`batch_size > 1`) splits each one back into examples.
        # With span tasks (batch size 1) the token tasks' own inputs come under `_TAGGED`, for a second pass.
        if _ROW_TASK in model_inputs:
            return self._forward_rows(model_inputs)
        names = self._task_names(task_name)
        tagged = model_inputs.pop(_TAGGED, None)
        extras = {key: model_inputs.pop(key) for key in _EXTRAS if key in model_inputs}
        token_names = self._tasks_reading(task_name, "tokens") if tagged is not None else []
        others = [name for name in names if name not in token_names]
        outputs = dict(self.model(**model_inputs, task_name=others).task_logits) | extras
        if token_names:
            tagged_extras = {key: tagged.pop(key) for key in _EXTRAS if key in tagged}
            outputs |= dict(self.model(**tagged, task_name=token_names).task_logits)
            outputs[_TAGGED] = tagged_extras
        elif self._tasks_reading(task_name, "tokens"):  # for `_own_tokens`: a batch's padding is no word
            outputs[_MASK] = model_inputs["attention_mask"]
        return outputs

    def _forward_rows(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        """
        A mixed call's inputs in one model call with `task_per_row`: a batch of inputs (their tasks collated into a
        list), or one input alone (its task a str; its rows are the windows of a span-extraction input).
        """
        tasks = model_inputs.pop(_ROW_TASK)
        extras = {key: model_inputs.pop(key) for key in _EXTRAS if key in model_inputs}
        mask = model_inputs["attention_mask"]
        if isinstance(tasks, str):
            output = self.model(**model_inputs, task_per_row=[tasks] * len(mask))
            return {_ROW_TASK: tasks, _ROW_LOGITS: output.task_logits[tasks], _MASK: mask, **extras}
        output = self.model(**model_inputs, task_per_row=list(tasks))
        # Per-row lists: the pipeline's batching hands each input its own entry (a tensor gets its batch dimension).
        return {_ROW_TASK: list(tasks), _ROW_LOGITS: list(output.row_logits), _MASK: mask, **extras}

    def postprocess(
        self,
        model_outputs: dict[str, Any],
        task_name: Any = None,
        top_k: int | None = 1,
        max_answer_len: int = 30,
        n_best_size: int = 20,
    ) -> Any:
        settings = {"top_k": top_k, "max_answer_len": max_answer_len, "n_best_size": n_best_size}
        if _ROW_LOGITS in model_outputs:  # an input of a mixed call: its own task's result
            spec = self.model.config.tasks[model_outputs[_ROW_TASK]]
            task_type = task_type_of(spec)
            logits, inputs = model_outputs[_ROW_LOGITS], model_outputs
            if task_type.input_kind == "tokens":
                logits, inputs = self._own_tokens(logits, inputs)
            return task_type.pipeline_result(logits, inputs, spec, **settings)
        results = {}
        for name in self._task_names(task_name):
            spec = self.model.config.tasks[name]
            task_type = task_type_of(spec)
            logits, inputs = model_outputs[name], model_outputs
            if task_type.input_kind == "tokens":
                logits, inputs = self._own_tokens(logits, model_outputs.get(_TAGGED, model_outputs))
            results[name] = task_type.pipeline_result(logits, inputs, spec, **settings)
        return results[task_name] if isinstance(task_name, str) else results

    @staticmethod
    def _own_tokens(logits: torch.Tensor, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """
        One text's per-token logits and token extras without the padding a batch of several texts added (collated
        `word_ids` are padded with 0, which would read as a first word).
        """
        if _MASK not in inputs:
            return logits, inputs
        keep = inputs[_MASK][0].bool()
        extras = {key: inputs[key][:, keep] for key in ("word_ids", "offset_mapping")}
        return logits[:, keep], {**inputs, **extras}
