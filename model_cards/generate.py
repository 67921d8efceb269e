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
"""Render and write MT-DNN model cards from `template.md`, offline: no Hub look-up while rendering."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import re
from pathlib import Path
from typing import Any

import huggingface_hub
import torch
import transformers
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.repocard_data import eval_results_to_model_index

import modeling_mtdnn
from modeling_mtdnn import MTDNNForMultiTask
from modeling_mtdnn.saving import atomic_file, saved_name
from modeling_mtdnn.task_types import task_type_of

from .card_data import MTDNNModelCardData

__all__ = [
    "AFFINITY_PLOT_FILE",
    "PLOT_FILE",
    "TEMPLATE_PATH",
    "affinity_reading",
    "generate_model_card",
    "plot_affinity",
    "plot_scores",
    "write_model_card",
]

TEMPLATE_PATH = Path(__file__).resolve().parent / "template.md"
PLOT_FILE = "dev_scores.png"
AFFINITY_PLOT_FILE = "task_affinity.png"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _hub_id(name: str | None) -> str | None:
    """`name` if it reads as a Hub id (not a local folder), else `None`."""
    if not name or os.path.exists(name) or not _HUB_ID.match(name):
        return None
    return name


def _base_model(model: MTDNNForMultiTask) -> str | None:
    """The encoder's Hub id: recorded by `from_encoder`, or (a config built from an encoder config) its name."""
    if model.config.encoder_name_or_path or model.config.encoder_fingerprint:
        return model.config.encoder_name_or_path
    return _hub_id(model.config.encoder_config.name_or_path)


def _task_of_key(model: MTDNNForMultiTask, key: str) -> str:
    """The task an evaluation key belongs to: itself, else the longest task name it extends (`mnli_mm` -> `mnli`)."""
    if key in model.config.tasks:
        return key
    owners = [task for task in model.config.tasks if key.startswith(f"{task}_")]
    return max(owners, key=len) if owners else key


def _dev_set(source: dict[str, Any]) -> str:
    """A dev set as the card names it: its split, and the part scored when `max_eval_samples` cut it."""
    split = source.get("split") or "validation"
    if source.get("rows") is not None:
        return f"{split} (first {source['rows']:,} of {source['split_rows']:,} rows)"
    return split


def _task_rows(model: MTDNNForMultiTask, card_data: MTDNNModelCardData) -> list[dict[str, str]]:
    """One row per task; a task scored on several dev sets (MNLI matched and mismatched) lists each in its cells."""
    rows = []
    keys = card_data.evaluation_keys()
    adapters = model.config.task_adapters or {}
    for name, spec in model.config.tasks.items():
        head = spec["head"] + (f" + LoRA adapter (r={adapters[name]['r']})" if name in adapters else "")
        own = [key for key in keys if _task_of_key(model, key) == name]
        metric = card_data.task_datasets.get(name, {}).get("metric", "")
        scores = {key: card_data.scores_of(key) for key in own}
        metrics = list(dict.fromkeys(metric for values in scores.values() for metric in values))
        rows.append(
            {
                "name": name,
                "task_type": spec["task_type"],
                "head": head,
                "labels": _table_cell(task_type_of(spec).describe_labels(spec)),
                "metric": ", ".join(metrics) or metric or "—",
                "dev_set": "<br>".join(_table_cell(_dev_set(card_data.task_datasets.get(key, {}))) for key in own)
                or "—",
                "score": "<br>".join(
                    ", ".join(_format_score(value) for value in values.values()) for values in scores.values()
                )
                or "<!-- not evaluated -->",
            }
        )
    return rows


def _table_cell(text: str) -> str:
    """Text that stays one cell of a Markdown table: `|` escaped, line breaks as spaces."""
    return " ".join(text.replace("|", "\\|").split())


def _format_score(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "undefined (NaN)"


class _TaskCardData(ModelCardData):
    """
    `ModelCardData` whose `model-index` has one result per task and dev set: huggingface_hub groups results by task
    type and dataset alone, which would list the heads of a task group (one dataset, one task type) under the first
    head's name. `_to_dict` is the hook `CardData` documents for subclasses.
    """

    def _to_dict(self, data_dict):
        super()._to_dict(data_dict)
        if self.eval_results is None:
            return
        results = []
        for task in dict.fromkeys(result.task_name for result in self.eval_results):
            own = [result for result in self.eval_results if result.task_name == task]
            results += eval_results_to_model_index(self.model_name, own)[0]["results"]
        data_dict["model-index"] = [{"name": self.model_name, "results": results}]


def _metadata(model: MTDNNForMultiTask, card_data: MTDNNModelCardData, model_name: str) -> ModelCardData:
    eval_results = []
    for key in card_data.evaluation_keys():
        task = _task_of_key(model, key)
        source = card_data.task_datasets.get(key) or card_data.task_datasets.get(task, {})
        if not source.get("dataset"):
            continue
        for metric, value in card_data.scores_of(key).items():
            if not math.isfinite(value):  # an undefined score (NaN Pearson) has no place in the Hub's model-index
                continue
            eval_results.append(
                EvalResult(
                    task_type=(
                        task_type_of(model.config.tasks[task]).hub_task
                        if task in model.config.tasks
                        else "text-classification"
                    ),
                    dataset_type=source["dataset"],
                    dataset_name=f"{source['dataset']} {source.get('config') or ''}".strip(),
                    dataset_config=source.get("config"),
                    # `validation_matched[:3000]` (the `datasets` slice) when only the first rows were scored
                    dataset_split=(source.get("split") or "validation")
                    + (f"[:{source['rows']}]" if source.get("rows") is not None else ""),
                    metric_type=metric,
                    metric_value=float(value),
                    task_name=task,
                )
            )
    datasets = sorted({source["dataset"] for source in card_data.task_datasets.values() if source.get("dataset")})
    return _TaskCardData(
        language=card_data.language,
        license=card_data.license,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=list(
            dict.fromkeys(
                ["mt-dnn", "multi-task-learning", "text-classification"]
                + [task_type_of(spec).hub_task for spec in model.config.tasks.values()]
                + list(card_data.tags)
            )
        ),
        base_model=_base_model(model),
        datasets=datasets or None,
        model_name=model_name,
        eval_results=eval_results or None,
    )


_SENTENCE = '"A gripping, funny film."'
_PAIR = '"A man plays a guitar.", "Someone makes music."'


def _usage(model: MTDNNForMultiTask) -> str:
    """Python lines that run each task on an input of its kind: a sentence, a pair, or a question's candidates."""
    lines, prepared = [], None
    for name, spec in model.config.tasks.items():
        task_type = task_type_of(spec)
        if task_type.input_kind == "tokens":
            lines += [
                'words = tokenizer("EU rejects German call", return_tensors="pt")',
                f'model(**words, task_name="{name}").logits  # (1, tokens, tags): each word tagged at its first token',
            ]
            prepared = None
            continue
        if task_type.input_kind == "spans":
            lines += [
                'qa = tokenizer("Who wrote Hamlet?", "Hamlet is a tragedy by Shakespeare.", return_tensors="pt")',
                f'model(**qa, task_name="{name}").logits  # (1, tokens, 2): start and end logits per token',
            ]
            prepared = None
            continue
        if task_type.groups_candidates:
            lines += [
                'question = "Who wrote Hamlet?"',
                'candidates = ["Shakespeare wrote Hamlet around 1600.", "Hamlet is a prince of Denmark."]',
                'pairs = tokenizer([question] * len(candidates), candidates, return_tensors="pt", padding=True)',
                f'model(**{{key: value[None] for key, value in pairs.items()}}, task_name="{name}").logits'
                "  # (1, candidates): one score each",
            ]
            prepared = None
            continue
        kind = "pair" if spec.get("inputs") == "pair" or spec["head"] == "san" else "single"
        if prepared != kind:
            text = _PAIR if kind == "pair" else _SENTENCE
            lines.append(f'inputs = tokenizer({text}, return_tensors="pt")')
            prepared = kind
        lines.append(f'model(**inputs, task_name="{name}").logits')
    if not any(line.startswith("inputs = ") for line in lines):
        lines.append(f'inputs = tokenizer({_PAIR}, return_tensors="pt")')
    lines.append("model(**inputs, task_name=None).task_logits  # {task: logits} from one encoder pass")
    return "\n".join(lines)


def generate_model_card(
    model: MTDNNForMultiTask,
    card_data: MTDNNModelCardData | None = None,
    plot_file: str | None = None,
    name: str | None = None,
    affinity_plot_file: str | None = None,
) -> ModelCard:
    """
    Renders the model card of `model` from `template.md`: YAML metadata (with a `model-index` of the dev results),
    the task table, usage with and without remote code, training data and hyperparameters, limitations, versions
    and the MT-DNN citation. Nothing is looked up on the Hub.

    Args:
        model ([`MTDNNForMultiTask`]): the model the card describes.
        card_data ([`MTDNNModelCardData`], *optional*): what the config does not say; defaults to the model's
            `model_card_data` attribute, or an empty one.
        plot_file (`str`, *optional*): a picture beside the card to link from it.
        name (`str`, *optional*): the folder the card goes to, whose name is the title when neither the card data's
            `model_name` nor its `model_id` (the Hub repo) gives one.
        affinity_plot_file (`str`, *optional*): the task affinity heatmap beside the card to show (see
            [`plot_affinity`]).
    """
    card_data = card_data or getattr(model, "model_card_data", None) or MTDNNModelCardData()
    base_model = _base_model(model)
    encoder_name = base_model or model.config.encoder_hint
    repo_name = card_data.model_id.split("/")[-1] if card_data.model_id else None
    model_name = card_data.model_name or repo_name or name or "MT-DNN"
    versions = {
        "mt-dnn": modeling_mtdnn.__version__,
        "Python": platform.python_version(),
        "Transformers": transformers.__version__,
        "PyTorch": torch.__version__,
        "huggingface_hub": huggingface_hub.__version__,
    }
    metadata = _metadata(model, card_data, model_name)
    card = ModelCard.from_template(
        metadata,
        template_path=str(TEMPLATE_PATH),
        model_name=model_name,
        model_id=card_data.model_id or "path/to/this/model",
        base_model=base_model,
        encoder_name=encoder_name,
        usage=_usage(model),
        pooling=model.config.pooling,
        tasks=_task_rows(model, card_data),
        task_names=list(model.config.tasks),
        plot_file=plot_file,
        training_data=card_data.training_data,
        data_settings=card_data.data_settings,
        hyperparameters=card_data.hyperparameters,
        task_affinity=card_data.task_affinity,
        affinity_reading=affinity_reading(card_data.task_affinity),
        affinity_plot_file=affinity_plot_file,
        versions=versions,
    )
    card.data = metadata  # the card re-reads its header with huggingface_hub's grouping; keep one result per task
    return card


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or `None` without matplotlib (the `train` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save_figure(plt, figure, path: str | os.PathLike) -> None:
    """Writes `figure` to `path` as a PNG in one rename (never half a file there) and closes it."""
    figure.tight_layout()
    try:
        with atomic_file(path) as temporary:
            figure.savefig(temporary, format="png")
    finally:
        plt.close(figure)


def plot_scores(card_data: MTDNNModelCardData, path: str | os.PathLike) -> bool:
    """Writes a bar chart (PNG) of each evaluated set's score; `False` without scores or matplotlib."""
    keys = card_data.evaluation_keys()
    if not keys:
        return False
    plt = _pyplot()
    if plt is None:
        return False
    means = {key: sum(card_data.scores_of(key).values()) / len(card_data.scores_of(key)) for key in keys}
    keys = [key for key in keys if math.isfinite(means[key])]
    if not keys:
        return False
    scores = [means[key] for key in keys]
    figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(keys) + 1.5), 3.2), dpi=110)
    bars = axis.bar(keys, scores, color="#4c72b0")
    axis.bar_label(bars, labels=[f"{score:.3f}" for score in scores], fontsize=8)
    axis.set_ylabel("dev score")
    axis.set_title("MT-DNN dev score per task (mean of the task's metrics)")
    axis.set_ylim(min(0.0, min(scores) - 0.05), max(1.0, max(scores) + 0.1))
    _save_figure(plt, figure, path)
    return True


def affinity_reading(entry: dict[str, Any] | None) -> list[str]:
    """
    The card's reading of a task affinity matrix (`MTDNNModelCardData.task_affinity`): for each task, the other task
    whose steps lowered its loss most, or that none did. Empty without a matrix or with fewer than two tasks.
    """
    if not entry or not entry.get("matrix") or len(entry["tasks"]) < 2:
        return []
    tasks, matrix = entry["tasks"], entry["matrix"]
    lines = []
    for j, target in enumerate(tasks):
        value, source = max((matrix[i][j], tasks[i]) for i in range(len(tasks)) if i != j)
        if value > 0:
            lines.append(f"{target} is helped most by steps on {source} ({value:+.3f})")
        else:
            lines.append(f"{target} is helped by no other task (best: {source}, {value:+.3f})")
    return lines


def plot_affinity(entry: dict[str, Any] | None, path: str | os.PathLike) -> bool:
    """
    Writes a heatmap (PNG) of a task affinity matrix (`MTDNNModelCardData.task_affinity`: row `i`, column `j`, how a
    step on task `i` changes task `j`'s loss); `False` without a matrix or without matplotlib.
    """
    if not entry or not entry.get("matrix"):
        return False
    plt = _pyplot()
    if plt is None:
        return False
    tasks, matrix = entry["tasks"], entry["matrix"]
    size = max(3.5, 0.8 * len(tasks) + 2.0)
    figure, axis = plt.subplots(figsize=(size + 1.0, size), dpi=110)
    limit = max((abs(value) for row in matrix for value in row if math.isfinite(value)), default=1.0) or 1.0
    image = axis.imshow(matrix, cmap="RdBu", vmin=-limit, vmax=limit)
    axis.set_xticks(range(len(tasks)), labels=tasks, rotation=45, ha="right")
    axis.set_yticks(range(len(tasks)), labels=tasks)
    axis.set_xlabel("task whose probe loss changes (j)")
    axis.set_ylabel("task stepped on (i)")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_title(f"Task affinity ({entry.get('method', '')}, mean of {entry.get('measurements', '?')})", fontsize=9)
    _save_figure(plt, figure, path)
    return True


def write_model_card(
    model: MTDNNForMultiTask,
    folder: str | os.PathLike,
    card_data: MTDNNModelCardData | None = None,
    model_id: str | None = None,
    name: str | None = None,
) -> Path:
    """
    Writes `README.md` (and `dev_scores.png` when there are dev scores, `task_affinity.png` when the task affinity
    was measured) into `folder`; returns the card's path.
    `model_id` (the Hub repo the folder goes to) overrides the card data's for the title and the usage snippets;
    `name` is the title otherwise (the folder's own name by default, for a save through a staging folder the
    target's).
    """
    folder = Path(folder)
    card_data = card_data or getattr(model, "model_card_data", None) or MTDNNModelCardData()
    if model_id is not None:
        card_data = dataclasses.replace(card_data, model_id=model_id)
    plot = PLOT_FILE if plot_scores(card_data, folder / PLOT_FILE) else None
    affinity = AFFINITY_PLOT_FILE if plot_affinity(card_data.task_affinity, folder / AFFINITY_PLOT_FILE) else None
    card = generate_model_card(
        model, card_data, plot_file=plot, name=name or saved_name(folder), affinity_plot_file=affinity
    )
    temporary = folder / "README.md.tmp"
    card.save(temporary)
    os.replace(temporary, folder / "README.md")
    return folder / "README.md"
