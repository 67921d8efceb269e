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
"""MT-DNN-KD: soft targets from an ensemble of teachers, and the student's mixed loss."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from modeling_mtdnn import MTDNNForMultiTask
from mtdnn.training.arguments import MTDNNTrainingArguments
from mtdnn.training.collator import MultiTaskDataCollator
from mtdnn.training.data_loading import load_raw_split
from mtdnn.training.distill import attach_soft_targets, distillation_loss, input_digest
from mtdnn.training.distill import main as distill
from mtdnn.training.preparation import prepare_split
from mtdnn.training.run_mtdnn import main as run_mtdnn
from mtdnn.training.task_files import load_task_specs
from mtdnn.training.trainer import MTDNNTrainer

from .test_run_mtdnn import csv_flags, encoder_dir, write_csv_tasks  # noqa: F401  (encoder_dir is a fixture)

CLASSIFICATION = {"task_type": "classification", "num_labels": 3, "loss_weight": 1.0}


def test_the_soft_loss_is_the_kl_to_the_teachers_mean_probabilities():
    student = torch.tensor([[0.2, -1.0, 0.5], [1.0, 0.0, -2.0]])
    teachers = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], [[0.5, 0.5, 0.5], [3.0, 0.0, 0.0]]])  # (2, 2, 3)
    for temperature in (1.0, 2.0):
        target = torch.softmax(teachers / temperature, dim=-1).mean(dim=1)
        log_q = torch.log_softmax(student / temperature, dim=-1)
        expected = (target * (target.log() - log_q)).sum(-1).mean() * temperature**2
        torch.testing.assert_close(distillation_loss(student, teachers, CLASSIFICATION, temperature), expected)
    # A student that predicts the (single) teacher's distribution has nothing to learn.
    assert distillation_loss(student, student.unsqueeze(1), CLASSIFICATION).item() == pytest.approx(0, abs=1e-6)


def test_the_soft_loss_of_regression_and_of_ranking_with_absent_candidates():
    regression = {"task_type": "regression", "num_labels": 1}
    scores = torch.tensor([[1.0], [3.0]])
    teachers = torch.tensor([[[2.0], [4.0]], [[3.0], [3.0]]])  # means 3.0 and 3.0
    torch.testing.assert_close(distillation_loss(scores, teachers, regression), torch.tensor(2.0))  # (4 + 0) / 2

    ranking = {"task_type": "ranking", "num_labels": 1}
    inf = float("-inf")
    student = torch.tensor([[1.0, 0.0, torch.finfo(torch.float32).min], [0.5, 0.2, 0.1]])  # group 0: 2 candidates
    teachers = torch.tensor([[[2.0, 0.0, inf, inf]], [[0.0, 1.0, 0.0, inf]]])  # padded to the dataset's widest
    loss = distillation_loss(student, teachers, ranking)
    p0, p1 = torch.softmax(torch.tensor([2.0, 0.0]), -1), torch.softmax(torch.tensor([0.0, 1.0, 0.0]), -1)
    q0, q1 = torch.log_softmax(torch.tensor([1.0, 0.0]), -1), torch.log_softmax(student[1], -1)
    expected = ((p0 * (p0.log() - q0)).sum() + (p1 * (p1.log() - q1)).sum()) / 2
    assert math.isfinite(loss.item())
    torch.testing.assert_close(loss, expected)


@pytest.fixture
def teachers(encoder_dir, tmp_path):  # noqa: F811
    """Two MT-DNN teachers of different seeds on a tiny csv task file."""
    task_file = write_csv_tasks(tmp_path / "data")
    folders = []
    for seed in (1, 2):
        folder = tmp_path / f"teacher{seed}"
        run_mtdnn(csv_flags(encoder_dir, folder, task_file, "--do_train", "--seed", str(seed)))
        folders.append(folder)
    return task_file, folders


def distill_flags(task_file, teachers, output, *extra):
    names = ",".join(str(folder) for folder in teachers)
    return ["--teachers", names, "--task_files", str(task_file), "--tasks", "toy_nli,toy_sts", "--output_dir", str(output), *extra]  # fmt: skip


def test_soft_targets_hold_every_teachers_logits_for_every_row(teachers, tmp_path):
    task_file, folders = teachers
    written = distill(distill_flags(task_file, folders, tmp_path / "soft"))
    assert [path.name for path in written] == ["toy_nli.soft_targets.json", "toy_sts.soft_targets.json"]
    manifest = json.loads(written[0].read_text())
    assert manifest["task_name"] == "toy_nli" and manifest["rows"] == 12 and manifest["num_labels"] == 2
    assert manifest["teachers"] == [str(folder) for folder in folders]
    logits = load_file(tmp_path / "soft" / "toy_nli.teacher_logits.safetensors")["teacher_logits"]
    assert logits.shape == (12, 2, 2)

    # Each slice is that teacher's own output on the training rows.
    tokenizer = AutoTokenizer.from_pretrained(folders[0])
    spec = load_task_specs(["toy_nli"], [str(task_file)])["toy_nli"]
    rows = prepare_split(spec, load_raw_split(spec, spec.splits["train"]), tokenizer, 128, group_candidates=True)
    assert manifest["input_digest"] == input_digest(rows)
    teacher = MTDNNForMultiTask.from_pretrained(folders[1]).eval()
    batch = MultiTaskDataCollator(tokenizer)([rows[i] for i in range(4)])
    batch.pop("labels")
    expected = teacher(**{k: v for k, v in batch.items() if k != "task_name"}, task_name="toy_nli").logits
    torch.testing.assert_close(logits[:4, 1], expected)


def test_the_student_trains_on_the_mix_of_soft_and_hard_losses(teachers, encoder_dir, tmp_path):  # noqa: F811
    task_file, folders = teachers
    distill(distill_flags(task_file, folders, tmp_path / "soft"))
    tokenizer = AutoTokenizer.from_pretrained(folders[0])
    spec = load_task_specs(["toy_nli"], [str(task_file)])["toy_nli"]
    rows = prepare_split(spec, load_raw_split(spec, spec.splits["train"]), tokenizer, 128, group_candidates=True)
    student = MTDNNForMultiTask.from_pretrained(folders[0]).eval()
    rows = attach_soft_targets(tmp_path / "soft", "toy_nli", student.config.tasks["toy_nli"], rows)
    batch = MultiTaskDataCollator(tokenizer)([rows[i] for i in range(6)])
    assert batch["teacher_logits"].shape == (6, 2, 2)

    for weight, temperature in ((0.3, 2.0), (1.0, 1.0)):
        args = MTDNNTrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True, kd_weight=weight, kd_temperature=temperature)  # fmt: skip
        trainer = MTDNNTrainer(model=student, args=args, data_collator=MultiTaskDataCollator(tokenizer))
        inputs = dict(batch)
        loss = trainer.compute_loss(student, inputs)
        outputs = student(**{k: v for k, v in batch.items() if k != "teacher_logits"})
        soft = distillation_loss(outputs.logits, batch["teacher_logits"], student.config.tasks["toy_nli"], temperature)
        torch.testing.assert_close(loss, (1 - weight) * outputs.loss + weight * soft)

    # Through the run script: the distilled tasks are named, and the run trains.
    out = tmp_path / "student"
    metrics = run_mtdnn(csv_flags(encoder_dir, out, task_file, "--do_train", "--do_eval", "--soft_targets", str(tmp_path / "soft"), "--kd_weight", "0.7"))  # fmt: skip
    assert "eval_toy_nli_accuracy" in metrics and "train_loss" in metrics


def test_soft_targets_that_do_not_fit_the_run_are_refused(teachers, encoder_dir, tmp_path):  # noqa: F811
    task_file, folders = teachers
    soft = tmp_path / "soft"
    distill(distill_flags(task_file, folders, soft, "--max_train_samples", "8"))

    def run(*extra):
        return run_mtdnn(csv_flags(encoder_dir, tmp_path / "student", task_file, "--do_train", "--soft_targets", str(soft), *extra))  # fmt: skip

    with pytest.raises(ValueError, match=re.escape("Task 'toy_nli': the soft targets in") + ".*" + re.escape("were written for rows=8, but this run has rows=12; write the soft targets again with the same data arguments as this run")):  # fmt: skip
        run()
    with pytest.raises(ValueError, match=re.escape("were written for other training rows (the same number, other tokens: another tokenizer, max_seq_length, sample or order)")):  # fmt: skip
        run("--max_train_samples", "8", "--max_seq_length", "8")
    # Targets of another task under this task's name.
    for suffix in (".soft_targets.json", ".teacher_logits.safetensors"):
        (soft / f"toy_nli{suffix}").unlink()
        (soft / f"toy_sts{suffix}").rename(soft / f"toy_nli{suffix}")
    with pytest.raises(ValueError, match=re.escape("were written for task_name='toy_sts', but this run has task_name='toy_nli'")):  # fmt: skip
        run("--max_train_samples", "8")
    manifest = json.loads((soft / "toy_nli.soft_targets.json").read_text())
    (soft / "toy_nli.soft_targets.json").write_text(json.dumps(manifest | {"task_name": "toy_nli"}))
    with pytest.raises(ValueError, match=re.escape("were written for task_type='regression', but this run has task_type='classification'")):  # fmt: skip
        run("--max_train_samples", "8")
    with pytest.raises(ValueError, match=re.escape("holds soft targets for none of the tasks ['toy_sts']")):
        run("--max_train_samples", "8", "--tasks", "toy_sts")
    assert not (tmp_path / "student" / "model.safetensors").exists()  # refused before training


def test_bad_distillation_settings_are_refused(teachers, tmp_path):
    task_file, folders = teachers
    with pytest.raises(ValueError, match=re.escape("--kd_weight must be in [0, 1] (the soft loss's share), got 1.5.")):  # fmt: skip
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, kd_weight=1.5)
    with pytest.raises(ValueError, match=re.escape("--kd_temperature must be a finite number > 0, got 0.")):
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, kd_temperature=0)
    other = MTDNNForMultiTask.from_pretrained(folders[0])
    other.remove_task("toy_sts")
    other.save_pretrained(tmp_path / "partial")
    with pytest.raises(ValueError, match=re.escape("has no task 'toy_sts' (its tasks are ['toy_nli']); every teacher must have been trained on every task of --tasks.")):  # fmt: skip
        distill(distill_flags(task_file, [folders[0], tmp_path / "partial"], tmp_path / "soft"))
    assert not (tmp_path / "soft").exists()  # refused before any work


def test_non_finite_soft_targets_are_refused_when_read(teachers, encoder_dir, tmp_path):  # noqa: F811
    task_file, folders = teachers
    soft = tmp_path / "soft"
    distill(distill_flags(task_file, folders, soft, "--max_train_samples", "8"))
    weights = soft / "toy_nli.teacher_logits.safetensors"
    logits = load_file(weights)["teacher_logits"]
    logits[3, 1, 0] = float("nan")
    save_file({"teacher_logits": logits}, weights)
    flags = csv_flags(encoder_dir, tmp_path / "student", task_file, "--do_train", "--soft_targets", str(soft), "--max_train_samples", "8")  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("toy_nli.teacher_logits.safetensors' holds non-finite soft targets (first at training row 3: [[")):  # fmt: skip
        run_mtdnn(flags)
    assert not (tmp_path / "student" / "model.safetensors").exists()


@pytest.mark.parametrize("task_type", ["token_classification", "span_extraction"])
def test_per_token_tasks_are_refused_by_distillation(task_type):
    from mtdnn.training.distill import check_distillable

    spec = {"task_type": task_type}
    with pytest.raises(ValueError, match=re.escape(f"Task 'x' ({task_type}): MT-DNN-KD distils one output per example (classification, regression, ranking), not one per token")):  # fmt: skip
        check_distillable("x", spec)
    check_distillable("y", {"task_type": "ranking"})
