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
"""Task adapters: LoRA (peft) per task on the shared encoder, saved in peft's layout with the task's head."""

from __future__ import annotations

import json
import re

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModel

from modeling_mtdnn import MTDNNForMultiTask
from modeling_mtdnn.adapters import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE
from modeling_mtdnn.hub_mixin import HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE

from .conftest import TINY_TASKS, make_pair_batch
from .test_hub import RecordedHub, encoder_folder


@pytest.fixture
def encoder_dir(tmp_path):
    return encoder_folder(tmp_path / "encoder")


@pytest.fixture
def model(encoder_dir):
    torch.manual_seed(1)
    return MTDNNForMultiTask.from_encoder(encoder_dir, tasks=TINY_TASKS).eval()


def trained(model, *task_names, seed=5):
    """Gives the tasks' adapters non-zero updates (B starts at zero), as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if any(f"lora_B.{task}." in name for task in task_names):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def all_logits(model, batch):
    return {name: model(**batch, task_name=name).logits for name in model.task_names if name != "qnli"}


def test_a_fresh_adapter_changes_nothing_and_a_trained_one_only_its_task(model):
    batch = make_pair_batch()
    plain = all_logits(model, batch)
    settings = model.add_task_adapter("rte", r=4)
    assert settings == {"r": 4, "lora_alpha": 16.0, "lora_dropout": 0.1, "target_modules": ["query", "value"]}
    assert model.config.task_adapters == {"rte": settings} and model.task_adapters == ["rte"]
    for name, logits in all_logits(model, batch).items():
        torch.testing.assert_close(logits, plain[name], rtol=0, atol=0)  # lora_B starts at zero
    trained(model, "rte")
    adapted = all_logits(model, batch)
    assert not torch.allclose(adapted["rte"], plain["rte"])
    for name in ("sst2", "cola", "mnli", "stsb"):  # the other tasks still run the plain encoder
        torch.testing.assert_close(adapted[name], plain[name], rtol=0, atol=0)
    assert all(parameter.requires_grad for parameter in model.parameters())  # adding does not freeze anything


def test_one_pass_inference_runs_one_encoder_pass_per_adapter(model):
    model.add_task_adapter("rte", r=4)
    model.add_task_adapter("sst2", r=2, target_modules=["query", "key", "value"])
    trained(model, "rte", "sst2")
    passes = []
    model.encoder.register_forward_hook(lambda *args: passes.append(1))
    batch = make_pair_batch()
    together = model(**batch, task_name=["sst2", "cola", "rte", "stsb", "mnli"]).task_logits
    assert len(passes) == 3  # the plain encoder for cola, stsb, mnli; one pass each for rte and sst2
    assert list(together) == ["sst2", "cola", "rte", "stsb", "mnli"]  # in the order asked for
    for name, logits in together.items():
        torch.testing.assert_close(logits, model(**batch, task_name=name).logits)


def test_a_model_with_adapters_saves_and_loads_exactly(model, tmp_path):
    model.add_task_adapter("rte", r=4)
    model.add_task_adapter("stsb", r=2, lora_alpha=4, lora_dropout=0.0)
    trained(model, "rte", "stsb")
    model.save_pretrained(tmp_path / "mtdnn")
    loaded = MTDNNForMultiTask.from_pretrained(tmp_path / "mtdnn").eval()
    assert loaded.config.task_adapters == model.config.task_adapters
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    batch = make_pair_batch()
    # The weights are bit-identical (above), but transformers' from_pretrained leaves parameters at addresses not
    # 64-byte aligned (a plain BertModel too), and CPU matmul kernels round by alignment: the loaded model's logits
    # differ in the last bits (4.7e-10 here; cloning its parameters makes them identical), so compare to 1e-6.
    for name, logits in all_logits(model, batch).items():
        torch.testing.assert_close(loaded(**batch, task_name=name).logits, logits, rtol=1e-6, atol=1e-6)


def test_the_model_card_names_the_tasks_with_adapters(model):
    from mtdnn.model_cards import MTDNNModelCardData, generate_model_card

    model.add_task_adapter("rte", r=4)
    card = str(generate_model_card(model, MTDNNModelCardData()))
    assert "| rte | classification | san + LoRA adapter (r=4) |" in card
    assert "| sst2 | classification | linear |" in card


# peft 0.21 reads a transformers property that transformers 5 deprecates: their warning, not ours.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_an_adapter_is_saved_in_peft_layout_that_peft_loads_on_the_plain_encoder(model, encoder_dir, tmp_path):
    model.add_task_adapter("sst2", r=4)
    trained(model, "sst2")
    folder = model.save_task_adapter("sst2", tmp_path / "sst2-lora")
    files = sorted(path.name for path in folder.iterdir())
    assert files == sorted(
        ["README.md", ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE]
    )
    adapter_config = json.loads((folder / ADAPTER_CONFIG_FILE).read_text())
    assert adapter_config["peft_type"] == "LORA" and adapter_config["r"] == 4
    assert sorted(adapter_config["target_modules"]) == ["query", "value"]
    weights = load_file(folder / ADAPTER_WEIGHTS_FILE)
    assert sorted(weights) == sorted(
        f"base_model.model.encoder.layer.{layer}.attention.self.{module}.{group}.weight"
        for layer in range(2)
        for module in ("query", "value")
        for group in ("lora_A", "lora_B")
    )
    card = (folder / "README.md").read_text()
    assert "MT-DNN task adapter: sst2" in card and "library_name: peft" in card

    # peft's own loader reads it onto the plain encoder and computes what our encoder computes with the adapter.
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(encoder_dir), str(folder)).eval()
    batch = make_pair_batch()
    ours = model(**batch, task_name="sst2", output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(peft_model(**batch).last_hidden_state, ours)


def test_load_task_adapter_adds_a_task_or_gives_one_its_adapter(model, encoder_dir, tmp_path):
    model.add_task_adapter("rte", r=4)
    trained(model, "rte")
    folder = model.save_task_adapter("rte", tmp_path / "rte-lora")
    batch = make_pair_batch()
    expected = model(**batch, task_name="rte").logits

    torch.manual_seed(2)
    base = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={"stsb": {"task_type": "regression"}}).eval()
    base.encoder.load_state_dict(model.encoder_state_dict())
    stsb = base(**batch, task_name="stsb").logits
    assert base.load_task_adapter(folder) == "rte"
    assert base.task_adapters == ["rte"] and base.config.tasks["rte"] == model.config.tasks["rte"]
    torch.testing.assert_close(base(**batch, task_name="rte").logits, expected)
    torch.testing.assert_close(base(**batch, task_name="stsb").logits, stsb, rtol=0, atol=0)
    assert base.load_task_adapter(folder, task_name="rte_copy") == "rte_copy"
    torch.testing.assert_close(base(**batch, task_name="rte_copy").logits, expected)

    # A task the model has without an adapter gets the adapter and the head trained with it.
    torch.manual_seed(3)
    other = MTDNNForMultiTask.from_encoder(encoder_dir, tasks=TINY_TASKS).eval()
    other.encoder.load_state_dict(model.encoder_state_dict())
    assert other.load_task_adapter(folder) == "rte"
    torch.testing.assert_close(other(**batch, task_name="rte").logits, expected)


def test_load_task_adapter_from_a_hub_repo_and_push(model, encoder_dir, tmp_path, monkeypatch):
    import modeling_mtdnn.adapters as adapters

    model.add_task_adapter("stsb", r=2)
    trained(model, "stsb")
    folder = model.save_task_adapter("stsb", tmp_path / "downloaded")
    calls = []

    def snapshot_download(repo_id, **kwargs):  # the Hub client's one entry point, faked at its boundary
        calls.append((repo_id, kwargs))
        return str(folder)

    monkeypatch.setattr(adapters, "snapshot_download", snapshot_download)
    other = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={}).eval()
    other.encoder.load_state_dict(model.encoder_state_dict())
    assert other.load_task_adapter("org/mt-dnn-stsb-lora", revision="v1") == "stsb"
    assert calls == [("org/mt-dnn-stsb-lora", {"revision": "v1", "token": None, "allow_patterns": [HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]})]  # fmt: skip
    batch = make_pair_batch()
    torch.testing.assert_close(other(**batch, task_name="stsb").logits, model(**batch, task_name="stsb").logits)

    hub = RecordedHub(monkeypatch)
    assert model.push_task_adapter_to_hub("stsb", "org/mt-dnn-stsb-lora") == "commit-info"
    (_, _, _), (upload, repo, arguments) = hub.calls
    assert (upload, repo) == ("upload_folder", "org/mt-dnn-stsb-lora")
    assert sorted(arguments["files"]) == sorted(["README.md", ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE])  # fmt: skip
    assert arguments["commit_message"] == "Upload MT-DNN LoRA adapter for task 'stsb'"


def test_export_merges_the_adapter_and_gives_identical_logits(model):
    model.add_task_adapter("sst2", r=4)
    trained(model, "sst2")
    exported = model.export_task("sst2")
    batch = make_pair_batch(batch=5)
    torch.testing.assert_close(exported(**batch).logits, model(**batch, task_name="sst2").logits)
    plain = model.export_task("cola")  # no adapter: the plain encoder
    torch.testing.assert_close(plain(**batch).logits, model(**batch, task_name="cola").logits)
    assert not any("lora" in key or "base_layer" in key for key in exported.state_dict())


def test_removing_adapters_gives_the_plain_model_back(model):
    plain_keys = list(model.state_dict())
    batch = make_pair_batch()
    plain = all_logits(model, batch)
    model.add_task_adapter("rte", r=4)
    model.add_task_adapter("cola", r=4, target_modules=["key"])
    trained(model, "rte", "cola")
    model.remove_task_adapter("cola")
    assert model.task_adapters == ["rte"] and "cola" in model.task_names
    torch.testing.assert_close(model(**batch, task_name="cola").logits, plain["cola"], rtol=0, atol=0)
    model.remove_task("rte")  # the task goes with its adapter
    assert model.config.task_adapters is None or model.config.task_adapters == {}
    assert list(model.state_dict()) == [key for key in plain_keys if not key.startswith("heads.rte.")]
    with pytest.raises(ValueError, match=re.escape("Task 'cola' has no LoRA adapter; the tasks with one are [].")):
        model.remove_task_adapter("cola")


def test_train_adapters_only_trains_the_adapter_and_the_head(model):
    model.add_task_adapter("rte", r=4)
    model.add_task_adapter("sst2", r=4)
    counts = model.train_adapters_only(["rte"])
    trainable = sorted(name for name, parameter in model.named_parameters() if parameter.requires_grad)
    assert trainable and all(".lora_A.rte." in name or ".lora_B.rte." in name or name.startswith("heads.rte.") for name in trainable)  # fmt: skip
    assert counts["trainable"] == sum(model.get_parameter(name).numel() for name in trainable)
    assert counts["total"] == sum(parameter.numel() for parameter in model.parameters())
    before = {name: value.clone() for name, value in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    for _ in range(2):  # switching to another task's adapter and back must not change what trains
        model(**make_pair_batch(), task_name="sst2")
        loss = model(**make_pair_batch(), task_name="rte", labels=torch.tensor([0, 1, 0])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed and all(".lora_A.rte." in name or ".lora_B.rte." in name or name.startswith("heads.rte.") for name in changed)  # fmt: skip
    assert any(".lora_A.rte." in name for name in changed) and any(name.startswith("heads.rte.") for name in changed)
    with pytest.raises(ValueError, match=re.escape("Task(s) ['cola'] have no LoRA adapter; add one with add_task_adapter first")):  # fmt: skip
        model.train_adapters_only(["cola"])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"r": 0}, "Task 'rte': LoRA field 'r' must be an int >= 1 (the adapter's rank), got 0."),
        ({"lora_alpha": -1}, "Task 'rte': LoRA field 'lora_alpha' must be a number > 0 (the update is scaled by alpha / r), got -1."),
        ({"lora_dropout": 1.0}, "Task 'rte': LoRA field 'lora_dropout' must be a number in [0, 1), got 1.0."),
        ({"use_dora": True}, "Task 'rte': LoRA setting(s) ['use_dora'] are not supported; a task adapter takes ('r', 'lora_alpha', 'lora_dropout', 'target_modules')."),
        ({"target_modules": ["q_proj"]}, "Task 'rte': LoRA target module 'q_proj' is not a linear layer of this encoder (bert); its linear layers are named ['dense', 'key', 'query', 'value']. Pass target_modules with some of these."),
    ],
)  # fmt: skip
def test_bad_lora_settings_are_refused_and_leave_the_model_unchanged(model, settings, message):
    keys = list(model.state_dict())
    with pytest.raises(ValueError, match=re.escape(message)):
        model.add_task_adapter("rte", **settings)
    assert list(model.state_dict()) == keys and model.task_adapters == []


def test_bad_adapters_are_refused_naming_what_and_how_to_fix(model, encoder_dir, tmp_path):
    model.add_task_adapter("rte", r=4)
    trained(model, "rte")
    folder = model.save_task_adapter("rte", tmp_path / "rte-lora")
    with pytest.raises(ValueError, match=re.escape("Task 'rte' already has a LoRA adapter; call remove_task_adapter('rte') first")):  # fmt: skip
        model.add_task_adapter("rte")
    with pytest.raises(ValueError, match=re.escape("task 'rte' already has a LoRA adapter; call remove_task_adapter('rte') first, or pass another task_name")):  # fmt: skip
        model.load_task_adapter(folder)

    other_encoder = MTDNNForMultiTask.from_encoder(encoder_folder(tmp_path / "other", seed=3), tasks={})
    with pytest.raises(ValueError, match=re.escape("was trained on the encoder")):
        other_encoder.load_task_adapter(folder)
    wide = MTDNNForMultiTask.from_encoder(encoder_folder(tmp_path / "wide", hidden_size=48), tasks={})
    with pytest.raises(ValueError, match=re.escape("reads hidden size 32, but this model's encoder has 48")):
        wide.load_task_adapter(folder)

    # Another task type under the same name.
    torch.manual_seed(4)
    regression = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={"rte": {"task_type": "regression"}})
    keys = list(regression.state_dict())
    with pytest.raises(ValueError, match=re.escape("it was trained for a task with task_type='classification', but this model's task 'rte' has task_type='regression'; pass another task_name")):  # fmt: skip
        regression.load_task_adapter(folder)
    assert list(regression.state_dict()) == keys and regression.task_adapters == []

    # An adapter whose target modules this encoder does not have.
    config = json.loads((folder / ADAPTER_CONFIG_FILE).read_text())
    (folder / ADAPTER_CONFIG_FILE).write_text(json.dumps(config | {"target_modules": ["q_proj"]}))
    fresh = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={})
    with pytest.raises(ValueError, match=re.escape("LoRA target module 'q_proj' is not a linear layer of this encoder")):  # fmt: skip
        fresh.load_task_adapter(folder)
    (folder / ADAPTER_CONFIG_FILE).write_text(json.dumps(config | {"r": 8}))  # weights of rank 4
    with pytest.raises(ValueError, match=re.escape("has shape (4, 32), but r=8 on this encoder needs (8, 32)")):
        fresh.load_task_adapter(folder)
    assert fresh.task_names == [] and fresh.task_adapters == []

    # A head saved with an adapter is wrong without it.
    with pytest.raises(ValueError, match=re.escape("holds a task adapter: its head was trained with a LoRA adapter on the encoder and gives wrong outputs without it. Load both with model.load_task_adapter.")):  # fmt: skip
        fresh.load_head(folder)
    head_only = model.save_head("sst2", tmp_path / "sst2-head")
    with pytest.raises(ValueError, match=re.escape("holds no MT-DNN task adapter: ['adapter_config.json', 'adapter_model.safetensors'] missing")):  # fmt: skip
        fresh.load_task_adapter(head_only)
    with pytest.raises(ValueError, match=re.escape("Task 'rte' has a LoRA adapter, and its head gives wrong outputs without it; save both with save_task_adapter('rte', ...).")):  # fmt: skip
        model.save_head("rte", tmp_path / "rte-head")
    with pytest.raises(ValueError, match=re.escape("Task 'sst2' has no LoRA adapter (the tasks with one are ['rte']); save its head alone with save_head")):  # fmt: skip
        model.save_task_adapter("sst2", tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
