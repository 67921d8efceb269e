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
The wheel as a user gets it (#26): built offline from the checkout, installed with `pip install --no-deps` into a
fresh virtual environment that borrows this environment's dependencies but sees neither the checkout nor its editable
install, then trained through its `mtdnn-train` console script under `accelerate launch`, from a folder outside the
checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import datasets
import pytest
import torch
from packaging.requirements import Requirement
from transformers import BertConfig, BertModel, BertTokenizer

from .conftest import write_local_copy

REPO = Path(__file__).resolve().parents[1]

# What the wheel may add to site-packages: the Hub-shippable model code under the name transformers gives it, and
# one namespace for the rest (the checkout's `training/` and `model_cards/` folders install as `mtdnn.*`).
IMPORT_NAMES = {"modeling_mtdnn", "mtdnn"}

# Environment variables that would let the checkout, another environment or a user's settings into the runs.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "ACCELERATE_CONFIG_FILE")

# Where each module and distribution of the package is found inside the fresh environment.
_PROBE = """
import importlib.metadata, importlib.util, json
spec = importlib.util.find_spec
print(json.dumps({
    "modeling_mtdnn": spec("modeling_mtdnn").origin,
    "mtdnn": list(spec("mtdnn").submodule_search_locations),
    "mtdnn.training": spec("mtdnn.training").origin,
    "mtdnn.model_cards": spec("mtdnn.model_cards").origin,
    "distribution": str(importlib.metadata.distribution("mt-dnn").locate_file("")),
    "training": getattr(spec("training"), "origin", None),
    "model_cards": getattr(spec("model_cards"), "origin", None),
}))
"""


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs a command, failing the test with the end of its output when it fails."""
    completed = subprocess.run(command, capture_output=True, text=True, **kwargs)
    output = (completed.stdout + completed.stderr)[-4000:]
    assert completed.returncode == 0, f"{command[:4]} exited with {completed.returncode}:\n{output}"
    return completed


def copy_sources(destination: Path) -> Path:
    """
    What setuptools reads (pyproject.toml, the readme, every top-level package folder), copied out of the checkout:
    a build in place would write `build/` into the checkout and reuse whatever stale files an earlier build left there.
    """
    destination.mkdir(parents=True)
    for path in REPO.iterdir():
        if path.is_dir() and (path / "__init__.py").is_file():
            shutil.copytree(path, destination / path.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.name in ("pyproject.toml", "README.md") or path.name.startswith("LICENSE"):
            shutil.copy2(path, destination / path.name)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The checkout's wheel, built without network or build isolation by this environment's setuptools."""
    root = tmp_path_factory.mktemp("wheel")
    source = copy_sources(root / "source")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "--wheel-dir", str(root / "dist"), str(source)])  # fmt: skip
    (built,) = (root / "dist").glob("mt_dnn-*.whl")
    return built


class Environment:
    """A fresh virtual environment whose `.pth` file borrows this environment's site-packages (torch, transformers...)."""

    def __init__(self, root: Path):
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
        self.root = root
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = str(self.bin / "python")
        self.env = {key: value for key, value in os.environ.items() if key not in _LEAKY}
        self.env.update(PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONNOUSERSITE="1", PIP_NO_INDEX="1")  # fmt: skip
        purelib = run([self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=self.env)
        self.site_packages = Path(purelib.stdout.strip())
        # Lines of a `.pth` file join sys.path after the environment's own site-packages, and the `.pth` files in
        # them are not run: the editable install of mt-dnn (a `.pth` with its import finder) stays out.
        borrowed = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
        borrowed = [path for path in dict.fromkeys(borrowed) if Path(path).is_dir()]
        (self.site_packages / "_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")

    def run(self, command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
        return run(command, env={**self.env, **env}, cwd=cwd)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Environment:
    environment = Environment(tmp_path_factory.mktemp("venv"))
    environment.run([environment.python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)], cwd=wheel.parent)  # fmt: skip
    return environment


def test_the_wheel_asks_for_ranges_and_no_exact_version(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist")]
    pinned = [str(r) for r in requirements if any(spec.operator in ("==", "===") for spec in r.specifier)]
    assert pinned == [], "exact pins belong in constraints.txt (the project's own set-up), not in the package metadata"
    assert {"torch", "transformers"} <= {r.name for r in requirements if not r.marker}


def test_the_wheel_holds_the_two_import_names_and_the_package_data(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == IMPORT_NAMES
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # The built-in task files, the demo and FSDP configs, the local metric module and the card template.
    data = [*(REPO / "training").glob("tasks/*.yaml"), *(REPO / "training").glob("configs/*.yaml")]
    data += [*(REPO / "training").glob("metric_modules/*.py"), REPO / "model_cards" / "template.md"]
    expected = {"mtdnn/" + path.relative_to(REPO).as_posix() for path in data}
    assert "mtdnn/training/configs/demo.yaml" in expected and "mtdnn/training/tasks/glue.yaml" in expected
    assert expected - set(names) == set()
    assert "mtdnn-train = mtdnn.training.run_mtdnn:cli" in entry_points


def test_installing_adds_only_its_import_names_and_the_environment_sees_no_checkout(installed, tmp_path):
    added = {path.name for path in installed.site_packages.iterdir()} - {"_borrowed_dependencies.pth"}
    (dist_info,) = [name for name in added if name.endswith(".dist-info")]
    assert dist_info.startswith("mt_dnn-") and added - {dist_info} == IMPORT_NAMES
    record = (installed.site_packages / dist_info / "RECORD").read_text().splitlines()
    top_level = {line.split(",")[0].split("/")[0] for line in record}
    assert {name for name in top_level if name != ".." and not name.endswith(".dist-info")} == IMPORT_NAMES
    assert set((installed.site_packages / dist_info / "top_level.txt").read_text().split()) == IMPORT_NAMES

    found = json.loads(installed.run([installed.python, "-c", _PROBE], cwd=tmp_path).stdout)
    assert found.pop("training") is None and found.pop("model_cards") is None  # no generic top-level names
    inside = installed.site_packages.resolve()
    for name, where in found.items():
        for path in map(Path, where if isinstance(where, list) else [where]):
            assert path.resolve() == inside or inside in path.resolve().parents, (name, path)


def test_the_console_script_prints_its_help(installed, tmp_path):
    completed = installed.run(["mtdnn-train", "--help"], cwd=tmp_path)
    assert completed.stdout.startswith("usage: mtdnn-train")
    assert "--model_name_or_path" in completed.stdout and "--tasks" in completed.stdout


def tiny_encoder(folder: Path) -> Path:
    """A tiny random BERT with a word-level tokenizer over the words of `tiny_glue`."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)).save_pretrained(folder)  # fmt: skip
    return folder


WORDS = ["a", "the", "cat", "dog", "sat", "ran", "on", "mat"]


def tiny_glue(folder: Path) -> Path:
    """A local GLUE copy with RTE alone: the built-in task file and the local metric module do the rest."""

    def rows(n):
        first = [" ".join(WORDS[(i + k) % len(WORDS)] for k in range(4)) for i in range(n)]
        second = [" ".join(WORDS[(2 * i + k) % len(WORDS)] for k in range(3)) for i in range(n)]
        return datasets.Dataset.from_dict({"sentence1": first, "sentence2": second, "label": [i % 2 for i in range(n)], "idx": list(range(n))})  # fmt: skip

    return write_local_copy(folder, {"rte": {"train": rows(16), "validation": rows(8)}})


LAUNCH = "accelerate.commands.accelerate_cli launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no".split()  # fmt: skip


@pytest.mark.parametrize(
    "launcher",
    [["--no_python", "mtdnn-train"], ["-m", "mtdnn.training.run_mtdnn"]],
    ids=["console-script", "module"],
)
def test_accelerate_launch_trains_two_steps_outside_the_checkout(installed, tmp_path, launcher):
    work = tmp_path / "work"
    work.mkdir()
    assert REPO not in work.resolve().parents
    flags = ["--model_name_or_path", str(tiny_encoder(tmp_path / "encoder")), "--data_dir", str(tiny_glue(tmp_path / "glue")), "--tasks", "rte", "--do_train", "--do_eval", "--max_steps", "2", "--max_seq_length", "64", "--per_device_train_batch_size", "4", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--output_dir", "out"]  # fmt: skip
    # `accelerate launch` through the fresh environment's interpreter: its `accelerate` script is borrowed, not there.
    offline = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    completed = installed.run([installed.python, "-m", *LAUNCH, *launcher, *flags], cwd=work, **offline)
    assert "rte      accuracy" in completed.stdout + completed.stderr
    out = work / "out"
    assert {"config.json", "model.safetensors", "modeling_mtdnn.py", "README.md"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert "eval_rte_accuracy" in json.loads((out / "eval_results.json").read_text())
