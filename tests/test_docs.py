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
Every fenced code block of README.md and docs/*.md runs here, offline, so the docs cannot drift from the code.

Each page runs top to bottom in a temporary working directory of its own, every block in document order:

- ```python blocks share one namespace per page (a page reads as one session: a later block uses an earlier one's
  `model`), and are executed as they are written; a failure names the page and the block's line.
- ```bash / ```sh blocks hold one command per line (a trailing backslash continues it, `#` starts a comment):
  - the training CLI, in any of its forms (`accelerate launch [launcher options] training/run_mtdnn.py ARGS`,
    `accelerate launch -m mtdnn.training.run_mtdnn ARGS`, `accelerate launch --no_python mtdnn-train ARGS`,
    `python training/run_mtdnn.py ARGS`, `mtdnn-train ARGS`): `mtdnn.training.run_mtdnn.main(ARGS + FAST_RUN)` in
    this process. The launcher's own options (`--num_processes 2`, ...) are not run; a `--config_file` they name
    must exist. A command whose ARGS equal an earlier command's on the same page (the same job launched another
    way) is parsed but not run again. `mtdnn-train` must be a console script of pyproject.toml.
  - `python training/distill.py ARGS` (or `-m mtdnn.training.distill`): `distill.main(ARGS + FAST_DATA)`, with the
    same data overrides as the runs, so the soft targets fit the student's rows.
  - `python benchmarks/NAME.py ARGS`: not run (minutes to hours; `tests/test_benchmarks.py` runs their `--quick`
    modes): the script must exist and every `--flag` must be one of its options.
  - `make TARGET`: a target of the Makefile. `pip install ...`: every `mt-dnn[...]` names extras of pyproject.toml.
  - anything else must be in `NOT_RUN`, with the reason it is not run.
- ```yaml blocks must parse; one whose first line is `# file: NAME` is written to NAME for the commands after it.
- Blocks without a language (printed output, file trees) and ```bibtex are text. The README's demo table must be
  exactly what `run_mtdnn.format_score_table` prints for its values.

Hub ids and data (nothing downloads; tests/conftest.py fails a test that opens a connection):

- The Hub cache is a temporary folder in offline mode, seeded from `HUB_MODELS` (the substitution table: a Hub id the
  docs name -> the tiny model stored under it), so `from_pretrained("bert-base-uncased")` loads a tiny random BERT.
  Uploads (`push_to_hub`, `push_head_to_hub`, `push_task_adapter_to_hub`, the Trainer's push) land in the same cache
  (`FakeHub`), so a later `from_pretrained("org/mt-dnn")` or `load_head("org/mt-dnn-rte")` loads what was pushed. A
  Hub id that is neither seeded nor pushed fails, as offline.
- Every Hub dataset the docs' tasks read is a tiny local copy in the Hub layout (`tiny_data`: 16 rows a split):
  `MTDNN_DATA_DIR` points at it for the python blocks, `--data_dir` (FAST_RUN) for the commands.
- The files a user is told to bring are in `USER_FILES` (docs/training.md's task file reads `train.csv`, `dev.csv`).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import string
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants
from huggingface_hub.utils import filter_repo_objects
from transformers import BertConfig, BertModel, BertTokenizer

from mtdnn.training import distill, run_mtdnn
from mtdnn.training.task_files import load_task_specs
from mtdnn.training.trainer import EvalSpec

from .conftest import write_local_copy

try:  # Python 3.11+; on 3.10 the checks against pyproject.toml are skipped
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# The substitution table: each Hub model id the docs name, and what stands for it in the offline Hub cache.
HUB_MODELS = {
    "bert-base-uncased": "a tiny random BertModel (hidden 32, 2 layers, 4 heads) and an uncased WordPiece tokenizer of "
    "about 130 tokens built in code (letters, digits, punctuation, a few words): any English text tokenizes, mostly "
    "into letters, and `datasets` hashes it in a millisecond where BERT's 30,522-token vocabulary takes half a second "
    "a split",
}
# Appended to every training command: tiny data, two steps.
FAST_DATA = ["--max_train_samples", "8"]
FAST_RUN = [
    *FAST_DATA,
    "--max_eval_samples", "8",
    "--max_predict_samples", "4",
    "--max_steps", "2",
    "--per_device_train_batch_size", "4",
    "--per_device_eval_batch_size", "8",
    "--report_to", "none",
    "--disable_tqdm", "true",
]  # fmt: skip
# The allow-list: commands of the docs that are neither run nor checked above, as `shlex.join(argv)` -> the reason.
# Empty today: every command of the docs is a training, distillation, benchmark, make or pip command.
NOT_RUN: dict[str, str] = {}
USER_FILES = {
    "train.csv": "sentence,label\n"
    + "".join(
        f"Sentence number {i} is {'fine' if i % 2 else 'poor'}.,{'positive' if i % 2 else 'negative'}\n"
        for i in range(16)
    ),
    "dev.csv": "sentence,label\nA fine film.,positive\nA poor film.,negative\nGreat fun.,positive\nDull.,negative\n",
}
TEXT_LANGUAGES = ("", "text", "bibtex")
SHELL_LANGUAGES = ("bash", "sh", "shell")


@dataclass
class Block:
    page: Path
    line: int  # the line of the opening fence, 1-based
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with their language and the line of their opening fence."""
    blocks, lines = [], page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = re.fullmatch(r"(\s*)```\s*([\w+-]*)\s*", lines[index])
        if not opening:
            index += 1
            continue
        indent, body = len(opening.group(1)), []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            line = lines[end]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())  # the fence's indent off
            end += 1
        assert end < len(lines), f"{page.relative_to(REPO)}:{index + 1}: a code block that never closes"
        blocks.append(Block(page, index + 1, opening.group(2).lower(), "\n".join(body) + "\n"))
        index = end + 1
    return blocks


def shell_commands(block: Block) -> list[tuple[int, list[str]]]:
    """`(line, argv)` for each command of a shell block; a trailing backslash joins lines."""
    commands, pending, start = [], "", None
    for offset, line in enumerate(block.text.splitlines(), start=1):
        start = start or block.line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        argv = shlex.split(pending + line, comments=True)
        if argv:
            commands.append((start, argv))
        pending, start = "", None
    return commands


# --- the offline Hub --------------------------------------------------------------------------------------------

_REVISION = "0" * 40


class FakeHub:
    """A Hub in the local cache: seeded repos load offline, and uploads become the repo's files."""

    def __init__(self, cache: Path, monkeypatch):
        self.cache = cache
        hub = self
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

        def create_repo(self, repo_id, **kwargs):
            hub.snapshot(repo_id)
            return type("RepoUrl", (str,), {"repo_id": repo_id})(f"https://huggingface.co/{repo_id}")

        def upload_folder(self, *, repo_id, folder_path, path_in_repo=None, allow_patterns=None, ignore_patterns=None, run_as_future=False, **kwargs):  # fmt: skip
            root = Path(folder_path)
            names = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file()]
            for name in filter_repo_objects(names, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns):
                target = hub.snapshot(repo_id) / (path_in_repo or "") / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / name, target)
            if run_as_future:  # the Trainer's pushes from checkpoints run in the background
                import concurrent.futures

                future = concurrent.futures.Future()
                future.set_result("commit-info")
                return future
            return "commit-info"

        def create_commit(self, repo_id, operations, **kwargs):
            for operation in operations:
                target = hub.snapshot(repo_id) / operation.path_in_repo
                if isinstance(operation, CommitOperationDelete):
                    target.unlink(missing_ok=True)
                elif isinstance(operation, CommitOperationAdd):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = operation.path_or_fileobj
                    if isinstance(source, (str, Path)):
                        shutil.copyfile(source, target)
                    else:
                        target.write_bytes(source if isinstance(source, bytes) else source.read())
            return "commit-info"

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)

    def snapshot(self, repo_id: str) -> Path:
        """The folder of a model repo's files in the cache (created empty, its `main` pointing at it)."""
        repo = self.cache / f"models--{repo_id.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(_REVISION)
        folder = repo / "snapshots" / _REVISION
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def seed(self, repo_id: str, folder: Path) -> None:
        shutil.copytree(folder, self.snapshot(repo_id), dirs_exist_ok=True)


@pytest.fixture(scope="module")
def hub_models(tmp_path_factory) -> dict[str, Path]:
    """The folders that stand for the Hub ids of `HUB_MODELS`."""
    folder = tmp_path_factory.mktemp("hub-models") / "bert-base-uncased"
    pieces = [*string.punctuation, *string.digits, *string.ascii_lowercase, *(f"##{c}" for c in string.ascii_lowercase + string.digits)]  # fmt: skip
    vocab = dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces, *sorted(set(_WORDS))])
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    models = {"bert-base-uncased": folder}
    assert set(models) == set(HUB_MODELS)
    return models


# --- tiny local copies of the Hub datasets ------------------------------------------------------------------------

_WORDS = "a man plays the guitar while two dogs run across green fields under warm rain near old houses".split()


def _sentence(i: int, length: int = 6) -> str:
    return " ".join(_WORDS[(i * j + 3) % len(_WORDS)] for j in range(1, length + 1)).capitalize() + "."


def _rows(columns: dict[str, list], n: int = 16) -> datasets.Dataset:
    return datasets.Dataset.from_dict({name: values[:n] for name, values in columns.items()})


def _glue(split: str, first: str, second: str | None, classes: int = 2, regression: bool = False) -> datasets.Dataset:
    columns = {first: [_sentence(i) for i in range(16)]}
    if second:
        columns[second] = [_sentence(i + 5, 4) for i in range(16)]
    labels = [float(i % 5) for i in range(16)] if regression else [i % classes for i in range(16)]
    columns["label"] = [-1] * 16 if split.startswith("test") else labels
    return _rows(columns)


def _splits(names, *args, **kwargs) -> dict[str, datasets.Dataset]:
    return {name: _glue(name, *args, **kwargs) for name in names}


def _qnli(split: str) -> datasets.Dataset:  # 8 questions of 2 candidates, one of them relevant
    return _rows({"question": [f"Question {i // 2}?" for i in range(16)], "sentence": [_sentence(i) for i in range(16)], "label": [i % 2 for i in range(16)]})  # fmt: skip


def _conll(split: str) -> datasets.Dataset:
    tokens = [["John", "Smith", "lives", "in", "Paris", "."], ["The", "EU", "met", "."]] * 8
    tags = [[1, 2, 0, 0, 5, 0], [0, 3, 0, 0]] * 8
    pos = [[22, 22, 42, 15, 22, 7], [12, 22, 38, 7]] * 8  # NNP NNP VBZ IN NNP . / DT NNP VBD .
    chunks = [[11, 12, 21, 13, 11, 0], [11, 12, 21, 0]] * 8  # B-NP I-NP B-VP B-PP B-NP O / B-NP I-NP B-VP O
    return _rows({"id": [str(i) for i in range(16)], "tokens": tokens, "pos_tags": pos, "chunk_tags": chunks, "ner_tags": tags})  # fmt: skip


def _squad(split: str) -> datasets.Dataset:
    context = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    questions = ["Who gave their name to Normandy?", "In what centuries?"] * 8
    answers = [
        {"text": [text], "answer_start": [context.index(text)]} for text in ("The Normans", "10th and 11th")
    ] * 8
    return _rows({"id": [f"q{i}" for i in range(16)], "title": ["Normans"] * 16, "context": [context] * 16, "question": questions, "answers": answers})  # fmt: skip


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """One folder of local copies, one per Hub dataset the docs' tasks read (as ../shared/data holds them)."""
    root = tmp_path_factory.mktemp("data")
    sets = ("train", "validation", "test")
    glue = {
        "cola": _splits(sets, "sentence", None),
        "sst2": _splits(sets, "sentence", None),
        "mrpc": _splits(sets, "sentence1", "sentence2"),
        "stsb": _splits(sets, "sentence1", "sentence2", regression=True),
        "qqp": _splits(sets, "question1", "question2"),
        "mnli": _splits(
            ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"),
            "premise",
            "hypothesis",
            classes=3,
        ),
        "qnli": {split: _qnli(split) for split in sets},
        "rte": _splits(sets, "sentence1", "sentence2"),
        "wnli": _splits(sets, "sentence1", "sentence2"),
    }
    write_local_copy(root / "glue", glue)
    write_local_copy(root / "snli", {"plain_text": _splits(sets, "premise", "hypothesis", classes=3)})
    write_local_copy(root / "conll2003", {"conll2003": {split: _conll(split) for split in sets}})
    write_local_copy(root / "squad", {"plain_text": {split: _squad(split) for split in ("train", "validation")}})
    return root


# --- running a page -----------------------------------------------------------------------------------------------


def _pyproject() -> dict | None:
    """pyproject.toml, or `None` on Python 3.10 (no tomllib), where the checks against it are left out."""
    return tomllib.loads((REPO / "pyproject.toml").read_text()) if tomllib is not None else None


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def _in_repo(argv: list[str]) -> list[str]:
    """Paths of the checkout (`training/configs/demo.yaml`, `benchmarks/tasks/...`) made absolute."""
    return [str(REPO / arg) if arg.startswith(("training/", "benchmarks/")) and (REPO / arg).exists() else arg for arg in argv]  # fmt: skip


_LAUNCHER_SWITCHES = {"--cpu", "--multi_gpu", "--use_fsdp", "--use_deepspeed", "--tpu", "-q", "--quiet", "--debug"}


def _target(argv: list[str], where: str) -> tuple[str | None, list[str]]:
    """`(script or module, its arguments)` of a python, accelerate or mtdnn-train command; `(None, argv)` otherwise."""
    if argv[0] == "mtdnn-train":
        project = _pyproject()
        scripts = project["project"].get("scripts", {}) if project else {"mtdnn-train": "mtdnn.training.run_mtdnn:"}
        assert scripts.get("mtdnn-train", "").startswith("mtdnn.training.run_mtdnn:"), (
            f"{where}: the docs run `mtdnn-train`, which pyproject.toml's [project.scripts] does not declare"
        )
        return "mtdnn.training.run_mtdnn", argv[1:]
    if argv[0] in ("python", "python3"):
        return (argv[2], argv[3:]) if argv[1] == "-m" else (argv[1], argv[2:])
    if argv[:2] != ["accelerate", "launch"]:
        return None, argv
    rest = argv[2:]
    while rest and rest[0].startswith("-"):
        option = rest[0]
        if option in ("-m", "--module"):
            return rest[1], rest[2:]
        if option == "--no_python":
            return _target(rest[1:], where)
        if option in _LAUNCHER_SWITCHES:
            rest = rest[1:]
            continue
        if option == "--config_file":
            assert (REPO / rest[1]).is_file() or Path(rest[1]).is_file(), f"{where}: no accelerate config {rest[1]!r}"
        rest = rest[2:]
    return rest[0], rest[1:]


def _check_benchmark(script: str, args: list[str], where: str) -> None:
    path = REPO / script
    assert path.is_file(), f"{where}: no benchmark script {script}"
    sys.path.insert(0, str(path.parent))
    try:
        module = __import__(path.stem)
    finally:
        sys.path.remove(str(path.parent))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit):
        module.main(["--help"])
    for flag in (arg.split("=")[0] for arg in args if arg.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", printed.getvalue()), (
            f"{where}: {script} has no option {flag}"
        )


class PageRun:
    """Runs one page's blocks in order, in the current working directory."""

    def __init__(self, page: Path, data_dir: Path):
        self.page, self.data_dir = page, data_dir
        self.namespace: dict = {"__name__": "__docs__"}
        self.jobs: dict[tuple[str, ...], str] = {}  # the script arguments already run, and where

    def run(self, block: Block) -> None:
        if block.language == "python":
            self.python(block)
        elif block.language in SHELL_LANGUAGES:
            for line, argv in shell_commands(block):
                self.command(argv, f"{block.page.relative_to(REPO)}:{line}")
        elif block.language == "yaml":
            content = yaml.safe_load(block.text)
            assert content is not None, f"{block.where}: an empty yaml block"
            name = re.match(r"#\s*file:\s*(\S+)", block.text)
            if name:
                Path(name.group(1)).write_text(block.text)
        elif block.language not in TEXT_LANGUAGES:
            pytest.fail(
                f"{block.where}: a ```{block.language} block, which tests/test_docs.py does not know how to check"
            )

    def python(self, block: Block) -> None:
        code = compile("\n" * block.line + block.text, str(block.page), "exec")  # tracebacks give the page's lines
        try:
            exec(code, self.namespace)
        except Exception as error:
            trace = "".join(traceback.format_exception(error)[-6:])
            pytest.fail(f"{block.where}: the python block failed: {type(error).__name__}: {error}\n{trace}")

    def command(self, argv: list[str], where: str) -> None:
        if argv[0] == "make":
            missing = set(argv[1:]) - _make_targets()
            assert not missing, f"{where}: `{shlex.join(argv)}` names no Makefile target {sorted(missing)}"
            return
        if argv[:2] == ["pip", "install"]:
            project = _pyproject()
            if project is None:
                return
            extras = set(project["project"]["optional-dependencies"])
            for arg in argv[2:]:
                named = re.fullmatch(r"mt-dnn\[([\w,-]+)\]", arg)
                assert named or arg.startswith("-") or arg in (".", "mt-dnn") or re.fullmatch(r"\.\[[\w,-]+\]", arg), (
                    f"{where}: pip installs {arg!r}, not this package"
                )
                asked = set(re.findall(r"[\w-]+", arg.split("[", 1)[1])) if "[" in arg else set()
                assert asked <= extras, f"{where}: no extra(s) {sorted(asked - extras)} in pyproject.toml ({sorted(extras)})"  # fmt: skip
            return
        if shlex.join(argv) in NOT_RUN:
            return
        script, args = _target(argv, where)
        if script in ("training/run_mtdnn.py", "mtdnn.training.run_mtdnn"):
            self.train(_in_repo(args), where)
        elif script in ("training/distill.py", "mtdnn.training.distill"):
            self.call(distill.main, [*_in_repo(args), "--data_dir", str(self.data_dir), *FAST_DATA], where)
        elif script is not None and script.startswith("benchmarks/"):
            _check_benchmark(script, args, where)
        else:
            pytest.fail(f"{where}: `{shlex.join(argv)}` is neither run nor allowed; add it to NOT_RUN with a reason")

    def train(self, args: list[str], where: str) -> None:
        key = tuple(args)
        if key in self.jobs:  # the same job launched another way: the arguments must still parse
            self.call(run_mtdnn.parse_args, [*args, *FAST_RUN], where)
            return
        self.jobs[key] = where
        self.call(run_mtdnn.main, [*args, "--data_dir", str(self.data_dir), *FAST_RUN], where)

    @staticmethod
    def call(function, argv: list[str], where: str) -> None:
        try:
            function(argv)
        except BaseException as error:  # SystemExit too: a flag argparse refused
            trace = "".join(traceback.format_exception(error)[-4:])
            pytest.fail(f"{where}: the command failed: {type(error).__name__}: {error}\n{trace}")


# peft's `PeftModel.from_pretrained` reads transformers' deprecated `is_gradient_checkpointing` (as in test_adapters.py).
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_code_block_of_the_page_runs(page, hub_models, tiny_data, tmp_path, monkeypatch):
    hub = FakeHub(tmp_path / "hub-cache", monkeypatch)
    for repo_id, folder in hub_models.items():
        hub.seed(repo_id, folder)
    monkeypatch.setenv("MTDNN_DATA_DIR", str(tiny_data))
    work = tmp_path / "work"
    work.mkdir()
    for name, content in USER_FILES.items():
        (work / name).write_text(content)
    monkeypatch.chdir(work)
    run = PageRun(page, tiny_data)
    for block in code_blocks(page):
        run.run(block)


def test_every_not_run_command_is_still_in_the_docs():
    commands = {shlex.join(argv) for page in PAGES for block in code_blocks(page) if block.language in SHELL_LANGUAGES for _, argv in shell_commands(block)}  # fmt: skip
    assert set(NOT_RUN) <= commands, sorted(set(NOT_RUN) - commands)


def test_the_readme_demo_table_is_what_run_mtdnn_prints():
    tables = [block for block in code_blocks(REPO / "README.md") if block.language == "" and block.text.startswith("task ")]  # fmt: skip
    assert len(tables) == 1, "README.md should hold the demo's dev-score table once"
    rows = [line.split() for line in tables[0].text.splitlines()[2:]]
    demo = yaml.safe_load((REPO / "training" / "configs" / "demo.yaml").read_text())
    specs = load_task_specs(demo["tasks"].split(","))
    eval_specs = {
        key: EvalSpec(task_name=name, metric=spec.metric if key == name else f"{spec.metric}_{key[len(name) + 1 :]}")
        for name, spec in specs.items()
        for key in spec.eval_splits()
    }
    metrics = {f"eval_{key}_{metric}": float(value) for key, metric, value in rows[:-1]}
    metrics["eval_average"] = float(rows[-1][-1])
    assert run_mtdnn.format_score_table(metrics, eval_specs) + "\n" == tables[0].text


# --- links --------------------------------------------------------------------------------------------------------


def _prose(page: Path) -> str:
    """The page without its code blocks and inline code, where links and headings live."""
    text = re.sub(r"^\s*```.*?^\s*```\s*$", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    text = re.sub(r"^\s*```.*?^\s*```\s*$", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: not followed offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: the link {target!r} points at nothing"
        if anchor:
            assert resolved.suffix == ".md" and anchor in _anchors(resolved), (
                f"{page.relative_to(REPO)}: the link {target!r} names no heading of {resolved.relative_to(REPO)}"
            )


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", "\n".join(lines)), "dated figures belong in docs/RESULTS.md"
