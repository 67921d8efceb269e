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
Preparation of the tasks that read a question and a context per row and answer with a span of the context (span
extraction: SQuAD), as windows over long contexts.
"""

from __future__ import annotations

import datasets
from transformers import PreTrainedTokenizerBase

from .data_checks import require_fast_tokenizer, where
from .task_files import TaskDataSpec

__all__ = ["prepare_spans"]


def _check_answers(spec: TaskDataSpec, dataset: datasets.Dataset, split: str | None) -> None:
    """
    Every answer is a span of its context: a text that is not only whitespace, and an `answer_start` inside the
    context where the text stands (`context[answer_start:][:len(text)] == text`). The error names the task, split,
    row and field.
    """
    context_column = spec.text_columns[1]
    for row, (context, answers) in enumerate(zip(dataset[context_column], dataset[spec.label_column])):
        at = f"Task '{spec.name}'{where(split)}, row {row}, field {spec.label_column!r}"
        if not isinstance(answers, dict) or set(answers) < {"text", "answer_start"}:
            raise ValueError(
                f"{at}: expected a mapping with 'text' and 'answer_start' lists (SQuAD's layout), got {answers!r}."
            )
        texts, starts = answers["text"], answers["answer_start"]
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise ValueError(f"{at}: 'text' and 'answer_start' must be lists of one length, got {answers!r}.")
        if not texts:
            raise ValueError(
                f"{at}: the question has no answer; unanswerable questions (SQuAD 2.0) are not supported yet. "
                "Drop those rows (dataset.filter) first."
            )
        for text, start in zip(texts, starts):
            if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int):
                raise ValueError(f"{at}: answer {text!r} at {start!r} must be a non-empty text and an int offset.")
            if not text.strip():
                raise ValueError(
                    f"{at}: answer text {text!r} (answer_start {start}) is only whitespace, which marks no span of "
                    "the context; give the answer's words, or drop the row (dataset.filter)."
                )
            if start < 0 or start + len(text) > len(context):
                raise ValueError(
                    f"{at}: answer_start {start} puts the answer {text!r} outside the context ({len(context)} "
                    "characters); answer_start must be the answer's character offset in the context, counted from 0 "
                    "(a negative one is not read from the end)."
                )
            if context[start : start + len(text)] != text:
                raise ValueError(
                    f"{at}: answer_start {start} points at {context[start : start + len(text)]!r}, not at the "
                    f"answer text {text!r}; answer_start must be the answer's character offset in the context."
                )


def _answer_span(text: str, start: int) -> tuple[int, int]:
    """The character span `[start, end)` of an answer's words: the whitespace around the text is left out."""
    start += len(text) - len(text.lstrip())
    return start, start + len(text.strip())


def prepare_spans(
    spec: TaskDataSpec,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    length: int,
    with_labels: bool,
    split: str | None,
) -> datasets.Dataset:
    """
    Question-context pairs as windows over the context (`doc_stride` tokens shared by consecutive ones), as
    transformers' question-answering examples build them. Each window (feature) keeps `example_id` (its row),
    `offset_mapping` (each token's character span in the context, [-1, -1] outside it) and `context`, and with labels
    `labels` = the tokens of the first answer's characters, whitespace around its text left out ((start, end); [CLS]
    twice where the window misses the answer), and `answer_texts` (every gold answer as given, for EM and F1, whose
    SQuAD normalisation strips them).
    """
    require_fast_tokenizer(spec, tokenizer, "mapping answers to tokens (offsets)")
    if with_labels:
        _check_answers(spec, dataset, split)
    question_column, context_column = spec.text_columns
    stride = spec.doc_stride if spec.doc_stride is not None else length // 4
    longest_question = max(
        len(tokenizer(question.lstrip(), add_special_tokens=False)["input_ids"])
        for question in dataset[question_column]
    )
    room = length - tokenizer.num_special_tokens_to_add(pair=True) - longest_question  # context tokens per window
    if stride >= room:
        raise ValueError(
            f"Task '{spec.name}'{where(split)}: doc_stride {stride} leaves no room for new context tokens in windows "
            f"of {length} tokens whose longest question takes {longest_question} (and {room} context tokens are "
            "left); lower doc_stride or raise max_seq_length."
        )

    def tokenize(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        encoded = tokenizer(
            [question.lstrip() for question in batch[question_column]],
            batch[context_column],
            truncation="only_second",
            max_length=length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        samples = encoded.pop("overflow_to_sample_mapping")
        features: dict[str, list] = {"example_id": [], "offset_mapping": [], "context": []}
        if with_labels:
            features |= {"labels": [], "answer_texts": []}
        for i, offsets in enumerate(encoded.pop("offset_mapping")):
            sample, sequence = samples[i], encoded.sequence_ids(i)
            features["example_id"].append(indices[sample])
            features["offset_mapping"].append([list(o) if s == 1 else [-1, -1] for o, s in zip(offsets, sequence)])
            features["context"].append(batch[context_column][sample])
            if not with_labels:
                continue
            answers = batch[spec.label_column][sample]
            features["answer_texts"].append(answers["text"])
            start_char, end_char = _answer_span(answers["text"][0], answers["answer_start"][0])
            first, last = sequence.index(1), len(sequence) - 1 - sequence[::-1].index(1)
            if offsets[first][0] > start_char or offsets[last][1] < end_char:
                features["labels"].append({"start": 0, "end": 0})  # the answer is not (whole) in this window
                continue
            start = first
            while start <= last and offsets[start][0] <= start_char:
                start += 1
            end = last
            while end >= first and offsets[end][1] >= end_char:
                end -= 1
            features["labels"].append({"start": start - 1, "end": end + 1})
        return dict(encoded) | features

    tokenized = dataset.map(
        tokenize,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        desc=f"Tokenizing {spec.name}",
    )
    return tokenized.add_column("task_name", [spec.name] * len(tokenized))
