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
"""Task heads on their own, export to plain transformers models, and the Hub upload boundary (all offline)."""

from __future__ import annotations

import concurrent.futures
import json
import re
import types
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects
from transformers import (
    AutoModelForMultipleChoice,
    AutoModelForSequenceClassification,
    BertModel,
    RobertaConfig,
    RobertaModel,
)

from modeling_mtdnn import MTDNNConfig, MTDNNForMultiTask
from modeling_mtdnn.adapters import ADAPTER_CONFIG_FILE
from modeling_mtdnn.hub_mixin import HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE

from .conftest import TINY_TASKS, make_pair_batch, minilm_folder, tiny_bert_config


def encoder_folder(path, seed=0, **overrides):
    torch.manual_seed(seed)
    BertModel(tiny_bert_config(**overrides)).save_pretrained(path)
    return str(path)


@pytest.fixture
def encoder_dir(tmp_path):
    return encoder_folder(tmp_path / "encoder")


@pytest.fixture
def model(encoder_dir):
    torch.manual_seed(1)
    return MTDNNForMultiTask.from_encoder(encoder_dir, tasks=TINY_TASKS).eval()


def test_save_and_load_one_head(model, encoder_dir, tmp_path):
    folder = model.save_head("rte", tmp_path / "rte-head")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE])
    head_config = json.loads((folder / HEAD_CONFIG_FILE).read_text())
    assert head_config["task_name"] == "rte"
    assert head_config["spec"]["id2label"] == {"0": "entailment", "1": "not_entailment"}
    assert head_config["encoder"] == {
        "hub_id": None,  # a local folder: no Hub id, and never its path
        "revision": None,
        "fingerprint": model.config.encoder_fingerprint,  # untrained: the encoder's weights are the pretrained ones
        "base_fingerprint": model.config.encoder_fingerprint,
        "hint": "encoder",
        "model_type": "bert",
        "hidden_size": 32,
        "pooling": "auto",
    }
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", head_config["encoder"]["fingerprint"])
    assert (folder / HEAD_WEIGHTS_FILE).stat().st_size < 60_000  # a head, not an encoder
    assert "MT-DNN task head: rte" in (folder / "README.md").read_text()

    torch.manual_seed(2)
    other = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={"stsb": {"task_type": "regression"}}).eval()
    other.encoder.load_state_dict(model.encoder.state_dict())
    assert other.load_head(folder) == "rte"
    assert other.config.tasks["rte"] == model.config.tasks["rte"]
    batch = make_pair_batch()
    torch.testing.assert_close(other(**batch, task_name="rte").logits, model(**batch, task_name="rte").logits)
    assert other.load_head(folder, task_name="rte_copy") == "rte_copy"
    assert sorted(other.heads) == ["rte", "rte_copy", "stsb"]


def test_load_head_refuses_mismatches_and_leaves_the_model_unchanged(model, encoder_dir, tmp_path):
    folder = model.save_head("sst2", tmp_path / "head")
    wide = MTDNNForMultiTask.from_encoder(
        encoder_folder(tmp_path / "wide", hidden_size=48, num_attention_heads=4), tasks={}
    )
    with pytest.raises(ValueError, match=re.escape("Head 'sst2' from")) as error:
        wide.load_head(folder)
    assert "reads hidden size 32, but this model's encoder has 48; it cannot be attached." in str(error.value)

    other_encoder = MTDNNForMultiTask.from_encoder(encoder_folder(tmp_path / "other", seed=3), tasks={})
    with pytest.raises(ValueError, match=re.escape("was trained on the encoder")) as error:
        other_encoder.load_head(folder)
    assert "pass allow_other_encoder=True to attach it anyway" in str(error.value)
    assert other_encoder.load_head(folder, allow_other_encoder=True) == "sst2"

    mean_pooling = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={}, pooling="mean")
    with pytest.raises(ValueError, match=re.escape("Head 'sst2' from")) as error:
        mean_pooling.load_head(folder)
    assert "was trained on pooling='auto', but this model pools with 'mean'; build the model with pooling='auto'" in (
        str(error.value)
    )
    assert mean_pooling.config.tasks == {} and len(mean_pooling.heads) == 0
    assert mean_pooling.load_head(model.save_head("rte", tmp_path / "rte")) == "rte"  # SAN heads read every token

    with pytest.raises(ValueError, match=re.escape("Task 'sst2' already exists; remove_task('sst2') first")):
        model.load_head(folder)

    config = json.loads((folder / HEAD_CONFIG_FILE).read_text())
    config["spec"]["num_labels"], config["spec"]["id2label"] = 3, None
    (folder / HEAD_CONFIG_FILE).write_text(json.dumps(config))
    before = sorted(model.heads)
    with pytest.raises(ValueError, match=re.escape("Head 'new' from")) as error:
        model.load_head(folder, task_name="new")
    assert "its weights do not fit its spec" in str(error.value)
    assert sorted(model.heads) == before and "new" not in model.config.tasks

    with pytest.raises(ValueError, match=re.escape("holds no MT-DNN head: head_config.json and head.safetensors")):
        model.load_head(tmp_path)


class RecordedHub:
    """Records the calls that reach the Hub client at its one boundary; nothing deeper is faked."""

    def __init__(self, monkeypatch):
        self.calls = []
        recorder = self

        def create_repo(self, repo_id, **kwargs):
            recorder.calls.append(("create_repo", repo_id, kwargs))
            return types.SimpleNamespace(repo_id=repo_id)

        def upload_folder(self, *, repo_id, folder_path, commit_message=None, allow_patterns=None, ignore_patterns=None, **kwargs):  # fmt: skip
            root = Path(folder_path)
            names = [path.relative_to(root).as_posix() for path in sorted(root.rglob("*")) if path.is_file()]
            names = filter_repo_objects(names, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
            files = {name: (root / name).read_bytes() for name in names}
            recorder.calls.append(("upload_folder", repo_id, {"files": files, "commit_message": commit_message}))
            if kwargs.get("run_as_future"):  # the Trainer's pushes from checkpoints run in the background
                future = concurrent.futures.Future()
                future.set_result("commit-info")
                return future
            return "commit-info"

        def create_commit(self, repo_id, operations, *, commit_message, **kwargs):
            files = {op.path_in_repo: open(op.path_or_fileobj, "rb").read() for op in operations}
            recorder.calls.append(("create_commit", repo_id, {"files": files, "commit_message": commit_message}))
            return "commit-info"

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)


def test_push_head_to_hub_uploads_the_small_repo(model, monkeypatch):
    hub = RecordedHub(monkeypatch)
    assert model.push_head_to_hub("stsb", "org/mt-dnn-stsb-head") == "commit-info"
    (kind, repo, _), (upload, upload_repo, upload_args) = hub.calls
    assert (kind, repo, upload, upload_repo) == (
        "create_repo",
        "org/mt-dnn-stsb-head",
        "upload_folder",
        "org/mt-dnn-stsb-head",
    )
    assert sorted(upload_args["files"]) == sorted(["README.md", HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE])
    assert upload_args["commit_message"] == "Upload MT-DNN head for task 'stsb'"
    with pytest.raises(ValueError, match=re.escape("Unknown task_name 'qqp'")):
        model.push_head_to_hub("qqp", "org/x")


def test_push_whole_model_to_hub_sends_weights_config_code_and_card(model, monkeypatch):
    import mtdnn.model_cards  # noqa: F401  (registers the card writer)

    hub = RecordedHub(monkeypatch)
    model.push_to_hub("org/mt-dnn", commit_message="Add MT-DNN")
    commits = [call for call in hub.calls if call[0] in ("create_commit", "upload_folder")]
    assert len(commits) == 1 and commits[0][1] == "org/mt-dnn"
    files = commits[0][2]["files"]
    assert commits[0][2]["commit_message"] == "Add MT-DNN"
    expected = {"config.json", "model.safetensors", "README.md", "configuration_mtdnn.py", "modeling_mtdnn.py", "heads.py", "losses.py", "outputs.py", "hub_mixin.py", "adapters.py"}  # fmt: skip
    assert expected <= set(files)
    assert json.loads(files["config.json"])["auto_map"]["AutoModel"] == "modeling_mtdnn.MTDNNForMultiTask"
    assert b"trust_remote_code=True" in files["README.md"]
    assert b'AutoModel.from_pretrained("org/mt-dnn"' in files["README.md"]


@pytest.mark.parametrize(
    "task, auto_class, reshape",
    [("sst2", AutoModelForSequenceClassification, False), ("stsb", AutoModelForSequenceClassification, False), ("qnli", AutoModelForMultipleChoice, True)],
)  # fmt: skip
def test_export_task_gives_a_plain_model_with_the_same_logits(model, tmp_path, task, auto_class, reshape):
    exported = model.export_task(task)
    batch = make_pair_batch(batch=6)
    if reshape:
        batch = {key: value.view(2, 3, -1) for key, value in batch.items()}
    expected = model(**batch, task_name=task).logits
    exported.save_pretrained(tmp_path / task)
    saved_config = json.loads((tmp_path / task / "config.json").read_text())
    assert "auto_map" not in saved_config
    reloaded = auto_class.from_pretrained(tmp_path / task).eval()
    assert type(reloaded).__module__.startswith("transformers.models.bert")
    logits = reloaded(**batch).logits
    torch.testing.assert_close(logits.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)
    if task == "sst2":
        assert reloaded.config.id2label == {0: "negative", 1: "positive"}
    if task == "stsb":
        assert reloaded.config.problem_type == "regression"


def test_export_roberta_style_encoder(tmp_path):
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37, type_vocab_size=1)  # fmt: skip
    RobertaModel(config).save_pretrained(tmp_path / "roberta")
    model = MTDNNForMultiTask.from_encoder(str(tmp_path / "roberta"), tasks={"sst2": {"task_type": "classification", "num_labels": 2}}).eval()  # fmt: skip
    batch = make_pair_batch()
    batch.pop("token_type_ids")
    exported = model.export_task("sst2")
    expected = model(**batch, task_name="sst2").logits
    torch.testing.assert_close(exported(**batch).logits, expected, rtol=1e-5, atol=1e-6)
    exported.save_pretrained(tmp_path / "exported")
    assert "auto_map" not in json.loads((tmp_path / "exported" / "config.json").read_text())
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "exported").eval()  # no remote code
    assert type(reloaded).__name__ == "RobertaForSequenceClassification"
    assert type(reloaded).__module__.startswith("transformers.models.roberta")
    torch.testing.assert_close(reloaded(**batch).logits, expected, rtol=1e-5, atol=1e-6)


def test_load_head_from_a_hub_repo_id(model, encoder_dir, tmp_path, monkeypatch):
    import modeling_mtdnn.hub_mixin as hub_mixin

    folder = model.save_head("sst2", tmp_path / "downloaded")
    calls = []

    def snapshot_download(repo_id, **kwargs):  # the Hub client's one entry point, faked at its boundary
        calls.append((repo_id, kwargs))
        return str(folder)

    monkeypatch.setattr(hub_mixin, "snapshot_download", snapshot_download)
    other = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={}).eval()
    other.encoder.load_state_dict(model.encoder.state_dict())
    assert other.load_head("org/mt-dnn-sst2", revision="v1", task_name="sentiment") == "sentiment"
    assert calls == [("org/mt-dnn-sst2", {"revision": "v1", "token": None, "allow_patterns": [HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE, ADAPTER_CONFIG_FILE]})]  # fmt: skip
    batch = make_pair_batch()
    torch.testing.assert_close(other(**batch, task_name="sentiment").logits, model(**batch, task_name="sst2").logits)


def test_export_refuses_san_heads_and_encoders_without_a_matching_classifier(model):
    with pytest.raises(
        ValueError, match=re.escape("Task 'rte' has a SAN head, which no plain transformers model class implements")
    ):
        model.export_task("rte")
    from transformers import ElectraConfig

    electra = ElectraConfig(vocab_size=99, hidden_size=32, embedding_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)  # fmt: skip
    other = MTDNNForMultiTask(MTDNNConfig(encoder_config=electra, tasks={"sst2": {"task_type": "classification", "num_labels": 2}}))  # fmt: skip
    with pytest.raises(
        ValueError, match=re.escape("Task 'sst2': exporting needs an encoder whose transformers classifier matches")
    ):
        other.export_task("sst2")
    model.config.pooling = "mean"
    with pytest.raises(ValueError, match=re.escape("Task 'sst2': this model pools with pooling='mean', but")):
        model.export_task("sst2")


def test_pipeline_gives_label_names_and_scores_for_texts_and_pairs(tmp_path):
    from transformers import AutoTokenizer, pipeline

    from modeling_mtdnn import MTDNNPipeline

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    torch.manual_seed(0)
    config = MTDNNConfig(encoder_config=tiny_bert_config(vocab_size=tokenizer.vocab_size), tasks=TINY_TASKS)
    model = MTDNNForMultiTask(config).eval()
    classifier = pipeline("mtdnn", model=model, tokenizer=tokenizer, pipeline_class=MTDNNPipeline)
    pair = {"text": "A man plays a guitar.", "text_pair": "Someone makes music."}
    inputs = tokenizer("A man plays a guitar.", "Someone makes music.", return_tensors="pt")
    expected = torch.softmax(model(**inputs, task_name="rte").logits[0], -1)

    result = classifier(pair, task_name="rte")
    assert result == {"label": model.config.tasks["rte"]["id2label"][int(expected.argmax())], "score": pytest.approx(expected.max().item(), rel=1e-5)}  # fmt: skip
    every_label = classifier(("A man plays a guitar.", "Someone makes music."), task_name="rte", top_k=None)
    assert [r["label"] for r in every_label] == [["entailment", "not_entailment"][i] for i in torch.argsort(expected, descending=True).tolist()]  # fmt: skip
    assert sum(r["score"] for r in every_label) == pytest.approx(1.0)

    everything = classifier("A man plays a guitar.")  # every task from one encoder pass
    assert sorted(everything) == sorted(TINY_TASKS)
    assert set(everything["stsb"]) == {"score"} and everything["sst2"]["label"] in ("negative", "positive")
    batch = classifier(["A man plays a guitar.", pair], task_name="sst2")
    assert len(batch) == 2 and all(r["label"] in ("negative", "positive") for r in batch)
    with pytest.raises(ValueError, match=re.escape("Unknown task_name 'qqp'")):
        classifier("text", task_name="qqp")

    # From a checkpoint folder with no package: transformers finds the pipeline through config.custom_pipelines.
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    remote = pipeline("mtdnn", model=str(tmp_path / "ckpt"), trust_remote_code=True)
    assert type(remote).__module__.startswith("transformers_modules.")
    reloaded = remote(pair, task_name="rte")
    assert reloaded["label"] == result["label"] and reloaded["score"] == pytest.approx(result["score"], rel=1e-5)


@pytest.fixture
def classifier():
    from transformers import AutoTokenizer, pipeline

    from modeling_mtdnn import MTDNNPipeline

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    torch.manual_seed(0)
    config = MTDNNConfig(encoder_config=tiny_bert_config(vocab_size=tokenizer.vocab_size), tasks=TINY_TASKS)
    return pipeline("mtdnn", model=MTDNNForMultiTask(config).eval(), tokenizer=tokenizer, pipeline_class=MTDNNPipeline)


def test_pipeline_batches_give_the_unbatched_results(classifier):
    inputs = [
        {"text": "A man plays a guitar.", "text_pair": "Someone makes music."},
        {"text": "Two dogs run through a very long field of grass.", "text_pair": "Animals move."},
        {"text": "Rain.", "text_pair": "It is wet outside today."},
    ]
    for task_name in ("rte", "stsb", None):
        one_by_one = [classifier(item, task_name=task_name) for item in inputs]
        batched = classifier(inputs, task_name=task_name, batch_size=2)
        assert len(batched) == len(inputs)
        for single, result in zip(one_by_one, batched):
            results = result if task_name is None else {task_name: result}
            singles = single if task_name is None else {task_name: single}
            assert results.keys() == singles.keys()
            for name, value in results.items():
                assert value.get("label") == singles[name].get("label"), name
                assert value["score"] == pytest.approx(singles[name]["score"], rel=1e-4, abs=1e-5), name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task_name": "rte"}, "Task(s) ['rte'] read sentence pairs, but 'A man plays a guitar.' came without a text_pair"),
        ({"task_name": ["sst2", "mnli"]}, "Task(s) ['mnli'] read sentence pairs"),
        ({"task_name": "sst2", "top_k": 0}, "top_k must be an int from 1 to 2 (the most labels of the tasks ['sst2']) or None for every label, got 0."),
        ({"task_name": "sst2", "top_k": 3}, "top_k must be an int from 1 to 2"),
        ({"task_name": "mnli", "top_k": 1.5}, "top_k must be an int from 1 to 3 (the most labels of the tasks ['mnli'])"),
        ({"task_name": "sst2", "top_k": "2"}, "got '2'."),
    ],
)  # fmt: skip
def test_pipeline_refuses_bad_calls_naming_the_task(classifier, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        classifier("A man plays a guitar.", **kwargs)


def test_a_failed_head_save_leaves_the_earlier_head(model, tmp_path, monkeypatch):
    import modeling_mtdnn.hub_mixin as hub_mixin

    folder = model.save_head("sst2", tmp_path / "head")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    with torch.no_grad():
        model.heads["sst2"].classifier.weight.add_(1.0)

    def failing(tensors, filename, metadata=None):
        open(filename, "wb").write(b"\x00" * 8)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hub_mixin, "save_file", failing)
    with pytest.raises(OSError, match="No space left on device"):
        model.save_head("sst2", folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["encoder", "head"]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda folder: (folder / HEAD_CONFIG_FILE).write_text('{"task_name": "sst2", "spec": '), "head_config.json' is not valid JSON"),
        (lambda folder: (folder / HEAD_CONFIG_FILE).write_text('{"task_name": "sst2"}'), "head_config.json' lacks 'task_name', 'spec' or 'encoder'; it was not written by save_head. Save the head again."),
        (lambda folder: (folder / HEAD_WEIGHTS_FILE).write_bytes((folder / HEAD_WEIGHTS_FILE).read_bytes()[:40]), "Head 'sst2_copy': "),
        (lambda folder: (folder / HEAD_WEIGHTS_FILE).write_bytes(b"not a safetensors file"), "cannot be read"),
    ],
)  # fmt: skip
def test_a_corrupt_head_is_named_and_leaves_the_model_unchanged(model, tmp_path, corrupt, message):
    folder = model.save_head("sst2", tmp_path / "head")
    corrupt(folder)
    config_before = json.dumps(model.config.to_dict(), sort_keys=True, default=str)
    keys_before = set(model.state_dict())
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        model.load_head(folder, task_name="sst2_copy")
    if "safetensors" in message or "read" in message or message.startswith("Head"):
        assert "the file is truncated or corrupt" in str(error.value)
    assert json.dumps(model.config.to_dict(), sort_keys=True, default=str) == config_before
    assert set(model.state_dict()) == keys_before and "sst2_copy" not in model.heads


def test_load_head_from_a_missing_local_folder_is_not_a_hub_lookup(model, tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"Head folder '{tmp_path / 'nope'}' is a local path that does not exist")):  # fmt: skip
        model.load_head(tmp_path / "nope")


def test_exported_ranking_model_keeps_gamma_and_says_where_padding_differs(encoder_dir, tmp_path):
    torch.manual_seed(1)
    model = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={"qnli": {"task_type": "ranking", "ranking_gamma": 4.0}}).eval()  # fmt: skip
    batch = {key: value.view(2, 3, -1) for key, value in make_pair_batch(batch=6).items()}
    batch["attention_mask"][1, 2] = 0  # the second question has two candidates and one padding candidate
    scores = model(**batch, task_name="qnli").logits
    exported = model.export_task("qnli")
    exported.save_pretrained(tmp_path / "qnli")
    reloaded = AutoModelForMultipleChoice.from_pretrained(tmp_path / "qnli").eval()
    assert reloaded.config.mtdnn_ranking_gamma == 4.0
    logits = reloaded(**batch).logits
    real = batch["attention_mask"].any(-1)
    # On real candidates the exported logits are gamma * MT-DNN's scores: softmax and loss are the ranking loss's.
    torch.testing.assert_close(logits[real], 4.0 * scores[real], rtol=1e-5, atol=1e-5)
    labels = torch.tensor([0, 1])
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(logits[:1], labels[:1]),
        model(**{k: v[:1] for k, v in batch.items()}, task_name="qnli", labels=labels[:1]).loss,
    )
    # A candidate whose attention mask is all zeros is the lowest score in MT-DNN, an ordinary one once exported
    # (as the README says): mask it yourself, or pass only real candidates.
    assert scores[1, 2] == torch.finfo(scores.dtype).min and torch.isfinite(logits[1, 2]) and logits[1, 2] > -1e6


def test_the_encoder_identity_is_its_weights_not_its_folder(model, encoder_dir, tmp_path, monkeypatch):
    import shutil

    import modeling_mtdnn.modeling_mtdnn as modeling

    folder = model.save_head("sst2", tmp_path / "head")
    # The same weights in another folder, and "from the Hub" (the download faked at AutoModel.from_pretrained).
    shutil.copytree(encoder_dir, tmp_path / "elsewhere" / "copy")
    copy = MTDNNForMultiTask.from_encoder(str(tmp_path / "elsewhere" / "copy"), tasks={})
    loader = modeling.AutoModel.from_pretrained
    monkeypatch.setattr(modeling.AutoModel, "from_pretrained", lambda name, **kwargs: loader(encoder_dir if name == "org/tiny-bert" else name, **kwargs))  # fmt: skip
    hub = MTDNNForMultiTask.from_encoder("org/tiny-bert", tasks={}, revision="main")
    assert hub.config.encoder_name_or_path == "org/tiny-bert" and hub.config.encoder_hint is None
    assert copy.config.encoder_name_or_path is None and copy.config.encoder_hint == "copy"
    assert model.config.encoder_fingerprint == copy.config.encoder_fingerprint == hub.config.encoder_fingerprint
    bf16 = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={}, dtype=torch.bfloat16)
    assert bf16.config.encoder_fingerprint == model.config.encoder_fingerprint  # rounded to bf16 before hashing
    assert copy.load_head(folder) == "sst2" and hub.load_head(folder) == "sst2"
    retrained = MTDNNForMultiTask.from_encoder(encoder_folder(tmp_path / "encoder", seed=5), tasks={})  # same path
    with pytest.raises(ValueError, match=re.escape("was trained on the encoder 'encoder' (weights sha256:")) as error:
        retrained.load_head(folder)
    assert "but this model's is 'encoder' (weights sha256:" in str(error.value)


def test_a_config_given_a_path_keeps_only_its_folder_name_and_unknown_head_fields_are_refused(model, tmp_path):
    model.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("encoder_fingerprint", "encoder_hint"):
        config.pop(key)
    config["encoder_name_or_path"] = config["encoder_config"]["_name_or_path"] = "/home/someone/models/tiny-bert"
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    old = MTDNNForMultiTask.from_pretrained(tmp_path / "old")
    assert old.config.encoder_name_or_path is None and old.config.encoder_hint == "tiny-bert"
    old.save_pretrained(tmp_path / "resaved")
    assert "/home/someone" not in (tmp_path / "resaved" / "config.json").read_text()

    head = model.save_head("sst2", tmp_path / "head")
    head_config = json.loads((head / HEAD_CONFIG_FILE).read_text())
    head_config["encoder"] = {"name_or_path": "/home/someone/models/tiny-bert", "revision": None, "model_type": "bert", "hidden_size": 32, "pooling": "auto"}  # fmt: skip
    (head / HEAD_CONFIG_FILE).write_text(json.dumps(head_config))
    with pytest.raises(ValueError, match=re.escape("field(s) ['encoder.name_or_path'] are not fields of a head's encoder identity (hub_id, revision, fingerprint, base_fingerprint, hint, model_type, hidden_size, pooling). Save the head again")):  # fmt: skip
        model.load_head(head, task_name="other")
    assert model.load_head(head, task_name="other", allow_other_encoder=True) == "other"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda e: e.update(fingerprint=123), "field 'encoder.fingerprint' must be a str or null starting with sha256:, got 123."),
        (lambda e: e.update(fingerprint="md5:abc"), "field 'encoder.fingerprint' must be a str or null starting with sha256:, got 'md5:abc'."),
        (lambda e: e.update(hub_id=["org/x"]), "field 'encoder.hub_id' must be a str or null, got ['org/x']."),
        (lambda e: e.pop("model_type"), "field 'encoder.model_type' must be a str, got None."),
        (lambda e: e.update(hidden_size="32"), "field 'encoder.hidden_size' must be a int, got '32'."),
    ],
)  # fmt: skip
def test_a_head_with_a_malformed_identity_is_refused_naming_file_and_field(model, tmp_path, edit, message):
    head = model.save_head("sst2", tmp_path / "head")
    head_config = json.loads((head / HEAD_CONFIG_FILE).read_text())
    edit(head_config["encoder"])
    (head / HEAD_CONFIG_FILE).write_text(json.dumps(head_config))
    with pytest.raises(ValueError, match=re.escape(f"Head config '{head / HEAD_CONFIG_FILE}': {message}")):
        model.load_head(head, task_name="copy")
    if "model_type" in message or "hidden_size" in message:
        return  # what the head's shape depends on is never waived
    assert model.load_head(head, task_name="copy", allow_other_encoder=True) == "copy"


def test_a_missing_folder_that_reads_as_a_hub_id_is_said_missing_locally_first(tmp_path, monkeypatch):
    import huggingface_hub.constants
    from transformers.testing_utils import CaptureLogger
    from transformers.utils import logging

    import modeling_mtdnn.saving as saving

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with CaptureLogger(logging.get_logger(saving.__name__)) as captured:
        with pytest.raises(OSError):  # then the Hub lookup fails: offline here, or no such repo
            MTDNNForMultiTask.from_pretrained("outputs/demo")
    assert f"MT-DNN checkpoint 'outputs/demo': there is no such local folder (relative to {tmp_path}); looking it up as a Hub id." in captured.out  # fmt: skip
    (tmp_path / "outputs" / "demo").mkdir(parents=True)
    with CaptureLogger(logging.get_logger(saving.__name__)) as captured:
        with pytest.raises((OSError, ValueError)):  # an empty folder: no checkpoint, but no Hub lookup either
            MTDNNForMultiTask.from_pretrained("outputs/demo")
    assert "looking it up as a Hub id" not in captured.out


def test_a_head_names_the_encoder_as_trained_and_fits_only_those_weights(model, encoder_dir, tmp_path):
    trained = MTDNNForMultiTask.from_encoder(encoder_dir, tasks=TINY_TASKS)
    with torch.no_grad():  # as training moves the encoder with the heads
        trained.encoder.embeddings.word_embeddings.weight.add_(0.01)
    trained.save_pretrained(tmp_path / "trained")
    folder = trained.save_head("rte", tmp_path / "rte-head")
    saved = json.loads((folder / HEAD_CONFIG_FILE).read_text())["encoder"]
    assert saved["base_fingerprint"] == model.config.encoder_fingerprint != saved["fingerprint"]
    card = " ".join((folder / "README.md").read_text().split())
    assert "Training changed the encoder" in card and "load the head onto the trained MT-DNN model it was saved from" in card  # fmt: skip
    fresh = MTDNNForMultiTask.from_encoder(encoder_dir, tasks={})  # the pretrained encoder, untrained
    with pytest.raises(ValueError, match=re.escape(f"Head 'rte' from {str(folder)!r} was trained on the encoder 'encoder' (weights {saved['fingerprint'][:19]}...), but this model's is 'encoder' (weights {model.config.encoder_fingerprint[:19]}...); pass allow_other_encoder=True")):  # fmt: skip
        fresh.load_head(folder)
    assert fresh.load_head(folder, allow_other_encoder=True) == "rte"  # knowingly
    reloaded = MTDNNForMultiTask.from_pretrained(tmp_path / "trained")
    reloaded.remove_task("rte")
    assert reloaded.load_head(folder) == "rte"  # the model it was trained with takes it back
    # A head trained on a frozen encoder (or beside a LoRA adapter) leaves the encoder as it was: it fits the base.
    frozen = model.save_head("rte", tmp_path / "frozen-head")
    assert "The encoder was not changed by training" in " ".join((frozen / "README.md").read_text().split())
    assert MTDNNForMultiTask.from_encoder(encoder_dir, tasks={}).load_head(frozen) == "rte"
