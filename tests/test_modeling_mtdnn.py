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
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import transformers.modeling_utils
from safetensors.torch import load_file, save_file
from transformers import AutoModel, BertModel, DebertaV2Config, ElectraConfig, RobertaConfig

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask, MTDNNMultiTaskOutput, MTDNNOutput

from .conftest import TINY_TASKS, make_pair_batch, tiny_bert_config

LABELS = {
    "sst2": torch.tensor([0, 1, 1]),
    "cola": torch.tensor([1, 0, 1]),
    "rte": torch.tensor([1, 0, 0]),
    "mnli": torch.tensor([2, 0, 1]),
    "stsb": torch.tensor([0.5, 3.0, 4.5]),
}
SHAPES = {"sst2": (3, 2), "cola": (3, 2), "rte": (3, 2), "mnli": (3, 3), "stsb": (3,), "qnli": (3,)}


def expected_loss(task, logits, labels):
    if task == "stsb":
        return 0.5 * F.mse_loss(logits, labels)  # loss_weight 0.5
    return F.cross_entropy(logits, labels)


@pytest.mark.parametrize("task", sorted(LABELS))
def test_forward_shapes_and_loss_by_task(tiny_model, task):
    batch = make_pair_batch()
    output = tiny_model(**batch, task_name=task, labels=LABELS[task])
    assert isinstance(output, MTDNNOutput)
    assert output.logits.shape == SHAPES[task]
    torch.testing.assert_close(output.loss, expected_loss(task, output.logits, LABELS[task]))


def test_ranking_groups_candidates_and_masks_padding(tiny_model):
    batch = make_pair_batch(batch=6)
    grouped = {key: value.view(2, 3, -1).clone() for key, value in batch.items()}
    grouped["attention_mask"][1, 2] = 0  # the second question has two candidates only
    output = tiny_model(**grouped, task_name="qnli", labels=torch.tensor([2, 0]))
    assert output.logits.shape == (2, 3)
    assert output.logits[1, 2] == torch.finfo(torch.float32).min
    flat_scores = tiny_model(**batch, task_name="qnli").logits
    torch.testing.assert_close(output.logits[0], flat_scores[:3])
    torch.testing.assert_close(output.logits[1, :2], flat_scores[3:5])
    scores = output.logits
    expected = (
        -torch.log_softmax(scores[0], -1)[2] - torch.log_softmax(scores[1, :2], -1)[0]
    ) / 2  # padding candidate takes no probability
    torch.testing.assert_close(output.loss, expected)


# Parameters whose gradient is zero by the maths, whatever the weights: softmax ignores a shift shared by every
# position, and an attention key bias or the SAN self-attention bias adds exactly such a shift to the scores.
ANALYTICALLY_ZERO = re.compile(
    r"encoder\.encoder\.layer\.\d+\.attention\.self\.key\.bias|heads\.rte\.self_attention\.bias"
)


@pytest.mark.parametrize("seed", [0, 6, 11])
def test_gradients_reach_encoder_and_only_the_active_head(tiny_config, seed):
    torch.manual_seed(seed)
    model = MTDNNForMultiTask(tiny_config).train()
    model(**make_pair_batch(seed=seed), task_name="rte", labels=LABELS["rte"]).loss.backward()
    for name, parameter in model.named_parameters():
        if name.startswith("heads.") and not name.startswith("heads.rte."):
            assert parameter.grad is None, name
        elif ANALYTICALLY_ZERO.fullmatch(name):
            torch.testing.assert_close(parameter.grad, torch.zeros_like(parameter), atol=1e-6, rtol=0, msg=name)
        elif name.startswith(("heads.rte.", "encoder.encoder.", "encoder.embeddings.word_")):
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_san_loss_is_the_nll_of_the_averaged_step_prediction(tiny_model):
    batch, labels = make_pair_batch(), LABELS["mnli"]
    output = tiny_model(**batch, task_name="mnli", labels=labels)
    hidden = tiny_model.encoder(**batch).last_hidden_state
    head = tiny_model.heads["mnli"]
    steps = head.step_probabilities(hidden, batch["attention_mask"], batch["token_type_ids"])  # (batch, K, C)
    assert steps.shape == (3, 3, 3)  # mnli has san_steps=3
    averaged = steps.mean(dim=1)  # inference keeps every step
    expected = -torch.log(averaged[torch.arange(3), labels]).mean()
    torch.testing.assert_close(output.loss, expected)


def test_several_tasks_from_one_encoder_pass(tiny_model):
    batch = make_pair_batch()
    calls = []
    hook = tiny_model.encoder.register_forward_hook(lambda *args: calls.append(1))
    output = tiny_model(**batch, task_name=None)
    hook.remove()
    assert len(calls) == 1
    assert isinstance(output, MTDNNMultiTaskOutput)
    assert list(output.task_logits) == sorted(TINY_TASKS)
    for task, logits in output.task_logits.items():
        torch.testing.assert_close(logits, tiny_model(**batch, task_name=task).logits)
    subset = tiny_model(**batch, task_name=["stsb", "rte", "stsb"])
    assert list(subset.task_logits) == ["stsb", "rte"]
    assert isinstance(tiny_model(**batch, task_name=["rte"], return_dict=False), tuple)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task_name": "qqp"}, "Unknown task_name 'qqp'; this model has the tasks ['cola', 'mnli', 'qnli', 'rte', 'sst2', 'stsb']."),
        ({"task_name": ["rte", "qqp"]}, "Unknown task_name 'qqp'"),
        ({"task_name": []}, "task_name is an empty list"),
        ({"task_name": ["rte"], "labels": torch.tensor([0, 1, 0])}, "labels were given with task_name=['rte']; training and loss need exactly one task name"),
        ({"task_name": None, "labels": torch.tensor([0, 1, 0])}, "labels were given with task_name=None"),
        ({"task_name": "qnli", "labels": torch.tensor([0, 1, 0])}, "Task 'qnli' (ranking): training needs inputs of shape (groups, candidates, seq_len), got (3, 10)"),
    ],
)  # fmt: skip
def test_bad_calls_raise_clear_errors(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model(**make_pair_batch(), **kwargs)


def test_grouped_inputs_for_a_non_ranking_task_are_refused(tiny_model):
    batch = {key: value.view(1, 3, -1) for key, value in make_pair_batch().items()}
    with pytest.raises(ValueError, match=re.escape("but ['rte'] are not ranking tasks")):
        tiny_model(**batch, task_name=["qnli", "rte"])


def test_save_load_round_trip_is_exact(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "modeling_mtdnn.py", "configuration_mtdnn.py", "heads.py"} <= set(
        os.listdir(tmp_path)
    )
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_mtdnn.MTDNNConfig",
        "AutoModel": "modeling_mtdnn.MTDNNForMultiTask",
    }
    assert "encoder.pooler.dense.weight" in load_file(tmp_path / "model.safetensors")  # BERT's pooled [CLS]
    loaded = AutoModel.from_pretrained(tmp_path).eval()  # no remote code: the installed package is registered
    assert type(loaded) is MTDNNForMultiTask
    assert without_load_fields(loaded.config.to_dict()) == without_load_fields(tiny_model.config.to_dict())
    assert list(loaded.config.tasks) == list(tiny_model.config.tasks) == sorted(TINY_TASKS)
    original, reloaded = tiny_model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    for key in original:
        assert torch.equal(original[key], reloaded[key]), key
    batch = make_pair_batch()
    for task in TINY_TASKS:
        assert_same_logits(loaded(**batch, task_name=task).logits, tiny_model(**batch, task_name=task).logits)


def without_load_fields(config: dict) -> dict:
    """A config dict less what loading sets by design: where it came from and the dtype it was loaded in."""
    return {
        key: without_load_fields(value) if isinstance(value, dict) else value
        for key, value in config.items()
        if key not in ("_name_or_path", "dtype")
    }


def assert_same_logits(actual, expected):
    # Weights are compared bitwise above; logits may still differ in the last float32 bit, because safetensors
    # tensors loaded from an mmap may sit unaligned and take another SIMD path in a matrix-vector product.
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


REMOTE_CODE_SCRIPT = """
import json, sys
sys.modules["modeling_mtdnn"] = None  # the installed package must not be importable: only the checkpoint's code
import torch
from transformers import AutoModel
try:
    import modeling_mtdnn
    raise SystemExit("modeling_mtdnn is importable; the test would not prove remote code")
except ImportError:
    pass
path, batch_path = sys.argv[1], sys.argv[2]
model = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
batch = {key: torch.tensor(value) for key, value in json.load(open(batch_path)).items()}
logits = {task: model(**batch, task_name=task).logits.tolist() for task in model.config.tasks}
print(json.dumps({"module": type(model).__module__, "logits": logits}))
"""


def test_remote_code_reload_in_fresh_python(tiny_model, tmp_path):
    checkpoint = tmp_path / "org--mt-dnn"
    tiny_model.save_pretrained(checkpoint)
    batch = make_pair_batch()
    (tmp_path / "batch.json").write_text(json.dumps({key: value.tolist() for key, value in batch.items()}))
    (tmp_path / "load.py").write_text(REMOTE_CODE_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}
    completed = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "load.py"), str(checkpoint), str(tmp_path / "batch.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["module"].startswith("transformers_modules."), result["module"]
    for task, logits in result["logits"].items():
        assert_same_logits(torch.tensor(logits), tiny_model(**batch, task_name=task).logits)


def test_add_and_remove_task_leave_the_rest_untouched(tiny_model, tmp_path):
    before = {key: value.clone() for key, value in tiny_model.state_dict().items()}
    head = tiny_model.add_task("wnli", {"task_type": "classification", "num_labels": 2, "head": "san"})
    assert tiny_model.heads["wnli"] is head and "wnli" in tiny_model.config.tasks
    assert not head.training  # follows the model's eval mode
    tiny_model.remove_task("sst2")
    assert "sst2" not in tiny_model.heads and "sst2" not in tiny_model.config.tasks
    after = tiny_model.state_dict()
    for key, value in before.items():
        if not key.startswith("heads.sst2."):
            assert torch.equal(after[key], value), key
    assert tiny_model(**make_pair_batch(), task_name="wnli").logits.shape == (3, 2)
    with pytest.raises(ValueError, match=re.escape("Task 'wnli' already exists")):
        tiny_model.add_task("wnli", {"task_type": "regression"})
    with pytest.raises(ValueError, match=re.escape("Unknown task_name 'sst2'")):
        tiny_model.remove_task("sst2")
    tiny_model.save_pretrained(tmp_path)
    loaded = MTDNNForMultiTask.from_pretrained(tmp_path)
    assert sorted(loaded.heads) == sorted(tiny_model.heads)


def _rewrite_checkpoint(path, edit_weights=None, edit_config=None):
    weights = load_file(path / "model.safetensors")
    if edit_weights:
        edit_weights(weights)
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    if edit_config:
        config = json.loads((path / "config.json").read_text())
        edit_config(config)
        (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "edit_weights, edit_config, message",
    [
        (
            lambda w: [w.pop(k) for k in list(w) if k.startswith("heads.rte.")],
            None,
            "task 'rte': weight 'heads.rte.bilinear.weight' is missing from the checkpoint",
        ),
        (
            None,
            lambda c: c["tasks"].pop("stsb"),
            "task 'stsb': the checkpoint has weight 'heads.stsb.classifier.bias', which the config's heads lack",
        ),
        (
            None,
            lambda c: c["tasks"]["mnli"].update(num_labels=4, id2label=None),
            "task 'mnli': weight 'heads.mnli.classifier.weight' has shape (3, 128) in the checkpoint but (4, 128)",
        ),
    ],
    ids=["head-missing", "head-extra", "head-shape"],
)
def test_checkpoint_whose_heads_do_not_match_config_fails_naming_the_task(
    tiny_model, tmp_path, edit_weights, edit_config, message
):
    tiny_model.save_pretrained(tmp_path)
    _rewrite_checkpoint(tmp_path, edit_weights, edit_config)
    with pytest.raises(ValueError, match=re.escape(message)):
        AutoModel.from_pretrained(tmp_path)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config):
    torch.manual_seed(0)
    model = MTDNNForMultiTask(tiny_config)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    batch = make_pair_batch()

    def gradients():
        torch.manual_seed(0)  # the same SAN step-dropout draw for both runs
        model.zero_grad()
        model(**batch, task_name="mnli", labels=LABELS["mnli"]).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    # transformers 5.24 renamed it `activation_checkpointing_enable`; the old name still works, with a FutureWarning.
    with pytest.warns(FutureWarning, match="activation_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    assert model.is_activation_checkpointing
    assert all(layer.gradient_checkpointing for layer in model.encoder.encoder.layer)
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-6)


def test_bfloat16_loading(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    model = AutoModel.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    batch = make_pair_batch()
    for task in ("rte", "stsb"):
        logits = model(**batch, task_name=task).logits
        assert logits.dtype == torch.bfloat16
        torch.testing.assert_close(logits.float(), tiny_model(**batch, task_name=task).logits, rtol=0.1, atol=0.1)


@pytest.mark.parametrize(
    "backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)]
)  # inductor compiles C++ (30 s cold): slow
def test_torch_compile_on_cpu_matches_eager(tiny_model, backend):
    torch._dynamo.reset()
    batch = make_pair_batch()
    compiled = torch.compile(tiny_model, backend=backend)
    for task in ("sst2", "rte"):
        torch.testing.assert_close(
            compiled(**batch, task_name=task).logits, tiny_model(**batch, task_name=task).logits
        )


@pytest.mark.parametrize(
    "encoder_config",
    [
        RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37, type_vocab_size=1),
        DebertaV2Config(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37),
        ElectraConfig(vocab_size=99, hidden_size=32, embedding_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37),
    ],
    ids=["roberta", "deberta-v2", "electra"],
)  # fmt: skip
def test_other_encoders_train_and_round_trip(encoder_config, tmp_path):
    tasks = {
        "rte": {"task_type": "classification", "num_labels": 2, "head": "san"},
        "stsb": {"task_type": "regression"},
    }
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=encoder_config, tasks=tasks))
    batch = make_pair_batch()
    if encoder_config.model_type == "roberta":
        batch.pop("token_type_ids")
    model(**batch, task_name="rte", labels=LABELS["rte"]).loss.backward()
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    for task in tasks:
        assert_same_logits(loaded(**batch, task_name=task).logits, model(**batch, task_name=task).logits)


def test_from_encoder_keeps_pretrained_weights(tmp_path):
    torch.manual_seed(0)
    source = BertModel(tiny_bert_config())
    source.save_pretrained(tmp_path / "encoder")
    model = MTDNNForMultiTask.from_encoder(str(tmp_path / "encoder"), tasks=TINY_TASKS)
    encoder_state = model.encoder.state_dict()
    assert encoder_state.keys() == source.state_dict().keys()
    for key, value in source.state_dict().items():
        assert torch.equal(encoder_state[key], value), key
    assert sorted(model.heads) == sorted(TINY_TASKS)
    for name, parameter in model.heads.named_parameters():
        assert parameter.device.type == "cpu" and torch.isfinite(parameter).all(), name
    assert model.heads["sst2"].classifier.bias.abs().sum() == 0  # initialised, not left empty
    assert 0.015 < model.heads["rte"].bilinear.weight.std() < 0.025  # normal(0, initializer_range=0.02)
    bound = 32**-0.5  # GRU weights: uniform(-1/sqrt(hidden), 1/sqrt(hidden))
    assert 0.8 * bound < model.heads["rte"].gru.weight_hh.abs().max() <= bound
    assert model(**make_pair_batch(), task_name="qnli").logits.shape == (3,)
    assert model.config.pooling == "auto"
    assert MTDNNForMultiTask.from_encoder(str(tmp_path / "encoder"), tasks={}, pooling="mean").config.pooling == "mean"
    with pytest.raises(ValueError, match=re.escape("pooling='first' is not supported")):
        MTDNNForMultiTask.from_encoder(str(tmp_path / "no-such-encoder"), tasks={}, pooling="first")  # before loading


def test_from_encoder_on_real_minilm(minilm_path, tmp_path):
    from transformers import AutoTokenizer

    source = AutoModel.from_pretrained(minilm_path)
    model = MTDNNForMultiTask.from_encoder(minilm_path, tasks=TINY_TASKS).eval()
    encoder_state = model.encoder.state_dict()
    assert encoder_state.keys() == source.state_dict().keys() and len(encoder_state) > 90
    for key, value in source.state_dict().items():
        assert torch.equal(encoder_state[key], value), key
    assert "pooler.dense.weight" in encoder_state  # MiniLM's pretrained pooler feeds the linear heads
    assert model.config.encoder_config.num_hidden_layers == 6 and model.config.hidden_size == 384
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(["A man plays a guitar."], ["Someone makes music."], return_tensors="pt")
    logits = model(**batch, task_name="rte").logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert_same_logits(reloaded(**batch, task_name="rte").logits, logits)


@pytest.mark.parametrize("pooling", ["auto", "cls", "mean"])
def test_pooling_chooses_the_sentence_vector_of_linear_heads(pooling, tmp_path):
    torch.manual_seed(0)
    model = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TINY_TASKS, pooling=pooling)).eval()
    batch = make_pair_batch()
    encoded = model.encoder(**batch)
    hidden, mask = encoded.last_hidden_state, batch["attention_mask"].unsqueeze(-1).float()
    sentence = {
        "auto": encoded.pooler_output,
        "cls": hidden[:, 0],
        "mean": (hidden * mask).sum(1) / mask.sum(1),
    }[pooling]
    torch.testing.assert_close(model(**batch, task_name="sst2").logits, model.heads["sst2"].classifier(sentence))
    rte = model(**batch, task_name="rte").logits  # SAN heads read every token, whatever the pooling
    torch.manual_seed(0)
    default = MTDNNForMultiTask(MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TINY_TASKS)).eval()
    torch.testing.assert_close(rte, default(**batch, task_name="rte").logits)

    model.save_pretrained(tmp_path)
    loaded = MTDNNForMultiTask.from_pretrained(tmp_path).eval()
    assert loaded.config.pooling == pooling
    assert_same_logits(loaded(**batch, task_name="sst2").logits, model(**batch, task_name="sst2").logits)


def test_unknown_pooling_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match=re.escape("pooling='max' is not supported; choose one of ['auto', 'cls', 'mean'].")
    ):
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TINY_TASKS, pooling="max")


def failing_write(*args, **kwargs):
    """Stands in for a weight write that dies half way: a partial file, then an error (a full disk, a kill)."""
    filename = args[1] if len(args) > 1 else kwargs["filename"]
    with open(filename, "wb") as file:
        file.write(b"\x00" * 10)
    raise OSError(28, "No space left on device")


def test_a_failed_save_leaves_the_earlier_checkpoint_loadable_and_unchanged(tiny_model, tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    tiny_model.save_pretrained(folder)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    tiny_model.add_task("wnli", {"task_type": "classification", "num_labels": 2})  # the config would change too
    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", failing_write)
    with pytest.raises(OSError, match="No space left on device"):
        tiny_model.save_pretrained(folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no staging folder left behind
    reloaded = MTDNNForMultiTask.from_pretrained(folder)
    assert "wnli" not in reloaded.config.tasks
    monkeypatch.undo()
    tiny_model.save_pretrained(folder)  # a save that works replaces everything
    assert "wnli" in MTDNNForMultiTask.from_pretrained(folder).config.tasks


def test_a_save_replaces_the_shards_of_an_earlier_save(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    tiny_model.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.glob("model*.safetensors*")) == ["model.safetensors"]
    assert set(MTDNNForMultiTask.from_pretrained(tmp_path).state_dict()) == set(tiny_model.state_dict())


@pytest.mark.parametrize(
    "name, spec, message",
    [
        ("train", {"task_type": "regression"}, "Task name 'train' is not valid: it is an attribute of torch's nn.ModuleDict"),
        ("wnli\n", {"task_type": "regression"}, "Task name 'wnli\\n' is not valid"),
        ("wnli", {"task_type": "classification"}, "Task 'wnli': a classification task needs 'num_labels' or 'id2label'"),
        ("sst2", {"task_type": "regression"}, "Task 'sst2' already exists"),
    ],
)  # fmt: skip
def test_a_failed_add_task_changes_nothing(tiny_model, name, spec, message):
    config_before = copy.deepcopy(tiny_model.config.to_dict())
    state_before = {key: value.clone() for key, value in tiny_model.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model.add_task(name, spec)
    assert tiny_model.config.to_dict() == config_before
    assert sorted(tiny_model.heads) == sorted(TINY_TASKS)
    state = tiny_model.state_dict()
    assert state.keys() == state_before.keys() and all(torch.equal(state[k], v) for k, v in state_before.items())


def test_update_task_changes_training_settings_but_no_weight(tiny_model):
    weights = {key: value.clone() for key, value in tiny_model.heads["rte"].state_dict().items()}
    spec = tiny_model.update_task("rte", dropout=0.3, loss_weight=2.0, san_step_dropout=0.0)
    assert spec["dropout"] == 0.3 and tiny_model.config.tasks["rte"]["loss_weight"] == 2.0
    assert tiny_model.heads["rte"].dropout.p == 0.3 and tiny_model.heads["rte"].step_dropout == 0.0
    for key, value in tiny_model.heads["rte"].state_dict().items():
        assert torch.equal(value, weights[key])
    with pytest.raises(ValueError, match=re.escape("Task 'rte': update_task changes only ['dropout', 'loss_weight', 'san_step_dropout', 'ranking_gamma'], not ['num_labels']")):  # fmt: skip
        tiny_model.update_task("rte", num_labels=3)
    with pytest.raises(ValueError, match=re.escape("Task 'rte': field 'dropout' must be a number in [0, 1), got 2.")):
        tiny_model.update_task("rte", dropout=2)
    assert tiny_model.config.tasks["rte"]["dropout"] == 0.3


@pytest.mark.parametrize(
    "task_name, message",
    [
        (3, "task_name must be a task's name (str), a list of names or None (every task), got int 3; this model has the tasks ['cola', 'mnli', 'qnli', 'rte', 'sst2', 'stsb']."),
        (["rte", 1], "task_name must be a task's name (str), a list of names or None (every task), got list ['rte', 1]"),
        ({"rte"}, "got set {'rte'}"),
    ],
)  # fmt: skip
def test_task_name_of_the_wrong_type_is_a_type_error(tiny_model, task_name, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        tiny_model(**make_pair_batch(), task_name=task_name)


def test_out_of_range_labels_in_forward_name_the_task(tiny_model):
    with pytest.raises(ValueError, match=re.escape("Task 'mnli' (classification): label 3 is out of range; labels must be class ids 0..2")):  # fmt: skip
        tiny_model(**make_pair_batch(), task_name="mnli", labels=torch.tensor([0, 3, 1]))


def test_missing_encoder_weights_fail_to_load_naming_the_keys(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    _rewrite_checkpoint(tmp_path, lambda w: w.pop("encoder.encoder.layer.1.output.dense.weight"))
    with pytest.raises(ValueError, match=re.escape("the encoder: weight 'encoder.encoder.layer.1.output.dense.weight' is missing from the checkpoint")):  # fmt: skip
        MTDNNForMultiTask.from_pretrained(tmp_path)


def test_encoder_weights_the_config_lacks_fail_to_load_instead_of_being_dropped(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["encoder_config"]["num_hidden_layers"] == 2
    config["encoder_config"]["num_hidden_layers"] = 1  # the weights still hold layer 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=re.escape("the encoder: the checkpoint has weights 'encoder.encoder.layer.1.attention.output.LayerNorm.bias', 'encoder.encoder.layer.1.attention.output.LayerNorm.weight', 'encoder.encoder.layer.1.attention.output.dense.bias' and 13 more, which the config's encoder lacks (its `encoder_config` has fewer layers or another architecture than the weights)")):  # fmt: skip
        MTDNNForMultiTask.from_pretrained(tmp_path)


def test_truncated_weights_are_named_as_such(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=re.escape("the safetensors file is truncated or corrupt")):
        MTDNNForMultiTask.from_pretrained(tmp_path)


@pytest.mark.parametrize("path", ["./no-such-encoder", "/no/such/encoder", "models/encoders/bert"])
def test_a_local_path_that_does_not_exist_is_not_called_a_bad_hub_id(path):
    with pytest.raises(ValueError, match=re.escape(f"Encoder folder '{path}' is a local path that does not exist; fix the path (it is not a Hub id).")):  # fmt: skip
        MTDNNForMultiTask.from_encoder(path, tasks={})
    with pytest.raises(ValueError, match=re.escape(f"MT-DNN checkpoint '{path}' is a local path that does not exist")):
        MTDNNForMultiTask.from_pretrained(path)


def test_inputs_embeds_give_the_logits_of_input_ids(tiny_model):
    batch = make_pair_batch()
    embeds = tiny_model.get_input_embeddings()(batch["input_ids"])
    for task in ("sst2", "rte", "stsb"):
        from_ids = tiny_model(**batch, task_name=task).logits
        from_embeds = tiny_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"], task_name=task).logits  # fmt: skip
        torch.testing.assert_close(from_embeds, from_ids)


def test_hidden_states_attentions_and_tuples(tiny_config):
    model = MTDNNForMultiTask._from_config(tiny_config, attn_implementation="eager").eval()
    batch = make_pair_batch()
    output = model(**batch, task_name="rte", output_hidden_states=True, output_attentions=True)
    assert len(output.hidden_states) == 3 and output.hidden_states[-1].shape == (3, 10, 32)  # embeddings + 2 layers
    assert len(output.attentions) == 2 and output.attentions[0].shape == (3, 4, 10, 10)
    many = model(**batch, task_name=None, output_hidden_states=True)
    assert len(many.hidden_states) == 3
    as_tuple = model(**batch, task_name="rte", labels=LABELS["rte"], return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], model(**batch, task_name="rte", labels=LABELS["rte"]).loss)
    torch.testing.assert_close(as_tuple[1], output.logits)


def test_resize_token_embeddings(tiny_model, tmp_path):
    embeddings = tiny_model.resize_token_embeddings(120)
    assert embeddings.weight.shape == (120, 32)
    assert tiny_model.config.encoder_config.vocab_size == 120
    input_ids = torch.tensor([[2, 110, 119, 3]])
    assert tiny_model(input_ids, task_name="sst2").logits.shape == (1, 2)
    tiny_model.save_pretrained(tmp_path)
    assert MTDNNForMultiTask.from_pretrained(tmp_path).get_input_embeddings().weight.shape == (120, 32)


def test_heads_follow_the_encoder_dtype_in_from_encoder(tmp_path):
    torch.manual_seed(0)
    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "encoder")
    model = MTDNNForMultiTask.from_encoder(str(tmp_path / "encoder"), tasks=TINY_TASKS, dtype=torch.bfloat16)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.bfloat16}
    assert model.add_task("wnli", {"task_type": "regression"}).classifier.weight.dtype == torch.bfloat16
    assert model(**make_pair_batch(), task_name="rte").logits.dtype == torch.bfloat16


def test_san_heads_of_one_kind_evaluated_together_give_each_heads_own_logits(tiny_config):
    torch.manual_seed(0)
    tiny_config.add_task("wnli", {"task_type": "classification", "num_labels": 2, "head": "san", "san_steps": 3})
    tiny_config.add_task("qqp", {"task_type": "classification", "num_labels": 2, "head": "san"})
    model = MTDNNForMultiTask(tiny_config).eval()  # SAN: rte (5 steps), qqp (5), mnli (3 steps, 3 classes), wnli (3)
    batch = make_pair_batch()
    with torch.no_grad():
        together = model(**batch, task_name=None).task_logits
        assert set(model._stacked_san_cache) == {("mnli", "wnli"), ("qqp", "rte")}
        for name in ("rte", "qqp", "mnli", "wnli"):
            alone = model(**batch, task_name=name).logits  # one head: its own module
            assert together[name].shape == alone.shape
            torch.testing.assert_close(together[name], alone, rtol=0, atol=1e-6)
        with torch.no_grad():
            model.heads["rte"].classifier.bias.add_(0.5)  # a changed weight invalidates the stacked copy
        torch.testing.assert_close(
            model(**batch, task_name=["rte", "qqp"]).task_logits["rte"],
            model(**batch, task_name="rte").logits,
            rtol=0,
            atol=1e-6,
        )
    model.zero_grad()
    logits = model(**batch, task_name=["rte", "qqp"]).task_logits  # with gradients: each head's own module
    logits["rte"].sum().backward()
    assert model.heads["rte"].gru.weight_hh.grad.abs().sum() > 0  # gradients reach the head's own parameters
