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
One class per task type (classification, regression, ranking, token classification, span extraction): what its spec
holds, its labels, the shape of its logits, its loss, how its logits decode into predictions, and how it exports.
Every other part of MT-DNN asks the task type instead of comparing `task_type` strings; a new task type is one class
here (registered in `TASK_TYPE_CLASSES`) and its tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from .decoding import (
    UNSEEN_WORD,
    best_answers,
    class_predictions,
    group_entities,
    is_entity_tag,
    ranking_predictions,
    regression_predictions,
    tags_at,
    word_starts,
    word_tags,
)
from .losses import IGNORE_INDEX, classification_loss, ranking_loss, regression_loss, span_loss

__all__ = [
    "LOSS_FUNCTIONS",
    "MAX_NUM_LABELS",
    "TASK_TYPES",
    "TASK_TYPE_CLASSES",
    "TAG_SCHEMES",
    "ClassificationTaskType",
    "RankingTaskType",
    "RegressionTaskType",
    "SpanExtractionTaskType",
    "TaskType",
    "TokenClassificationTaskType",
    "check_fraction",
    "check_positive",
    "compute_task_loss",
    "fail",
    "get_task_type",
    "is_number",
    "task_type_of",
]


# A token-classification head's tag schemes: entity tags (IOB2, IOB1, IOBES) or any tag per word (part of speech).
TAG_SCHEMES = ("entities", "tags")
# The most classes a head may have: a bound on what a config.json or head_config.json can make the model allocate.
MAX_NUM_LABELS = 100_000


def fail(task: str, field: str, value: Any, allowed: str) -> ValueError:
    """The error of a bad task field: the task, the field, what is allowed and the value received."""
    return ValueError(f"Task '{task}': field '{field}' must be {allowed}, got {value!r}.")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(task: str, field: str, value: Any) -> float:
    if not is_number(value) or value <= 0:
        raise fail(task, field, value, "a positive number")
    return float(value)


def check_fraction(task: str, field: str, value: Any) -> float:
    if not is_number(value) or not 0.0 <= value < 1.0:
        raise fail(task, field, value, "a number in [0, 1)")
    return float(value)


def _normalize_id2label(task: str, id2label: Any, num_labels: Any) -> dict[int, str]:
    if not isinstance(id2label, dict) or not id2label:
        raise fail(task, "id2label", id2label, "a non-empty dict mapping 0..num_labels-1 to label names")
    try:
        normalized = {int(key): value for key, value in id2label.items()}
    except (TypeError, ValueError):
        raise fail(task, "id2label", id2label, "a dict whose keys are integers (or their strings)") from None
    if sorted(normalized) != list(range(len(normalized))):
        raise fail(task, "id2label", id2label, f"a dict with keys 0..{len(normalized) - 1} and no gaps")
    names = [normalized[i] for i in range(len(normalized))]
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        raise fail(task, "id2label", id2label, "a dict whose values are distinct non-empty strings")
    if num_labels is not None and num_labels != len(normalized):
        raise ValueError(
            f"Task '{task}': field 'num_labels' is {num_labels!r} but 'id2label' names {len(normalized)} labels; "
            "give one of them or make them agree."
        )
    return {i: names[i] for i in range(len(names))}


def _has_column(features: Any, column: str) -> bool:
    """Whether prepared rows (a `datasets.Dataset` or a dict of columns) have `column`."""
    names = getattr(features, "column_names", None)
    return column in (names if names is not None else features)


def _tag_name(tag: Any, id2label: dict[int, str]) -> str:
    """A decoded tag id's name; `O` for a word the model never saw (`UNSEEN_WORD`)."""
    return "O" if int(tag) == UNSEEN_WORD else id2label[int(tag)]


class TaskType:
    r"""
    What one kind of task is, for the model, the data, evaluation and export alike. Subclasses set the class
    attributes and override the methods whose default does not fit; instances hold no state.

    Class attributes:
        name (`str`): the `task_type` of a task spec.
        input_kind (`str`): the data preparation the task reads: `"sentences"` (one text or a pair per row),
            `"tokens"` (a list of words per row, one label per word) or `"spans"` (a question, a context and
            answers, read in windows).
        has_classes (`bool`): the head predicts classes (`num_labels` >= 2, `id2label`).
        heads (`tuple[str, ...]`): the head modules (`head` field) the type can use.
        forced_inputs (`str` or `None`): the only `inputs` the type reads (`"pair"`, `"single"`), when it is fixed.
        groups_candidates (`bool`): rows come as groups of candidates `(groups, candidates, seq_len)` (ranking).
        per_token (`bool`): the head reads every token's state and gives logits per token.
        single_score (`bool`): the head gives one score per sequence (`(batch,)` logits).
        predicts_value (`bool`): the output is a real value (MSE, not a distribution).
        hub_task (`str`): the Hub's task tag (`text-classification`, ...).
        metric_kind (`str`): what its metrics compare: `classes` (class ids, ranking's per-pair labels too),
            `regression` (real values), `tokens` (tags per word) or `spans` (answers).
        prediction_file (`str`): the format of its prediction file: `tsv` (a row per example) or `json` (SQuAD's
            `{question id: answer}`).
        export_output_layer (`str`): the attribute of the exported transformers model that holds the head's linear
            layer (`classifier`, `qa_outputs`).
        extra_fields (`dict[str, Any]`): spec fields only this type has, with their defaults.
        loss_function: the pure loss of [`~modeling_mtdnn.losses`] the type trains with.
    """

    name: ClassVar[str]
    input_kind: ClassVar[str] = "sentences"
    has_classes: ClassVar[bool] = False
    heads: ClassVar[tuple[str, ...]] = ("linear",)
    forced_inputs: ClassVar[str | None] = None
    groups_candidates: ClassVar[bool] = False
    per_token: ClassVar[bool] = False
    single_score: ClassVar[bool] = False
    predicts_value: ClassVar[bool] = False
    hub_task: ClassVar[str] = "text-classification"
    extra_fields: ClassVar[dict[str, Any]] = {}
    label_unit: ClassVar[str] = "example"
    export_output_layer: ClassVar[str] = "classifier"
    prediction_file: ClassVar[str] = "tsv"
    metric_kind: ClassVar[str] = "classes"
    loss_function: ClassVar[Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -------------------------------------------------------------------------------------------------- spec
    def complete_labels(self, task: str, spec: dict[str, Any], num_labels: int | None) -> dict[str, Any]:
        """The `num_labels` (and `id2label`) part of a completed spec: one output for types without classes."""
        if num_labels not in (None, 1):
            raise fail(task, "num_labels", num_labels, f"1 (or left out) for task_type '{self.name}'")
        if spec.get("id2label") is not None:
            raise fail(task, "id2label", spec["id2label"], f"left out for task_type '{self.name}' (it has no classes)")
        return {"num_labels": 1}

    def check_inputs(self, task: str, inputs: Any) -> None:
        """Refuses an `inputs` value the type cannot read."""

    def check_extra_field(self, task: str, field: str, value: Any) -> Any:
        """Checks and returns the value of one of the type's `extra_fields`."""
        return value

    # ---------------------------------------------------------------------------------------- logits and loss
    def shape_logits(
        self, logits: torch.Tensor, group_shape: torch.Size, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The head's logits as the task returns them (ranking: one row of scores per group)."""
        return logits

    def label_shape(self, logits: torch.Tensor) -> tuple[int, ...]:
        """The shape `labels` must have for `logits`."""
        return (logits.shape[0],)

    def label_limit(self, spec: dict[str, Any], logits: torch.Tensor) -> int | None:
        """Labels must lie in `[0, limit)` (or be -100); `None` for real-valued labels."""
        return None

    def allowed_labels(self, spec: dict[str, Any], limit: int) -> str:
        return f"class ids 0..{limit - 1}"

    def check_labels(
        self,
        task_name: str,
        spec: dict[str, Any],
        logits: torch.Tensor,
        labels: torch.Tensor,
        check_values: bool = True,
    ) -> None:
        """
        Refuses labels of the wrong shape, dtype or range, naming the task and the fix. The range check reads a flag
        from the device (a host-device sync); `check_values=False` leaves it to the loss function (a training step
        of the model skips it: its labels were checked when the data was prepared).
        """
        expected = self.label_shape(logits)
        if tuple(labels.shape) != expected and not (len(expected) == 1 and labels.numel() == expected[0]):
            raise ValueError(
                f"Task '{task_name}' ({self.name}): labels of shape {tuple(labels.shape)} do not match logits of "
                f"shape {tuple(logits.shape)}; give one label per {self.label_unit}."
            )
        if self.has_classes and labels.is_floating_point():
            raise ValueError(
                f"Task '{task_name}' ({self.name}): labels must be integer class ids, got dtype {labels.dtype}; "
                "map label names to ids with the task's label2id first."
            )
        limit = self.label_limit(spec, logits)
        if limit is None or not check_values:
            return
        bad = ((labels < 0) | (labels >= limit)) & (labels != IGNORE_INDEX)
        if bad.any():
            value = labels[bad][0].item()
            raise ValueError(
                f"Task '{task_name}' ({self.name}): label {value} is out of range; labels must be "
                f"{self.allowed_labels(spec, limit)}, or {IGNORE_INDEX} to ignore an example."
            )

    def loss(
        self,
        task_name: str,
        spec: dict[str, Any],
        logits: torch.Tensor,
        labels: torch.Tensor,
        check_values: bool = True,
    ) -> torch.Tensor:
        """The task's loss on one batch, its labels checked (see `check_labels`), times its `loss_weight`."""
        self.check_labels(task_name, spec, logits, labels, check_values)
        return type(self).loss_function(logits, labels, spec) * spec["loss_weight"]

    def collate_labels(self, labels: list[Any], length: int, left_padding: bool) -> torch.Tensor:
        """One batch's `labels` column as a tensor (`length`: the padded sequence length)."""
        dtype = torch.float32 if self.predicts_value else torch.long
        return torch.tensor(labels, dtype=dtype)

    # ---------------------------------------------------------------------------------------------- decoding
    def decode(self, logits: Any, features: Any = None, *, task_name: str | None = None, **settings) -> Any:
        """
        Predictions from the logits of a whole evaluation set (`features`: its prepared rows, for the types that read
        them): class ids, scores, per-pair class ids, tag id lists per row, or answers per example.
        """
        raise NotImplementedError

    def references(self, features: Any) -> Any:
        """The gold labels of prepared rows, in the form `decode` predicts."""
        column = "pair_labels" if "pair_labels" in features.column_names else "labels"
        return np.asarray(features[column])

    def metric_inputs(self, predictions: Any, references: Any, spec: dict[str, Any]) -> tuple[Any, Any]:
        """`decode`'s predictions and `references` in the form the task's metric reads them."""
        return predictions, references

    def format_prediction(self, value: Any, spec: dict[str, Any]) -> str:
        """One prediction as a prediction file writes it."""
        return spec["id2label"][int(value)] if spec.get("id2label") else str(value)

    def pipeline_result(self, logits: torch.Tensor, inputs: dict[str, Any], spec: dict[str, Any], **settings) -> Any:
        """
        The `mtdnn` pipeline's result for one input from its logits (`(1, ...)`, or `(windows, seq_len, 2)` for
        span extraction) and the pipeline's extra inputs (`offset_mapping`, `word_ids`, `text`, `in_context`).
        """
        return {"score": logits[0].float().reshape(-1)[0].item()}

    def describe_labels(self, spec: dict[str, Any]) -> str:
        """What the head predicts, in a few words (the model card's task table)."""
        return ", ".join(spec["id2label"][i] for i in sorted(spec["id2label"]))

    # ------------------------------------------------------------------------------------------------ export
    def export_auto_class(self):
        """The transformers auto class a linear head of this type exports to (see `export_task`)."""
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        """Sets what the exported model's config needs (labels, problem type)."""

    def finish_export(self, output_layer: torch.nn.Linear, spec: dict[str, Any]) -> None:
        """Adjusts the exported output layer's weights, when the type's loss scales its logits."""


class ClassificationTaskType(TaskType):
    """Single-sentence or pairwise classification: `(batch, num_labels)` logits, cross-entropy (the SAN head too)."""

    name = "classification"
    has_classes = True
    heads = ("linear", "san")
    label_unit = "example"
    loss_function = staticmethod(classification_loss)

    def complete_labels(self, task: str, spec: dict[str, Any], num_labels: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if num_labels is not None and num_labels > MAX_NUM_LABELS:  # before any label name is made for it
            raise fail(task, "num_labels", num_labels, f"an integer from 2 to {MAX_NUM_LABELS}")
        if spec.get("id2label") is not None:
            out["id2label"] = _normalize_id2label(task, spec["id2label"], num_labels)
            num_labels = len(out["id2label"])
        elif num_labels is None:
            raise ValueError(f"Task '{task}': a {self.name} task needs 'num_labels' or 'id2label'; neither was given.")
        else:
            out["id2label"] = {i: f"LABEL_{i}" for i in range(num_labels)}
        if num_labels < 2:
            raise fail(task, "num_labels", num_labels, f"at least 2 for {self.name} (use 2 for binary tasks)")
        if num_labels > MAX_NUM_LABELS:
            raise fail(task, "id2label", f"{num_labels} labels", f"at most {MAX_NUM_LABELS} labels")
        out["num_labels"] = num_labels
        return out

    def label_limit(self, spec: dict[str, Any], logits: torch.Tensor) -> int | None:
        return spec["num_labels"]

    def allowed_labels(self, spec: dict[str, Any], limit: int) -> str:
        return f"class ids 0..{limit - 1} ({list(spec['id2label'].values())})"

    def decode(self, logits: Any, features: Any = None, *, task_name: str | None = None, **settings) -> np.ndarray:
        return class_predictions(logits, task_name=task_name)

    def pipeline_result(
        self, logits: torch.Tensor, inputs: dict[str, Any], spec: dict[str, Any], top_k: int | None = 1, **settings
    ) -> Any:
        # SAN heads return log-probabilities, for which softmax is the identity on probabilities.
        probabilities = torch.softmax(logits[0].float(), dim=-1)
        order = torch.argsort(probabilities, descending=True).tolist()
        ranked = [{"label": spec["id2label"][i], "score": probabilities[i].item()} for i in order]
        return ranked[0] if top_k == 1 else ranked[:top_k]

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        encoder_config.id2label = dict(spec["id2label"])
        encoder_config.label2id = {label: i for i, label in spec["id2label"].items()}
        encoder_config.problem_type = "single_label_classification"


class RegressionTaskType(TaskType):
    """Text similarity (STS-B): one real score per sequence, `(batch,)`, mean squared error."""

    name = "regression"
    single_score = True
    predicts_value = True
    metric_kind = "regression"
    loss_function = staticmethod(regression_loss)

    def decode(self, logits: Any, features: Any = None, *, task_name: str | None = None, **settings) -> np.ndarray:
        return regression_predictions(logits, task_name=task_name)

    def format_prediction(self, value: Any, spec: dict[str, Any]) -> str:
        return f"{value:.4f}"

    def describe_labels(self, spec: dict[str, Any]) -> str:
        return "real-valued score"

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        encoder_config.num_labels = 1
        encoder_config.problem_type = "regression"


class RankingTaskType(TaskType):
    """
    Pairwise ranking (QNLI): one relevance score per (query, candidate) pair; trained on `(groups, candidates,
    seq_len)` inputs with the softmax over `ranking_gamma * score` of a group's candidates (NLL of the positive).
    """

    name = "ranking"
    forced_inputs = "pair"
    groups_candidates = True
    single_score = True
    extra_fields = {"ranking_gamma": 1.0}
    label_unit = "group of candidates"
    loss_function = staticmethod(ranking_loss)

    def check_inputs(self, task: str, inputs: Any) -> None:
        if inputs == "single":
            raise fail(task, "inputs", inputs, "'pair' for task_type 'ranking' (a query and a candidate)")

    def check_extra_field(self, task: str, field: str, value: Any) -> Any:
        return check_positive(task, field, value)

    def shape_logits(
        self, logits: torch.Tensor, group_shape: torch.Size, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        logits = logits.view(group_shape)
        if len(group_shape) == 2:  # (groups, candidates): an all-padding candidate scores lowest
            is_candidate = attention_mask.view(*group_shape, -1).any(dim=-1)
            logits = logits.masked_fill(~is_candidate, torch.finfo(logits.dtype).min)
        return logits

    def label_limit(self, spec: dict[str, Any], logits: torch.Tensor) -> int | None:
        return logits.shape[-1]

    def allowed_labels(self, spec: dict[str, Any], limit: int) -> str:
        return f"candidate indices 0..{limit - 1}"

    def decode(
        self, logits: Any, features: Any = None, *, task_name: str | None = None, positive_label: int = 0, **settings
    ) -> np.ndarray:
        return ranking_predictions(logits, features["group_id"], positive_label, task_name=task_name)

    def describe_labels(self, spec: dict[str, Any]) -> str:
        return "relevance score per candidate"

    def export_auto_class(self):
        from transformers import AutoModelForMultipleChoice

        return AutoModelForMultipleChoice

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        encoder_config.num_labels = 1
        encoder_config.mtdnn_ranking_gamma = spec["ranking_gamma"]

    def finish_export(self, output_layer: torch.nn.Linear, spec: dict[str, Any]) -> None:
        # The ranking loss is a softmax over gamma * score: folded into the classifier, the exported model's logits,
        # softmax and multiple-choice loss are those of MT-DNN's ranking loss (argmax unchanged).
        with torch.no_grad():
            output_layer.weight.mul_(spec["ranking_gamma"])
            output_layer.bias.mul_(spec["ranking_gamma"])


class TokenClassificationTaskType(ClassificationTaskType):
    """
    Token classification (NER): `(batch, seq_len, num_labels)` logits, cross-entropy over the labelled tokens (a
    word's first sub-token; -100 elsewhere), as `BertForTokenClassification`. Tag names follow a scheme that seqeval
    scores and the pipeline decodes alike (IOB2 such as CoNLL-2003's `B-PER` / `I-PER` / `O`, IOB1 or IOBES; see
    [`~modeling_mtdnn.decoding.entity_spans`]).
    """

    name = "token_classification"
    input_kind = "tokens"
    heads = ("linear",)
    per_token = True
    hub_task = "token-classification"
    metric_kind = "tokens"
    label_unit = "token (-100 for the unlabelled ones)"
    # `entities`: tags of an entity scheme (NER, chunks), grouped into entities; `tags`: any tag names (POS), one per
    # word, scored by tag accuracy.
    extra_fields = {"tag_scheme": "entities"}

    def complete_labels(self, task: str, spec: dict[str, Any], num_labels: int | None) -> dict[str, Any]:
        """
        The classes of the head; with `tag_scheme` `entities` (the default), tag names given in `id2label` (a task
        file's `label_names`) must be `O` or start with `B-`, `I-`, `E-` or `S-`: seqeval reads any other name
        wrongly (`PER` as prefix `P` of type `ER`, `ORG` as outside) and the pipeline would find no entity in it. The
        `LABEL_<i>` placeholders of a spec with `num_labels` only are kept: such a head has no tag names to score or
        decode. With `tag_scheme` `tags` (part-of-speech tags such as `NN`, `VBZ`), any distinct names are taken.
        """
        scheme = self.check_extra_field(task, "tag_scheme", spec.get("tag_scheme", "entities"))
        out = super().complete_labels(task, spec, num_labels)
        if spec.get("id2label") is None or scheme == "tags":
            return out
        bad = [tag for tag in out["id2label"].values() if not is_entity_tag(tag)]
        if bad:
            seqeval_type = bad[0][1:].split("-", 1)[-1] or "_"
            raise ValueError(
                f"Task '{task}': field 'id2label' (a task file's 'label_names') holds the tag {bad[0]!r}"
                + (f" (and {len(bad) - 1} more: {bad[1:]})" if len(bad) > 1 else "")
                + ", but every tag must be 'O' or 'B-', 'I-', 'E-' or 'S-' followed by the entity type (IOB2, IOB1 "
                f"or IOBES): seqeval would score {bad[0]!r} as prefix {bad[0][:1]!r} of type {seqeval_type!r} and the "
                "pipeline would find no entity in it. Prefix the tags as IOB2 does: 'B-PER' on an entity's first "
                "word, 'I-PER' on the next ones, 'O' outside (BILOU's L- becomes I-, U- becomes B-). Tags that "
                "name no entities (part of speech) take tag_scheme: tags instead."
            )
        return out

    def check_extra_field(self, task: str, field: str, value: Any) -> Any:
        if value not in TAG_SCHEMES:
            raise fail(
                task,
                field,
                value,
                f"one of {list(TAG_SCHEMES)} ('entities': B-/I- tags grouped into entities, scored with seqeval; "
                "'tags': any tag per word, such as part of speech, scored by tag accuracy)",
            )
        return value

    def check_inputs(self, task: str, inputs: Any) -> None:
        if inputs == "pair":
            raise fail(task, "inputs", inputs, "'single' or left out for task_type 'token_classification' (one text)")

    def label_shape(self, logits: torch.Tensor) -> tuple[int, ...]:
        return tuple(logits.shape[:2])

    def collate_labels(self, labels: list[Any], length: int, left_padding: bool) -> torch.Tensor:
        tags = torch.full((len(labels), length), IGNORE_INDEX, dtype=torch.long)
        for i, row in enumerate(labels):
            values = torch.as_tensor(row[:length], dtype=torch.long)
            if left_padding:
                tags[i, length - len(values) :] = values
            else:
                tags[i, : len(values)] = values
        return tags

    def decode(
        self, logits: Any, features: Any = None, *, task_name: str | None = None, **settings
    ) -> list[list[int]]:
        """
        Each row's tag ids, one per word, read at the word's first sub-token (`features["word_ids"]`). Rows prepared
        with their word count (`num_words`, as `prepare_tokens` keeps it) get one entry per word, `UNSEEN_WORD`
        (-100) for a word the model never saw (no tokens, or cut off by `max_seq_length`), so every word keeps its
        place; rows without it get the tags of the words seen, in order.
        """
        logits = np.asarray(logits)
        if not _has_column(features, "num_words"):
            return [tags_at(row, word_starts(word_ids)) for row, word_ids in zip(logits, features["word_ids"])]
        return [
            word_tags(row, word_ids, count)
            for row, word_ids, count in zip(logits, features["word_ids"], features["num_words"])
        ]

    def references(self, features: Any) -> list[list[int]]:
        """Each row's gold tag ids: of every word (`word_tags`) where the rows keep them, else of the words seen."""
        if _has_column(features, "word_tags"):
            return [list(row) for row in features["word_tags"]]
        return [[tag for tag in row if tag != IGNORE_INDEX] for row in features["labels"]]

    def metric_inputs(self, predictions: Any, references: Any, spec: dict[str, Any]) -> tuple[Any, Any]:
        """Tag names, as seqeval reads them; a word the model never saw is predicted `O` (a gold entity is missed)."""
        names = spec["id2label"]
        return [[_tag_name(tag, names) for tag in row] for row in predictions], [
            [names[tag] for tag in row] for row in references
        ]

    def format_prediction(self, value: Any, spec: dict[str, Any]) -> str:
        """The tags of one row, space-separated, one per word; `O` for a word the model never saw (`UNSEEN_WORD`)."""
        return " ".join(_tag_name(tag, spec["id2label"]) for tag in value)

    def unseen_words(self, value: Any) -> list[int]:
        """The positions of the words of one decoded row that the model never saw (tagged `O` in prediction files)."""
        return [position for position, tag in enumerate(value) if int(tag) == UNSEEN_WORD]

    def pipeline_result(self, logits: torch.Tensor, inputs: dict[str, Any], spec: dict[str, Any], **settings) -> Any:
        """
        The entities of the text: each word tagged at its first sub-token (as trained), grouped as seqeval groups the
        tags it scores ([`~modeling_mtdnn.decoding.entity_spans`]). With `tag_scheme` `tags`, every word and its tag
        instead: `{"word", "tag", "score", "start", "end"}` per word, in order.
        """
        probabilities = torch.softmax(logits[0].float(), dim=-1)
        word_ids = inputs["word_ids"].reshape(-1).tolist()
        offsets = inputs["offset_mapping"].reshape(-1, 2).tolist()
        starts = word_starts(word_ids)
        tags = tags_at(probabilities, starts)
        words = []  # (tag, score, start, end) per word; a word's later sub-tokens widen its end
        for position, tag in zip(starts, tags):
            end = position
            while end + 1 < len(word_ids) and word_ids[end + 1] == word_ids[position]:
                end += 1
            words.append(
                (spec["id2label"][tag], probabilities[position, tag].item(), offsets[position][0], offsets[end][1])
            )
        if spec.get("tag_scheme") == "tags":
            text = inputs["text"]
            return [
                {"word": text[start:end], "tag": tag, "score": score, "start": start, "end": end}
                for tag, score, start, end in words
            ]
        return group_entities(words, inputs["text"])

    def export_auto_class(self):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        encoder_config.id2label = dict(spec["id2label"])
        encoder_config.label2id = {label: i for i, label in spec["id2label"].items()}


class SpanExtractionTaskType(TaskType):
    """
    Extractive question answering (SQuAD): a start and an end logit per token, `(batch, seq_len, 2)`; the mean of
    the start and end cross-entropies, as `BertForQuestionAnswering`. Answers decode with the n-best rule of
    transformers' question-answering examples ([`best_answers`]).
    """

    name = "span_extraction"
    input_kind = "spans"
    forced_inputs = "pair"
    per_token = True
    hub_task = "question-answering"
    export_output_layer = "qa_outputs"
    prediction_file = "json"
    metric_kind = "spans"
    label_unit = "example: its answer's (start, end) token positions, shape (batch, 2)"
    loss_function = staticmethod(span_loss)

    def complete_labels(self, task: str, spec: dict[str, Any], num_labels: int | None) -> dict[str, Any]:
        if num_labels not in (None, 2):
            raise fail(task, "num_labels", num_labels, "2 (or left out) for task_type 'span_extraction' (start, end)")
        if spec.get("id2label") is not None:
            raise fail(
                task, "id2label", spec["id2label"], "left out for task_type 'span_extraction' (it has no classes)"
            )
        return {"num_labels": 2}

    def check_inputs(self, task: str, inputs: Any) -> None:
        if inputs == "single":
            raise fail(task, "inputs", inputs, "'pair' for task_type 'span_extraction' (a question and a context)")

    def label_shape(self, logits: torch.Tensor) -> tuple[int, ...]:
        return (logits.shape[0], 2)

    def label_limit(self, spec: dict[str, Any], logits: torch.Tensor) -> int | None:
        return logits.shape[1]

    def allowed_labels(self, spec: dict[str, Any], limit: int) -> str:
        return f"token positions 0..{limit - 1}"

    def collate_labels(self, labels: list[Any], length: int, left_padding: bool) -> torch.Tensor:
        return torch.tensor([[label["start"], label["end"]] for label in labels], dtype=torch.long)

    def decode(
        self,
        logits: Any,
        features: Any = None,
        *,
        task_name: str | None = None,
        n_best_size: int = 20,
        max_answer_length: int = 30,
        **settings,
    ) -> dict:
        """Example id -> its best answer over its windows (see [`best_answers`])."""
        return best_answers(logits, features, n_best_size, max_answer_length)

    def references(self, features: Any) -> dict:
        return dict(zip(features["example_id"], features["answer_texts"]))

    def metric_inputs(self, predictions: Any, references: Any, spec: dict[str, Any]) -> tuple[Any, Any]:
        examples = sorted(references)  # SQuAD reads each question's answer against its gold answers
        return [predictions[i]["answer"] for i in examples], [references[i] for i in examples]

    def format_prediction(self, value: Any, spec: dict[str, Any]) -> str:
        return value["answer"]

    def pipeline_result(
        self,
        logits: torch.Tensor,
        inputs: dict[str, Any],
        spec: dict[str, Any],
        max_answer_len: int = 30,
        n_best_size: int = 20,
        **settings,
    ) -> dict[str, Any]:
        """
        The answer that evaluation would score: the n-best rule of [`best_answers`] over all windows. Its `score` is
        the product of its start and end probabilities (softmax over its window's context tokens).
        """
        logits = logits.float()
        in_context = inputs["in_context"].bool()
        offsets = [
            [list(pair) if inside else [-1, -1] for pair, inside in zip(window.tolist(), mask.tolist())]
            for window, mask in zip(inputs["offset_mapping"], in_context)
        ]
        features = {
            "example_id": [0] * len(offsets),
            "offset_mapping": offsets,
            "context": [inputs["text"]] * len(offsets),
        }
        best = best_answers(logits.cpu().numpy(), features, n_best_size, max_answer_len)[0]
        if best["window"] < 0:
            return {"answer": "", "score": 0.0, "start": 0, "end": 0}
        lowest = torch.finfo(logits.dtype).min
        mask = in_context[best["window"]]
        start = torch.softmax(logits[best["window"], :, 0].masked_fill(~mask, lowest), dim=-1)[best["first"]]
        end = torch.softmax(logits[best["window"], :, 1].masked_fill(~mask, lowest), dim=-1)[best["last"]]
        return {"answer": best["answer"], "score": (start * end).item(), "start": best["start"], "end": best["end"]}

    def describe_labels(self, spec: dict[str, Any]) -> str:
        return "answer span in the context (start and end token)"

    def export_auto_class(self):
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering

    def configure_export(self, encoder_config: Any, spec: dict[str, Any]) -> None:
        encoder_config.num_labels = 2  # start, end


TASK_TYPE_CLASSES: dict[str, type[TaskType]] = {
    cls.name: cls
    for cls in (
        ClassificationTaskType,
        RegressionTaskType,
        RankingTaskType,
        TokenClassificationTaskType,
        SpanExtractionTaskType,
    )
}
TASK_TYPES = tuple(TASK_TYPE_CLASSES)
# The pure loss function each task type trains with.
LOSS_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]] = {
    name: cls.loss_function for name, cls in TASK_TYPE_CLASSES.items()
}
_INSTANCES = {name: cls() for name, cls in TASK_TYPE_CLASSES.items()}


def get_task_type(name: Any) -> TaskType:
    """The task type called `name`, or a `ValueError` listing the known ones."""
    task_type = _INSTANCES.get(name) if isinstance(name, str) else None
    if task_type is None:
        raise ValueError(f"Unknown task_type {name!r}; the known task types are {list(TASK_TYPES)}.")
    return task_type


def task_type_of(spec: dict[str, Any]) -> TaskType:
    """The task type of a (validated) task spec."""
    return get_task_type(spec["task_type"])


def compute_task_loss(
    task_name: str, spec: dict[str, Any], logits: torch.Tensor, labels: torch.Tensor, check_values: bool = True
) -> torch.Tensor:
    """
    The loss of one task's batch, computed by its task type, times the task's `loss_weight`. `check_values=False`
    skips the range check of the labels, the one check that reads from the device.

    Raises:
        `ValueError`: when `labels` does not have one entry per example (or per group, for ranking), or lies out of
            range.
    """
    return task_type_of(spec).loss(task_name, spec, logits, labels, check_values)
