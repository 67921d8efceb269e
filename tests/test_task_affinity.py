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
from __future__ import annotations

import copy
import json
import re

import datasets
import pytest
import torch
from transformers import AutoTokenizer

from mtdnn.model_cards import AFFINITY_PLOT_FILE, affinity_reading
from mtdnn.training.arguments import MTDNNTrainingArguments
from mtdnn.training.task_affinity import (
    AFFINITY_FILE,
    AFFINITY_STATE_FILE,
    cosine_affinity,
    hold_out_probes,
    lookahead_affinity,
    shared_parameters,
)
from mtdnn.training.trainer import SAMPLER_STATE_FILE

from .conftest import minilm_folder
from .test_trainer import DISTRIBUTED_SCRIPT, REPO, make_trainer, run_two_processes, tiny_data


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_folder())


def _hand_losses(model, trainer):
    """Each task's probe loss, computed here without the module's code: eval mode, the collated probe rows."""
    losses = []
    for dataset in trainer.affinity_probes.values():
        batch = trainer.data_collator([dataset[i] for i in range(len(dataset))])
        batch.pop("teacher_logits", None)
        losses.append(model(**batch).loss)
    return losses


def _hand_gradients(model, trainer):
    model.eval()
    names = [name for name, _ in model.encoder.named_parameters()]
    gradients = []
    for loss in _hand_losses(model, trainer):
        model.zero_grad()
        loss.backward()
        gradients.append(
            torch.cat(
                [
                    (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).double()
                    for p in model.encoder.parameters()
                ]
            )  # fmt: skip
        )
    model.zero_grad()
    return names, gradients


def test_cosine_affinity_is_the_cosine_of_the_encoder_gradients(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, task_affinity_steps=1, task_affinity_probe_size=3)
    reference = copy.deepcopy(trainer.model)
    measured = trainer.task_affinity.measure()
    _, gradients = _hand_gradients(reference, trainer)
    expected = torch.tensor(
        [[float(a @ b / (a.norm() * b.norm())) for b in gradients] for a in gradients], dtype=torch.float64
    )
    torch.testing.assert_close(measured, expected, rtol=1e-6, atol=1e-6)
    assert measured.shape == (4, 4) and torch.allclose(measured.diagonal(), torch.ones(4, dtype=torch.float64))
    # The measure leaves no gradient behind and does not move the weights.
    assert all(p.grad is None for p in trainer.model.parameters())
    for key, value in reference.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[key], value), key


def test_lookahead_affinity_is_the_loss_change_after_an_sgd_step(tokenizer, tmp_path):
    trainer = make_trainer(
        tokenizer, tmp_path, task_affinity_steps=1, task_affinity_method="lookahead", task_affinity_probe_size=3, learning_rate=0.05
    )  # fmt: skip
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.05
    reference = copy.deepcopy(trainer.model).eval()
    measured = trainer.task_affinity.measure()
    before = [float(loss.detach()) for loss in _hand_losses(reference, trainer)]
    _, gradients = _hand_gradients(reference, trainer)
    expected = []
    for gradient in gradients:
        moved = copy.deepcopy(reference)
        offset = 0
        with torch.no_grad():
            for parameter in moved.encoder.parameters():
                size = parameter.numel()
                parameter -= 0.05 * gradient[offset : offset + size].reshape(parameter.shape).to(parameter.dtype)
                offset += size
            after = [float(loss) for loss in _hand_losses(moved, trainer)]
        expected.append([1 - a / b for a, b in zip(after, before)])
    torch.testing.assert_close(measured, torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-6)
    assert (measured.diagonal() >= 0).all()  # a step on a task does not raise its own probe loss
    for key, value in reference.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[key], value), key  # put back exactly


def test_the_matrix_functions_on_numbers_worked_by_hand():
    a, b, c = [torch.tensor([1.0, 0.0])], [torch.tensor([1.0, 1.0])], [torch.tensor([0.0, 0.0])]
    matrix = cosine_affinity([a, b, c])
    root = 2**-0.5
    torch.testing.assert_close(
        matrix, torch.tensor([[1.0, root, 0.0], [root, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    )
    # L_j(w) = (w - t_j)^2 at w = 0 with targets t = (1, -1): gradients -2 t_j; lr 0.25 moves w to 0.5 or -0.5.
    weight = torch.nn.Parameter(torch.zeros(1))
    targets = [1.0, -1.0]
    losses = lambda: [((weight - t) ** 2).sum() for t in targets]  # noqa: E731
    gradients = [[torch.tensor([-2.0])], [torch.tensor([2.0])]]
    matrix = lookahead_affinity(losses, gradients, [weight], 0.25)
    # after a step on task 0 (w = 0.5): L_0 = 0.25, L_1 = 2.25; on task 1 (w = -0.5): L_0 = 2.25, L_1 = 0.25.
    torch.testing.assert_close(matrix, torch.tensor([[0.75, -1.25], [-1.25, 0.75]], dtype=torch.float64))
    assert float(weight.detach()) == 0.0


def test_probe_rows_are_held_back_from_training_by_seed():
    data = {"a": datasets.Dataset.from_dict({"row": list(range(10))}), "b": datasets.Dataset.from_dict({"row": list(range(5))})}  # fmt: skip
    train, probes = hold_out_probes(data, 3, seed=7)
    for name, dataset in data.items():
        assert len(probes[name]) == 3 and len(train[name]) == len(dataset) - 3
        probe_rows, train_rows = list(probes[name]["row"]), list(train[name]["row"])
        assert sorted(probe_rows + train_rows) == list(dataset["row"]) and not set(probe_rows) & set(train_rows)
    again, _ = hold_out_probes(data, 3, seed=7)
    other, _ = hold_out_probes(data, 3, seed=8)
    assert list(again["a"]["row"]) == list(train["a"]["row"]) and list(other["a"]["row"]) != list(train["a"]["row"])


def test_the_trainer_trains_on_the_rows_left_and_the_sampler_never_sees_the_probes(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, task_affinity_steps=4, task_affinity_probe_size=2)
    assert {name: len(d) for name, d in trainer.train_dataset.items()} == {
        "cola": 22,
        "rte": 14,
        "stsb": 18,
        "qnli": 4,
    }
    assert {name: len(d) for name, d in trainer.affinity_probes.items()} == dict.fromkeys(["cola", "rte", "stsb", "qnli"], 2)  # fmt: skip
    trainer.get_train_dataloader()
    assert trainer.task_sampler.state_dict()["task_sizes"] == {"cola": 22, "rte": 14, "stsb": 18, "qnli": 4}


@pytest.mark.parametrize(
    "settings",
    [
        {"task_affinity_method": "cosine"},
        {"task_affinity_method": "lookahead", "gradient_accumulation_steps": 2},
        {"task_affinity_method": "cosine", "gradient_accumulation_steps": 2, "bf16": True},
    ],
)
def test_measuring_does_not_change_training(tokenizer, tmp_path, settings):
    """Same seed, same rows: the weights after training are identical with and without the measurement."""
    data = tiny_data(tokenizer)
    measured = make_trainer(tokenizer, tmp_path / "a", data=data, task_affinity_steps=2, task_affinity_probe_size=3, **settings)  # fmt: skip
    specs, _, evaluation, eval_specs = data
    plain_settings = {k: v for k, v in settings.items() if not k.startswith("task_affinity")}
    measured.train()  # each trainer seeds the generators when built: build each one just before it trains
    plain = make_trainer(tokenizer, tmp_path / "b", data=(specs, measured.train_dataset, evaluation, eval_specs), **plain_settings)  # fmt: skip
    plain.train()
    assert measured.task_affinity.count == 4 and measured.task_affinity.steps == [2, 4, 6, 8]
    for key, value in plain.model.state_dict().items():
        assert torch.equal(measured.model.state_dict()[key], value), key
    logged = [entry for entry in measured.state.log_history if "affinity/cola->rte" in entry]
    assert len(logged) == 2  # at each logging step (every 4): the running matrix
    assert set(logged[-1]) >= {f"affinity/{i}->{j}" for i in specs for j in specs if i != j}
    assert not any(key.startswith("affinity/") for entry in plain.state.log_history for key in entry)


def test_checkpoints_keep_the_matrix_and_resume_continues_it(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    common = {"max_steps": 8, "save_strategy": "steps", "save_steps": 4, "data": data, "task_affinity_steps": 2, "task_affinity_probe_size": 3}  # fmt: skip
    full = make_trainer(tokenizer, tmp_path / "full", **common)
    full.train()
    checkpoint = tmp_path / "full" / "checkpoint-4"
    state = json.loads((checkpoint / AFFINITY_STATE_FILE).read_text())
    assert state["measurements"] == 2 and state["measured_at_steps"] == [2, 4] and state["method"] == "cosine"
    assert (checkpoint / SAMPLER_STATE_FILE).stat().st_mtime_ns >= (checkpoint / AFFINITY_STATE_FILE).stat().st_mtime_ns  # fmt: skip

    resumed = make_trainer(tokenizer, tmp_path / "resumed", **common)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.task_affinity.steps == [2, 4, 6, 8]
    torch.testing.assert_close(
        torch.tensor(resumed.task_affinity.matrix), torch.tensor(full.task_affinity.matrix), rtol=0, atol=1e-6
    )


def test_the_output_folder_gets_json_and_heatmap_and_the_card_shows_them(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, task_affinity_steps=4, task_affinity_method="lookahead", task_affinity_probe_size=3)  # fmt: skip
    trainer.train()
    trainer.save_model()
    summary = json.loads((tmp_path / AFFINITY_FILE).read_text())
    assert summary["tasks"] == ["cola", "rte", "stsb", "qnli"] and summary["measurements"] == 2
    assert summary["method"] == "lookahead" and summary["probe_rows"] == 3 and summary["training_steps"] == 8
    assert len(summary["matrix"]) == 4 and summary["seconds_per_measurement"] > 0
    assert (tmp_path / AFFINITY_PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (tmp_path / "README.md").read_text()
    assert "### Task affinity" in card and f"![Task affinity]({AFFINITY_PLOT_FILE})" in card
    assert "by lookahead on the shared encoder (2 measurements, every 4 steps, on 3 probe rows per task" in card
    for line in affinity_reading(trainer.model.model_card_data.task_affinity):
        assert f"- {line}" in card


def test_the_card_reading_names_the_most_helpful_task():
    entry = {"tasks": ["a", "b", "c"], "matrix": [[1, 0.2, -0.1], [0.5, 1, -0.3], [0.1, 0.4, 1]]}
    assert affinity_reading(entry) == [
        "a is helped most by steps on b (+0.500)",
        "b is helped most by steps on c (+0.400)",
        "c is helped by no other task (best: a, -0.100)",
    ]
    assert affinity_reading(None) == []


def test_lora_adapters_measure_on_the_frozen_shared_encoder(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, task_affinity_steps=4, task_affinity_probe_size=3)
    for name in ["cola", "rte", "stsb", "qnli"]:
        trainer.model.add_task_adapter(name, r=2)
    trainer.model.train_adapters_only(["cola", "rte", "stsb", "qnli"])
    frozen = [p for _, p in shared_parameters(trainer.model)]
    assert frozen and not any(p.requires_grad for p in frozen)
    trainer.train()
    assert trainer.task_affinity.count == 2 and torch.isfinite(torch.tensor(trainer.task_affinity.matrix)).all()
    assert not any(p.requires_grad for p in frozen)  # frozen again after each measurement


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task_affinity_steps": 0}, "--task_affinity_steps must be a positive int (measure every N optimizer steps), got 0; leave it out to train without measuring task affinity."),
        ({"task_affinity_steps": -3}, "--task_affinity_steps must be a positive int (measure every N optimizer steps), got -3;"),
        ({"task_affinity_steps": 2.5}, "--task_affinity_steps must be a positive int (measure every N optimizer steps), got 2.5;"),
        ({"task_affinity_steps": 2, "task_affinity_probe_size": 0}, "--task_affinity_probe_size must be a positive int (rows per task), got 0."),
        ({"task_affinity_steps": 2, "task_affinity_method": "tag"}, "--task_affinity_method must be one of ['cosine', 'lookahead'], got 'tag'."),
        ({"task_affinity_probe_size": 4}, "--task_affinity_probe_size 4 was given without --task_affinity_steps; pass --task_affinity_steps N to measure task affinity every N steps, or leave the task_affinity_* settings out."),
    ],
)  # fmt: skip
def test_bad_affinity_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, **kwargs)


def test_bad_probe_sizes_and_tasks_are_refused_before_training(tokenizer, tmp_path):
    data = tiny_data(tokenizer)
    with pytest.raises(ValueError) as refused:
        make_trainer(tokenizer, tmp_path, data=data, task_affinity_steps=2, task_affinity_probe_size=6)
    assert str(refused.value) == (
        "Task 'qnli': --task_affinity_probe_size 6 is larger than its 6 training rows can spare (the probe rows are "
        "held back from training, and at least one must be left); use at most 5."
    )
    specs, train, evaluation, eval_specs = data
    empty = {**train, "rte": train["rte"].select([])}
    with pytest.raises(ValueError, match=re.escape("Task 'rte' has no training rows to hold back a probe batch from (--task_affinity_probe_size 2); give it training data or leave --task_affinity_steps out.")):  # fmt: skip
        make_trainer(tokenizer, tmp_path, data=(specs, empty, evaluation, eval_specs), task_affinity_steps=2, task_affinity_probe_size=2)  # fmt: skip
    single = {"cola": train["cola"]}
    with pytest.raises(ValueError, match=re.escape("it needs at least two training tasks, got ['cola'].")):
        make_trainer(tokenizer, tmp_path, data=(specs, single, evaluation, eval_specs), task_affinity_steps=2)


def test_two_processes_hold_the_same_matrix(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DISTRIBUTED_SCRIPT.format(repo=str(REPO)))
    overrides = json.dumps({"task_affinity_steps": 3, "task_affinity_probe_size": 2})
    run_two_processes(script, tmp_path, overrides)
    ranks = [json.loads((tmp_path / f"tasks-{rank}.json").read_text()) for rank in (0, 1)]
    logs = [[{k: v for k, v in entry.items() if k.startswith("affinity/")} for entry in r["log"]] for r in ranks]
    logs = [[entry for entry in log if entry] for log in logs]
    assert len(logs[0]) == 2 and logs[0] == logs[1]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert json.loads((tmp_path / AFFINITY_FILE).read_text())["measurements"] == 2


def test_the_command_line_writes_the_matrix_beside_the_model_and_its_card(tokenizer, tmp_path):
    from transformers import BertConfig, BertModel

    from mtdnn.training.run_mtdnn import main

    from .test_run_mtdnn import csv_flags, write_csv_tasks

    encoder = tmp_path / "encoder"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)).save_pretrained(encoder)  # fmt: skip
    tokenizer.save_pretrained(encoder)
    task_file = write_csv_tasks(tmp_path / "data")
    out = tmp_path / "out"
    flags = csv_flags(str(encoder), out, task_file, "--do_train", "--do_eval", "--task_affinity_steps", "1", "--task_affinity_probe_size", "3")  # fmt: skip
    metrics = main(flags)
    assert metrics["train_toy_nli_samples"] == 9  # 12 rows, 3 held back
    summary = json.loads((out / AFFINITY_FILE).read_text())
    assert summary["tasks"] == ["toy_nli", "toy_sts"] and summary["measurements"] == 2
    card = (out / "README.md").read_text()
    assert f"![Task affinity]({AFFINITY_PLOT_FILE})" in card and (out / AFFINITY_PLOT_FILE).is_file()
    assert "| toy_nli | 9 |" in card


def test_a_task_group_is_one_task_of_the_matrix(tmp_path):
    from .test_task_groups import group_trainer

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    trainer = group_trainer(tokenizer, tmp_path, tmp_path / "out", task_affinity_steps=3, task_affinity_probe_size=2)
    assert {name: len(d) for name, d in trainer.train_dataset.items()} == {"tagged": 10, "reviews": 6}
    trainer.train()
    assert trainer.task_affinity.tasks == ["tagged", "reviews"] and trainer.task_affinity.count == 2
    matrix = torch.tensor(trainer.task_affinity.matrix)
    assert torch.isfinite(matrix).all() and torch.allclose(matrix.diagonal(), torch.ones(2, dtype=matrix.dtype))
