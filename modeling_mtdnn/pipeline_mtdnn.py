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

__all__ = ["PIPELINE_TASK", "MTDNNPipeline"]

PIPELINE_TASK = "mtdnn"


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
    tokens (384) is read in windows sharing `doc_stride` tokens (128), and the best span over all windows, at most
    `max_answer_len` tokens (30), wins; `score` is the product of its start and end probabilities (softmax over the
    window's context tokens) and `start` / `end` index the context. Span tasks run one input at a time (`batch_size`
    1: the windows of one input are the batch); the other tasks of the call read the first window.

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

    def _span_tasks(self, task_name: Any) -> list[str]:
        tasks = self.model.config.tasks
        return [name for name in self._task_names(task_name) if tasks[name]["task_type"] == "span_extraction"]

    def _sanitize_parameters(
        self,
        task_name: Any = None,
        top_k: Any = 1,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        max_answer_len: int = 30,
        **kwargs,
    ):
        names = self._task_names(task_name)
        settings = {"max_seq_len": max_seq_len, "doc_stride": doc_stride, "max_answer_len": max_answer_len}
        for flag, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{flag} must be an int >= 1, got {value!r}.")
        if top_k is not None:
            most = max(
                (
                    self.model.config.tasks[name]["num_labels"]
                    for name in names
                    if self.model.config.tasks[name]["task_type"] == "classification"
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
            {"task_name": task_name, "top_k": top_k, "max_answer_len": max_answer_len},
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
            return self._windows(text, pair, max_seq_len, doc_stride)
        token_tasks = [
            name
            for name in self._task_names(task_name)
            if self.model.config.tasks[name]["task_type"] == "token_classification"
        ]
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
        names = ("offset_mapping", "word_ids", "text", "in_context")
        extras = {key: model_inputs.pop(key) for key in names if key in model_inputs}
        return dict(self.model(**model_inputs, task_name=self._task_names(task_name)).task_logits) | extras

    def postprocess(
        self, model_outputs: dict[str, Any], task_name: Any = None, top_k: int | None = 1, max_answer_len: int = 30
    ) -> Any:
        results = {}
        for name in self._task_names(task_name):
            logits = model_outputs[name]
            spec = self.model.config.tasks[name]
            if spec["task_type"] == "span_extraction":
                results[name] = self._answer(logits.float(), model_outputs, max_answer_len)
                continue
            values = logits[0].float()
            if spec["task_type"] == "token_classification":
                results[name] = self._entities(values, model_outputs, spec["id2label"])
                continue
            if spec["task_type"] != "classification":
                results[name] = {"score": values.reshape(-1)[0].item()}
                continue
            # SAN heads return log-probabilities, for which softmax is the identity on probabilities.
            probabilities = torch.softmax(values, dim=-1)
            order = torch.argsort(probabilities, descending=True).tolist()
            ranked = [{"label": spec["id2label"][i], "score": probabilities[i].item()} for i in order]
            results[name] = ranked[0] if top_k == 1 else ranked[:top_k]
        return results[task_name] if isinstance(task_name, str) else results

    @staticmethod
    def _entities(logits: torch.Tensor, outputs: dict[str, Any], id2label: dict[int, str]) -> list[dict[str, Any]]:
        """Entities from per-token logits `(seq_len, num_labels)`: one tag per word, read at its first sub-token."""
        probabilities = torch.softmax(logits, dim=-1)
        word_ids = outputs["word_ids"].reshape(-1).tolist()
        offsets = outputs["offset_mapping"].reshape(-1, 2).tolist()
        text = outputs["text"]
        words: list[tuple[str, float, int, int]] = []  # (tag, score, start, end) per word
        for position, word in enumerate(word_ids):
            if word < 0:
                continue
            start, end = offsets[position]
            if position > 0 and word_ids[position - 1] == word:  # a later sub-token widens its word
                tag, score, first, _ = words[-1]
                words[-1] = (tag, score, first, end)
                continue
            best = int(probabilities[position].argmax())
            words.append((id2label[best], probabilities[position, best].item(), start, end))
        entities: list[dict[str, Any]] = []
        scores: list[float] = []
        for tag, score, start, end in words:
            prefix, _, kind = tag.partition("-")
            if tag == "O" or not kind:
                scores = []
                continue
            current = entities[-1] if entities and scores else None
            if current is not None and prefix == "I" and current["entity_group"] == kind:
                current["end"] = end
                scores.append(score)
            else:
                current = {"entity_group": kind, "score": 0.0, "word": "", "start": start, "end": end}
                entities.append(current)
                scores = [score]
            current["score"] = sum(scores) / len(scores)
            current["word"] = text[current["start"] : current["end"]]
        return entities

    @staticmethod
    def _answer(logits: torch.Tensor, outputs: dict[str, Any], max_answer_len: int) -> dict[str, Any]:
        """The best span over all windows `(windows, seq_len, 2)`: start <= end, at most `max_answer_len` tokens."""
        in_context = outputs["in_context"].bool()
        offsets = outputs["offset_mapping"]
        text = outputs["text"]
        lowest = torch.finfo(logits.dtype).min
        best = {"answer": "", "score": 0.0, "start": 0, "end": 0}
        for window in range(logits.shape[0]):
            mask = in_context[window]
            if not mask.any():
                continue
            start = torch.softmax(logits[window, :, 0].masked_fill(~mask, lowest), dim=-1)
            end = torch.softmax(logits[window, :, 1].masked_fill(~mask, lowest), dim=-1)
            # every (start, end) pair's probability, keeping end >= start and at most max_answer_len tokens
            scores = torch.triu(torch.outer(start, end)) - torch.triu(torch.outer(start, end), diagonal=max_answer_len)
            flat = int(scores.argmax())
            first, last = divmod(flat, scores.shape[1])
            score = scores[first, last].item()
            if score > best["score"]:
                begin, finish = int(offsets[window, first, 0]), int(offsets[window, last, 1])
                best = {"answer": text[begin:finish], "score": score, "start": begin, "end": finish}
        return best
