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
MT-DNN-KD (Liu, He, Chen, Gao 2019, arXiv 1904.09482): distil an ensemble of MT-DNN teachers into one student, task
by task, with soft targets.

Writing the targets, once per teacher ensemble (the same data arguments as the student's run):

    python training/distill.py --teachers out/seed1,out/seed2,out/seed3 --tasks rte,stsb \\
        --output_dir soft_targets [--data_dir DIR] [--max_train_samples N] [--seed 42]

writes, per task, `<task>.teacher_logits.safetensors` (every teacher's logits for every training row: `(rows,
teachers, classes)`, or candidates for ranking, `-inf` where a question has fewer) and `<task>.soft_targets.json`
(the task, its labels, the rows and a digest of their tokens, the teachers). Training the student:

    python training/run_mtdnn.py ... --soft_targets soft_targets --kd_weight 0.5 --kd_temperature 1.0

Its loss per batch is `(1 - kd_weight) * hard + kd_weight * soft`. The soft loss compares the student with the
ensemble's mean class probabilities at temperature T, `p = mean_k softmax(z_k / T)`, as `T^2 * KL(p || softmax(s /
T))` (ranking: over a question's candidates), and for regression it is the squared error to the teachers' mean
score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from modeling_mtdnn.saving import atomic_file
from modeling_mtdnn.task_types import task_type_of

__all__ = ["attach_soft_targets", "distillation_loss", "input_digest", "teacher_logits", "write_soft_targets"]

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".soft_targets.json"
LOGITS_SUFFIX = ".teacher_logits.safetensors"
SOFT_TARGETS_COLUMN = "teacher_logits"


def input_digest(dataset: datasets.Dataset) -> str:
    """A digest of a prepared split's token ids, row by row: soft targets fit only the rows they were written for."""
    digest = hashlib.sha256()
    for ids in dataset["input_ids"]:
        digest.update(json.dumps(ids, separators=(",", ":")).encode())
    return f"sha256:{digest.hexdigest()[:32]}"


@torch.no_grad()
def teacher_logits(model, task_name: str, dataset: datasets.Dataset, collator, batch_size: int = 64) -> torch.Tensor:
    """
    One teacher's logits for every row of a prepared training split: `(rows, classes)`, `(rows, 1)` for regression,
    `(groups, candidates)` for ranking (`-inf` for the candidates a question lacks).
    """
    if task_name not in model.config.tasks:
        raise ValueError(
            f"The teacher {model.name_or_path or type(model).__name__!r} has no task '{task_name}' (its tasks are "
            f"{sorted(model.config.tasks)}); every teacher must have been trained on the task."
        )
    model.eval()
    device = next(model.parameters()).device
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", "task_name") if c in dataset.column_names]
    loader = DataLoader(dataset.select_columns(columns), batch_size=batch_size, collate_fn=collator)
    chunks = []
    for batch in tqdm(loader, desc=f"teacher logits: {task_name}", leave=False):
        inputs = {key: value.to(device) for key, value in batch.items() if isinstance(value, torch.Tensor)}
        logits = model(**inputs, task_name=task_name).logits.float().cpu()
        if logits.dim() == 1:
            logits = logits.unsqueeze(-1)
        if task_type_of(model.config.tasks[task_name]).groups_candidates:  # padding candidates: absent
            logits = logits.masked_fill(logits <= torch.finfo(torch.float32).min / 2, float("-inf"))
        chunks.append(logits)
    width = max(chunk.shape[-1] for chunk in chunks)
    return torch.cat([F.pad(chunk, (0, width - chunk.shape[-1]), value=float("-inf")) for chunk in chunks])


def check_distillable(task_name: str, spec: dict[str, Any]) -> None:
    """
    Refuses a task type MT-DNN-KD is not built for: soft targets are one distribution (or score) per example, so
    classification, regression and ranking; token classification and span extraction give one per token.
    """
    kind = task_type_of(spec)
    if kind.per_token:
        raise ValueError(
            f"Task '{task_name}' ({kind.name}): MT-DNN-KD distils one output per example (classification, "
            "regression, ranking), not one per token; leave it out of the distilled --tasks (in run_mtdnn.py it "
            "trains on its labels beside the distilled tasks)."
        )


def _manifest_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return {"task_type": spec["task_type"], "num_labels": spec["num_labels"], "id2label": spec.get("id2label")}


def write_soft_targets(
    output_dir: str | os.PathLike,
    task_name: str,
    spec: dict[str, Any],
    dataset: datasets.Dataset,
    logits: dict[str, torch.Tensor],
) -> Path:
    """
    Writes the teachers' logits for one task's training rows (`logits`: teacher name to its `teacher_logits`) and
    the manifest that lets `attach_soft_targets` check them. Returns the manifest's path.
    """
    stacked = torch.stack(list(logits.values()), dim=1).contiguous()  # (rows, teachers, classes)
    if stacked.shape[0] != len(dataset):
        raise ValueError(f"Task '{task_name}': {stacked.shape[0]} rows of logits for {len(dataset)} training rows.")
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    weights, manifest = folder / f"{task_name}{LOGITS_SUFFIX}", folder / f"{task_name}{MANIFEST_SUFFIX}"
    # Each file is complete or absent (written beside, then moved in), the manifest last.
    with atomic_file(weights) as temporary:
        save_file({"teacher_logits": stacked}, temporary)
    record = {
        "task_name": task_name,
        **_manifest_spec(spec),
        "rows": len(dataset),
        "input_digest": input_digest(dataset),
        "teachers": list(logits),
    }
    with atomic_file(manifest) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    return manifest


def attach_soft_targets(
    folder: str | os.PathLike, task_name: str, spec: dict[str, Any], dataset: datasets.Dataset
) -> datasets.Dataset:
    """
    The prepared training split with its teachers' logits as a `teacher_logits` column, after checking that they
    were written for this task, these labels and exactly these rows.

    Raises:
        `ValueError`: naming the task, the field, both values and the fix, when anything differs or is missing.
    """
    check_distillable(task_name, spec)
    manifest_path = Path(folder) / f"{task_name}{MANIFEST_SUFFIX}"
    weights_path = Path(folder) / f"{task_name}{LOGITS_SUFFIX}"
    if not manifest_path.is_file() or not weights_path.is_file():
        raise ValueError(
            f"Task '{task_name}': --soft_targets {str(folder)!r} holds no soft targets for it ({manifest_path.name} "
            f"and {weights_path.name}); write them with training/distill.py --tasks {task_name}, or leave the task "
            "out of the run."
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"Task '{task_name}': {str(manifest_path)!r} is not valid JSON ({error}).") from None
    fix = "write the soft targets again with the same data arguments as this run (training/distill.py)"
    expected = {"task_name": task_name, **_manifest_spec(spec), "rows": len(dataset)}
    for key, value in expected.items():
        saved = manifest.get(key)
        if key == "id2label" and isinstance(saved, dict):
            saved = {int(k): v for k, v in saved.items()}
            value = None if value is None else {int(k): v for k, v in value.items()}
        if saved != value:
            raise ValueError(
                f"Task '{task_name}': the soft targets in {str(folder)!r} were written for {key}={saved!r}, but "
                f"this run has {key}={value!r}; {fix}."
            )
    if manifest.get("input_digest") != input_digest(dataset):
        raise ValueError(
            f"Task '{task_name}': the soft targets in {str(folder)!r} were written for other training rows (the "
            "same number, other tokens: another tokenizer, max_seq_length, sample or order); " + fix + "."
        )
    logits = load_file(weights_path)["teacher_logits"]
    kind = task_type_of(spec)
    width = "candidates" if kind.groups_candidates else 1 if kind.predicts_value else spec["num_labels"]
    if logits.dim() != 3 or logits.shape[0] != len(dataset) or (width != "candidates" and logits.shape[-1] != width):
        raise ValueError(
            f"Task '{task_name}': {str(weights_path)!r} holds logits of shape {tuple(logits.shape)}, but this run "
            f"needs ({len(dataset)}, teachers, {width}); {fix}."
        )
    # -inf marks a ranking question's absent candidates; anything else must be a number.
    allowed = torch.isfinite(logits) | ((logits == float("-inf")) if kind.groups_candidates else False)
    bad_rows = (~allowed).flatten(1).any(dim=1)
    if kind.groups_candidates:  # and a question keeps at least one candidate for each teacher
        bad_rows |= torch.isinf(logits).all(dim=-1).any(dim=-1)
    if bad_rows.any():
        row = int(bad_rows.nonzero()[0])
        raise ValueError(
            f"Task '{task_name}': {str(weights_path)!r} holds non-finite soft targets (first at training row {row}: "
            f"{logits[row].tolist()}); a teacher diverged or the file is damaged. Write them again with "
            "training/distill.py from teachers that give finite logits."
        )
    if SOFT_TARGETS_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(SOFT_TARGETS_COLUMN)
    return dataset.add_column(SOFT_TARGETS_COLUMN, logits.tolist())


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, spec: dict[str, Any], temperature: float = 1.0
) -> torch.Tensor:
    """
    The soft-target loss of one batch: `teacher_logits` is `(batch, teachers, classes)` (`-inf` for absent ranking
    candidates). Classification and ranking: `T^2 * KL(mean_k softmax(z_k / T) || softmax(s / T))`; regression: the
    squared error to the teachers' mean score.
    """
    teacher_logits = teacher_logits.to(student_logits.device, torch.float32)
    student = student_logits.float()
    if task_type_of(spec).predicts_value:
        return F.mse_loss(student.view(-1), teacher_logits.mean(dim=1).view(-1))
    target = torch.softmax(teacher_logits / temperature, dim=-1).mean(dim=1)  # (batch, classes)
    width = min(student.shape[-1], target.shape[-1])  # ranking: the batch's padded candidates
    student, target = student[..., :width], target[..., :width]
    log_student = torch.log_softmax(student / temperature, dim=-1)
    terms = torch.where(target > 0, target * (torch.log(target.clamp_min(1e-30)) - log_student), 0.0)
    return terms.sum(dim=-1).mean() * temperature**2


@dataclass
class DistillArguments:
    """Which teachers write soft targets, and where."""

    teachers: str = field(metadata={"help": "Comma-separated MT-DNN checkpoints (folders or Hub ids): the ensemble."})
    output_dir: str = field(metadata={"help": "Where the soft targets go (pass it to run_mtdnn.py --soft_targets)."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the first teacher's."})
    seed: int = field(default=42, metadata={"help": "The student run's --seed (it picks --train_fraction rows)."})
    batch_size: int = field(default=64, metadata={"help": "Inference batch size."})


def main(argv: list[str] | None = None) -> list[Path]:
    from transformers import AutoTokenizer, HfArgumentParser

    from modeling_mtdnn import MTDNNForMultiTask
    from mtdnn.training.arguments import DataArguments
    from mtdnn.training.collator import MultiTaskDataCollator
    from mtdnn.training.task_files import load_task_specs
    from mtdnn.training.task_sets import build_task_sets

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    distill_args, data_args = HfArgumentParser((DistillArguments, DataArguments)).parse_args_into_dataclasses(argv)
    names = [name.strip() for name in distill_args.teachers.split(",") if name.strip()]
    if not names:
        raise ValueError(
            f"--teachers {distill_args.teachers!r} names no checkpoint; give one or more, comma-separated."
        )
    specs = load_task_specs(data_args.task_names, data_args.task_files)
    for task, spec in specs.items():
        if spec.group is not None:
            raise ValueError(
                f"Task '{task}' is a head of task group '{spec.group}': MT-DNN-KD distils tasks trained on their own "
                "rows; leave the group out of the distilled --tasks (in run_mtdnn.py it trains on its labels beside "
                "the distilled tasks)."
            )
        check_distillable(task, spec.model_spec())
    teachers = {name: MTDNNForMultiTask.from_pretrained(name) for name in names}
    for name, teacher in teachers.items():  # every teacher must know every task, before any work
        missing = [task for task in specs if task not in teacher.config.tasks]
        if missing:
            raise ValueError(
                f"The teacher {name!r} has no task {missing[0]!r} (its tasks are {sorted(teacher.config.tasks)}); "
                "every teacher must have been trained on every task of --tasks."
            )
    tokenizer = AutoTokenizer.from_pretrained(distill_args.tokenizer_name or names[0])
    collator = MultiTaskDataCollator(tokenizer)
    for task, spec in specs.items():
        if "train" not in spec.splits:
            raise ValueError(f"Task '{task}' has no train split in its task file; soft targets are for training.")
    # The student's training rows, as run_mtdnn.py builds them from the same data arguments and seed.
    train_sets = build_task_sets(
        specs,
        tokenizer,
        train=True,
        data_dir=data_args.data_dir,
        max_seq_length=data_args.max_seq_length,
        seed=distill_args.seed,
        max_train_samples=data_args.max_train_samples,
        train_fraction=data_args.train_fraction,
    ).train_sets
    written = []
    for task, dataset in train_sets.items():
        model_spec = next(iter(teachers.values())).config.tasks[task]
        for name, teacher in teachers.items():
            theirs = _manifest_spec(teacher.config.tasks[task])
            if theirs != _manifest_spec(model_spec):
                raise ValueError(
                    f"Task '{task}': the teachers disagree on its labels ({names[0]!r}: {_manifest_spec(model_spec)}, "
                    f"{name!r}: {theirs}); an ensemble averages the same classes."
                )
        logits = {
            name: teacher_logits(teacher, task, dataset, collator, distill_args.batch_size)
            for name, teacher in teachers.items()
        }
        written.append(write_soft_targets(distill_args.output_dir, task, model_spec, dataset, logits))
        logger.info("Task %s: soft targets of %d teachers for %d rows written.", task, len(teachers), len(dataset))
    return written


if __name__ == "__main__":
    main()
