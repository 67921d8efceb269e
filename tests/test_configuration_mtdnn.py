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

import json
import re

import pytest
from transformers import AutoConfig, BertConfig, DebertaV2Config, ElectraConfig, RobertaConfig

from modeling_mtdnn import MTDNNConfig, normalize_task_spec

from .conftest import TINY_TASKS, tiny_bert_config

DEFAULTS_CASES = [
    (
        {"task_type": "classification", "num_labels": 3},
        {
            "task_type": "classification",
            "id2label": {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"},
            "num_labels": 3,
            "head": "linear",
            "inputs": None,
            "dropout": 0.1,
            "loss_weight": 1.0,
        },
    ),
    (
        {"task_type": "classification", "id2label": {"0": "no", "1": "yes"}, "head": "san"},
        {
            "task_type": "classification",
            "id2label": {0: "no", 1: "yes"},
            "num_labels": 2,
            "head": "san",
            "inputs": "pair",
            "dropout": 0.1,
            "loss_weight": 1.0,
            "san_steps": 5,
            "san_step_dropout": 0.1,
        },
    ),
    (
        {"task_type": "regression", "dropout": 0, "loss_weight": 2},
        {
            "task_type": "regression",
            "num_labels": 1,
            "head": "linear",
            "inputs": None,
            "dropout": 0.0,
            "loss_weight": 2.0,
        },
    ),
    (
        {"task_type": "ranking", "ranking_gamma": 5},
        {
            "task_type": "ranking",
            "num_labels": 1,
            "head": "linear",
            "inputs": "pair",
            "dropout": 0.1,
            "loss_weight": 1.0,
            "ranking_gamma": 5.0,
        },
    ),
]


@pytest.mark.parametrize("spec, expected", DEFAULTS_CASES)
def test_spec_defaults_are_filled(spec, expected):
    assert normalize_task_spec("t", spec) == expected


ERROR_CASES = [
    ("bad name", {"task_type": "regression"}, "Task name 'bad name' is not valid"),
    ("a.b", {"task_type": "regression"}, "Task name 'a.b' is not valid"),
    ("rte\n", {"task_type": "regression"}, "Task name 'rte\\n' is not valid: use a non-empty string of letters, digits, '_' and '-' (it becomes a module name, so no dots, spaces or newlines)."),
    ("train", {"task_type": "regression"}, "Task name 'train' is not valid: it is an attribute of torch's nn.ModuleDict, which holds the heads; choose another name, such as 'train_task'."),
    ("training", {"task_type": "regression"}, "Task name 'training' is not valid: it is an attribute of torch's nn.ModuleDict"),
    ("forward", {"task_type": "regression"}, "Task name 'forward' is not valid: it is an attribute"),
    ("to", {"task_type": "regression"}, "Task name 'to' is not valid: it is an attribute"),
    ("float", {"task_type": "regression"}, "Task name 'float' is not valid: it is an attribute"),
    ("keys", {"task_type": "regression"}, "Task name 'keys' is not valid: it is an attribute"),
    ("t", {"task_type": "regression", "inputs": "triple"}, "Task 't': field 'inputs' must be one of ['single', 'pair'] or left out, got 'triple'."),
    ("t", {"task_type": "ranking", "inputs": "single"}, "Task 't': field 'inputs' must be 'pair' for task_type 'ranking' (a query and a candidate), got 'single'."),
    ("t", ["regression"], "Task 't': the spec must be a dict of fields, got list"),
    ("t", {"task_type": "clf"}, "Task 't': field 'task_type' must be one of ['classification', 'regression', 'ranking', 'token_classification', 'span_extraction'], got 'clf'."),
    ("t", {"task_type": "regression", "labels": 3}, "Task 't': unknown field(s) ['labels']"),
    ("t", {"task_type": "classification"}, "Task 't': a classification task needs 'num_labels' or 'id2label'"),
    ("t", {"task_type": "classification", "num_labels": 1}, "Task 't': field 'num_labels' must be at least 2 for classification"),
    ("t", {"task_type": "classification", "num_labels": "2"}, "Task 't': field 'num_labels' must be an integer, got '2'."),
    ("t", {"task_type": "classification", "num_labels": 3, "id2label": {0: "a", 1: "b"}}, "Task 't': field 'num_labels' is 3 but 'id2label' names 2 labels"),
    ("t", {"task_type": "classification", "id2label": {0: "a", 2: "b"}}, "Task 't': field 'id2label' must be a dict with keys 0..1 and no gaps"),
    ("t", {"task_type": "classification", "id2label": {0: "a", 1: "a"}}, "Task 't': field 'id2label' must be a dict whose values are distinct non-empty strings"),
    ("t", {"task_type": "classification", "id2label": {"x": "a"}}, "Task 't': field 'id2label' must be a dict whose keys are integers"),
    ("t", {"task_type": "classification", "id2label": []}, "Task 't': field 'id2label' must be a non-empty dict"),
    ("t", {"task_type": "regression", "num_labels": 2}, "Task 't': field 'num_labels' must be 1 (or left out) for task_type 'regression', got 2."),
    ("t", {"task_type": "regression", "id2label": {0: "a"}}, "Task 't': field 'id2label' must be left out for task_type 'regression'"),
    ("t", {"task_type": "regression", "head": "mlp"}, "Task 't': field 'head' must be one of ['linear', 'san'], got 'mlp'."),
    ("t", {"task_type": "ranking", "head": "san"}, "Task 't': field 'head' must be 'linear' for task_type 'ranking'"),
    ("t", {"task_type": "regression", "dropout": 1.0}, "Task 't': field 'dropout' must be a number in [0, 1), got 1.0."),
    ("t", {"task_type": "regression", "dropout": "0.1"}, "Task 't': field 'dropout' must be a number in [0, 1), got '0.1'."),
    ("t", {"task_type": "regression", "loss_weight": 0}, "Task 't': field 'loss_weight' must be a positive number, got 0."),
    ("t", {"task_type": "regression", "loss_weight": float("nan")}, "Task 't': field 'loss_weight' must be a positive number, got nan."),
    ("t", {"task_type": "classification", "num_labels": 2, "san_steps": 3}, "Task 't': field 'san_steps' must be left out unless head is 'san', got 3."),
    ("t", {"task_type": "classification", "num_labels": 2, "head": "san", "san_steps": 0}, "Task 't': field 'san_steps' must be an integer >= 1, got 0."),
    ("t", {"task_type": "classification", "num_labels": 2, "head": "san", "san_steps": 1_000_000_000}, "Task 't': field 'san_steps' must be an integer from 1 to 100 (the paper uses 5), got 1000000000."),
    ("t", {"task_type": "classification", "num_labels": 1_000_000_000}, "Task 't': field 'num_labels' must be an integer from 2 to 100000, got 1000000000."),
    ("t", {"task_type": "token_classification", "num_labels": 100_001}, "Task 't': field 'num_labels' must be an integer from 2 to 100000, got 100001."),
    ("t", {"task_type": "classification", "num_labels": 2, "head": "san", "san_step_dropout": -0.1}, "Task 't': field 'san_step_dropout' must be a number in [0, 1), got -0.1."),
    ("t", {"task_type": "regression", "ranking_gamma": 2.0}, "Task 't': field 'ranking_gamma' must be left out unless task_type is 'ranking', got 2.0."),
    ("t", {"task_type": "ranking", "ranking_gamma": -1}, "Task 't': field 'ranking_gamma' must be a positive number, got -1."),
]  # fmt: skip


@pytest.mark.parametrize("name, spec, message", ERROR_CASES)
def test_bad_spec_raises_naming_task_field_and_value(name, spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MTDNNConfig(encoder_config=tiny_bert_config(), tasks={name: spec})


def test_save_load_round_trip(tmp_path):
    config = MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TINY_TASKS)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "mtdnn"
    assert saved["encoder_config"]["model_type"] == "bert"
    assert saved["tasks"]["rte"]["id2label"] == {"0": "entailment", "1": "not_entailment"}

    loaded = MTDNNConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.tasks == config.tasks
    assert loaded.tasks["rte"]["id2label"] == {0: "entailment", 1: "not_entailment"}
    assert isinstance(loaded.encoder_config, BertConfig)
    assert loaded.encoder_config.hidden_size == 32
    assert isinstance(AutoConfig.from_pretrained(tmp_path), MTDNNConfig)


def test_specs_given_are_not_mutated():
    spec = {"task_type": "classification", "id2label": {"0": "a", "1": "b"}}
    MTDNNConfig(encoder_config=tiny_bert_config(), tasks={"t": spec})
    assert spec == {"task_type": "classification", "id2label": {"0": "a", "1": "b"}}


@pytest.mark.parametrize(
    "encoder_config",
    [
        tiny_bert_config(),
        RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37),
        DebertaV2Config(
            vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37
        ),
        ElectraConfig(vocab_size=99, hidden_size=32, embedding_size=16, num_hidden_layers=1, num_attention_heads=4),
    ],
    ids=["bert", "roberta", "deberta-v2", "electra"],
)
def test_encoder_config_as_object_or_dict(encoder_config):
    from_object = MTDNNConfig(encoder_config=encoder_config, tasks={"t": {"task_type": "regression"}})
    from_dict = MTDNNConfig(encoder_config=encoder_config.to_dict(), tasks={"t": {"task_type": "regression"}})
    assert type(from_dict.encoder_config) is type(encoder_config)
    assert from_dict.to_dict() == from_object.to_dict()
    assert from_object.hidden_size == 32


def test_default_config_is_bert_without_tasks():
    config = MTDNNConfig()
    assert isinstance(config.encoder_config, BertConfig)
    assert config.tasks == {}


def test_add_task_and_get_task_errors(tiny_config):
    added = tiny_config.add_task("wnli", {"task_type": "classification", "num_labels": 2})
    assert added["head"] == "linear" and tiny_config.tasks["wnli"] is added
    with pytest.raises(ValueError, match=re.escape("Task 'wnli' already exists; remove it first")):
        tiny_config.add_task("wnli", {"task_type": "regression"})
    with pytest.raises(ValueError, match=re.escape("Unknown task_name 'qqp'; this model has the tasks ['cola', ")):
        tiny_config.get_task("qqp")
