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


class MTDNNPipeline(Pipeline):
    r"""
    Text classification and entity recognition with an MT-DNN model: single texts or sentence pairs in, label names
    and scores (or entities) out.

    Inputs: a string, a `{"text": ..., "text_pair": ...}` dict or a `(text, text_pair)` tuple; a list of those for
    several inputs. Call arguments:

    - `task_name` (`str`, `list[str]` or `None`): one task gives that task's result; a list, or `None` (the default),
      gives `{task: result}` for each task, all from one encoder pass.
    - `top_k` (`int` or `None`, defaults to 1): classification labels to return, best first; `None` for all.

    A classification result is `{"label", "score"}` (a list of them when `top_k != 1`); regression and ranking
    results are `{"score": value}`. A token-classification (NER) result is the list of entities found, each
    `{"entity_group", "score", "word", "start", "end"}`: words are tagged by their first sub-token (as trained),
    consecutive words of one type join into an entity (a `B-` tag starts a new one), `score` is the mean of the words'
    tag probabilities, and `start` / `end` are character offsets into the text (`word == text[start:end]`). A span
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

    def __call__(self, inputs: Any, *args, batch_size: int | None = None, **kwargs):
        size = batch_size if batch_size is not None else self._batch_size
        if size not in (None, 1) and self._span_tasks(kwargs.get("task_name")):
            raise ValueError(
                f"Span-extraction tasks {self._span_tasks(kwargs.get('task_name'))} read each input's context windows "
                f"as one batch, so they run with batch_size 1, got {size}; call them without batch_size."
            )
        return super().__call__(inputs, *args, batch_size=batch_size, **kwargs)

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
        windows = {"max_seq_len": max_seq_len, "doc_stride": doc_stride}
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
        self, inputs: Any, task_name: Any = None, max_seq_len: int = 384, doc_stride: int = 128
    ) -> dict[str, torch.Tensor]:
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
        return outputs

    def postprocess(
        self,
        model_outputs: dict[str, Any],
        task_name: Any = None,
        top_k: int | None = 1,
        max_answer_len: int = 30,
        n_best_size: int = 20,
    ) -> Any:
        results = {}
        for name in self._task_names(task_name):
            spec = self.model.config.tasks[name]
            task_type = task_type_of(spec)
            inputs = model_outputs.get(_TAGGED, model_outputs) if task_type.input_kind == "tokens" else model_outputs
            results[name] = task_type.pipeline_result(
                model_outputs[name], inputs, spec, top_k=top_k, max_answer_len=max_answer_len, n_best_size=n_best_size
            )
        return results[task_name] if isinstance(task_name, str) else results
