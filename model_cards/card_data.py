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
"""`MTDNNModelCardData`: what a model card says beyond the model's own config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["METRIC_NAMES", "MTDNNModelCardData"]

# The metric names the evaluation reports (`eval_<key>_<metric>`), longest first for parsing keys.
METRIC_NAMES = ("matthews_correlation", "exact_match", "precision", "spearmanr", "accuracy", "pearson", "recall", "f1")


@dataclass
class MTDNNModelCardData:
    r"""
    The facts of a model card that the checkpoint's config does not hold. The task table, labels, heads and
    framework versions come from the model itself when the card is rendered.

    Given by the user:

    Args:
        model_id (`str`, *optional*):
            The Hub id the card's usage snippets load (`org/mt-dnn`); a placeholder when left out.
        model_name (`str`, *optional*):
            The card's title and the model-index name; derived from the encoder when left out.
        language (`str` or `list[str]`, *optional*, defaults to `"en"`):
            Language(s) of the training data.
        license (`str`, *optional*, defaults to `"apache-2.0"`):
            The model's license.
        tags (`list[str]`, *optional*):
            Extra Hub tags, added to `mt-dnn`, `multi-task-learning` and `text-classification`.

    Filled while training (by `training.MTDNNTrainer` and `run_mtdnn.py`):

    Args:
        task_datasets (`dict[str, dict[str, str]]`):
            Evaluation key (a task name, or `mnli_mm` for a task's extra dev set) to
            `{"dataset", "config", "split", "metric"}`: where its dev scores come from; with `"rows"` and
            `"split_rows"` when the scores are on the split's first `rows` examples (`max_eval_samples`).
        eval_results (`dict[str, float]`):
            The evaluation's `eval_<task>_<metric>` values (and `eval_average`).
        training_data (`dict[str, int]`):
            Training examples per task.
        data_settings (`dict[str, Any]`):
            How the training data were drawn: `train_fraction`, `max_train_samples`, `max_seq_length`, the local
            data folder, ...
        hyperparameters (`dict[str, Any]`):
            The training arguments worth reporting (optimizer, learning rate, batch size, epochs, sampling, ...).
        task_affinity (`dict[str, Any]`, *optional*):
            The task affinity measured during training (`--task_affinity_steps`): `{"method", "tasks", "matrix",
            "measurements", "every_steps", "probe_rows"}`, `matrix[i][j]` how a step on task `i` changes task `j`'s
            loss (see `mtdnn.training.task_affinity`).

    Example:

    ```python
    >>> card_data = MTDNNModelCardData(model_id="org/mt-dnn-base", eval_results={"eval_rte_accuracy": 0.71})
    >>> card_data.scores_of("rte")
    {'accuracy': 0.71}

    ```
    """

    model_id: str | None = None
    model_name: str | None = None
    language: str | list[str] | None = "en"
    license: str | None = "apache-2.0"
    tags: list[str] = field(default_factory=list)
    task_datasets: dict[str, dict[str, str]] = field(default_factory=dict)
    eval_results: dict[str, float] = field(default_factory=dict)
    training_data: dict[str, int] = field(default_factory=dict)
    data_settings: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    task_affinity: dict[str, Any] | None = None

    def evaluation_keys(self) -> list[str]:
        """The evaluated sets (`rte`, `mnli`, `mnli_mm`), in the order of `eval_results`."""
        keys = []
        for name in self.eval_results:
            key = self._split_key(name)
            if key is not None and key[0] not in keys:
                keys.append(key[0])
        return keys

    def scores_of(self, key: str) -> dict[str, float]:
        """`{metric: value}` of one evaluated set."""
        return {
            split[1]: value
            for name, value in self.eval_results.items()
            if (split := self._split_key(name)) is not None and split[0] == key
        }

    @staticmethod
    def _split_key(name: str) -> tuple[str, str] | None:
        if not name.startswith("eval_"):
            return None
        for metric in METRIC_NAMES:
            if name.endswith(f"_{metric}") and len(name) > len(f"eval__{metric}"):
                return name[len("eval_") : -len(metric) - 1], metric
        return None
