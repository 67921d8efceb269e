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
    tag probabilities, and `start` / `end` are character offsets into the text (`word == text[start:end]`).

    Example:

    ```python
    >>> from transformers import pipeline
    >>> classifier = pipeline("mtdnn", model="org/mt-dnn", trust_remote_code=True)  # doctest: +SKIP
    >>> pair = {"text": "A man plays a guitar.", "text_pair": "Someone makes music."}
    >>> classifier(pair, task_name="rte")  # doctest: +SKIP
    {'label': 'entailment', 'score': 0.93}
    ```
    """

    def _sanitize_parameters(self, task_name: Any = None, top_k: Any = 1, **kwargs):
        names = self._task_names(task_name)
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
        return {"task_name": task_name}, {"task_name": task_name}, {"task_name": task_name, "top_k": top_k}

    def _task_names(self, task_name: Any) -> list[str]:
        """The tasks a call runs, checked: all of them for `None`."""
        if task_name is None:
            return list(self.model.config.tasks)
        names = [task_name] if isinstance(task_name, str) else list(task_name)
        for name in names:
            self.model.config.get_task(name)
        return names

    def preprocess(self, inputs: Any, task_name: Any = None) -> dict[str, torch.Tensor]:
        if isinstance(inputs, str):
            text, pair = inputs, None
        elif isinstance(inputs, dict) and "text" in inputs:
            text, pair = inputs["text"], inputs.get("text_pair")
        elif isinstance(inputs, tuple) and len(inputs) == 2:
            text, pair = inputs
        else:
            raise ValueError(
                "MTDNNPipeline takes a string, a {'text': ..., 'text_pair': ...} dict or a (text, text_pair) "
                f"tuple, got {inputs!r}."
            )
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

    def _forward(self, model_inputs: dict[str, Any], task_name: Any = None) -> dict[str, Any]:
        # A flat dict of tensors: the pipeline's batching (`batch_size > 1`) splits each one back into examples.
        extras = {key: model_inputs.pop(key) for key in ("offset_mapping", "word_ids", "text") if key in model_inputs}
        return dict(self.model(**model_inputs, task_name=self._task_names(task_name)).task_logits) | extras

    def postprocess(self, model_outputs: dict[str, Any], task_name: Any = None, top_k: int | None = 1) -> Any:
        results = {}
        for name in self._task_names(task_name):
            logits = model_outputs[name]
            spec = self.model.config.tasks[name]
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
