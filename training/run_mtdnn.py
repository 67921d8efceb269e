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
"""Multi-task training of MT-DNN: `accelerate launch training/run_mtdnn.py [config.json|config.yaml] [--flags]`.

Builds an MT-DNN from a pretrained encoder (or continues from an MT-DNN checkpoint with `--init_from`), loads and
tokenizes every task of `--tasks` (from the Hub, or from the local copy `--data_dir` / `MTDNN_DATA_DIR`), trains
with `MTDNNTrainer`, evaluates each task, and saves the model, tokenizer and results in `--output_dir`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import datasets
import transformers
import yaml
from transformers import AutoTokenizer, HfArgumentParser, TrainerCallback, set_seed

if __package__ in (None, ""):  # `python training/run_mtdnn.py` and `accelerate launch training/run_mtdnn.py`
    try:
        import mtdnn.training  # noqa: F401
    except (
        ModuleNotFoundError
    ) as error:  # a checkout that was never installed: `training/` imports as `mtdnn.training`
        raise SystemExit(
            f"{error}. From a checkout, install the package first (`pip install -e .`, which `make setup` runs): "
            "its `training/` folder installs as `mtdnn.training`."
        ) from None

from modeling_mtdnn import MTDNNForMultiTask  # noqa: E402
from modeling_mtdnn.saving import atomic_file, check_local_path  # noqa: E402
from mtdnn.model_cards import MTDNNModelCardData, write_model_card  # noqa: E402
from mtdnn.training.arguments import DataArguments, ModelArguments, MTDNNTrainingArguments  # noqa: E402
from mtdnn.training.collator import MultiTaskDataCollator  # noqa: E402
from mtdnn.training.distill import MANIFEST_SUFFIX, attach_soft_targets  # noqa: E402
from mtdnn.training.metrics import METRIC_NAMES  # noqa: E402
from mtdnn.training.task_affinity import AFFINITY_FILE  # noqa: E402
from mtdnn.training.task_files import FILE_BUILDERS, TaskDataSpec, load_task_specs  # noqa: E402
from mtdnn.training.task_groups import group_heads  # noqa: E402
from mtdnn.training.task_sets import build_task_sets  # noqa: E402
from mtdnn.training.trainer import EvalSpec, MTDNNTrainer, end_distributed_run  # noqa: E402

__all__ = [
    "build_model",
    "check_position_limit",
    "cli",
    "format_score_table",
    "main",
    "parse_args",
    "write_predictions",
]

logger = logging.getLogger("run_mtdnn")


def _as_flags(values: dict[str, Any]) -> list[str]:
    flags = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            flags += [f"--{name}", *map(str, value)]
        elif isinstance(value, bool):
            flags += [f"--{name}", str(value).lower()]
        else:
            flags += [f"--{name}", str(value)]
    return flags


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, MTDNNTrainingArguments]:
    """
    Flags as in `run_glue.py`, or a JSON / YAML file of arguments first, followed by flags that override it:
    `run_mtdnn.py training/configs/demo.yaml --model_name_or_path bert-base-uncased`.
    """
    parser = HfArgumentParser((ModelArguments, DataArguments, MTDNNTrainingArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        path = Path(argv.pop(0))
        if not path.is_file():
            raise ValueError(f"Argument file {str(path)!r} does not exist.")
        try:
            values = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ValueError(f"Argument file {str(path)!r} cannot be parsed: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(f"Argument file {str(path)!r} must hold a mapping of argument names to values.")
        argv = _as_flags(values) + argv  # later flags win
    return parser.parse_args_into_dataclasses(args=argv)


def build_model(model_args: ModelArguments, specs: dict[str, TaskDataSpec]) -> MTDNNForMultiTask:
    """A fresh MT-DNN on the pretrained encoder, or the `--init_from` checkpoint with heads added for new tasks."""
    tasks = {name: spec.model_spec() for name, spec in specs.items()}
    if model_args.init_from is None:
        return MTDNNForMultiTask.from_encoder(
            model_args.model_name_or_path,
            tasks=tasks,
            pooling=model_args.pooling or "auto",
            cache_dir=model_args.cache_dir,
        )
    _check_checkpoint_folder(model_args.init_from)
    model = MTDNNForMultiTask.from_pretrained(model_args.init_from, cache_dir=model_args.cache_dir)
    if model_args.pooling is not None and model_args.pooling != model.config.pooling:
        raise ValueError(
            f"--pooling {model_args.pooling} differs from the pooling of {model_args.init_from!r} "
            f"({model.config.pooling!r}), which its heads were trained with; leave --pooling out to keep it."
        )
    for name, spec in tasks.items():
        if name not in model.config.tasks:
            logger.info("Task %s is new to %s: adding a fresh head.", name, model_args.init_from)
            model.add_task(name, spec)
            continue
        kept, wanted_spec = model.config.tasks[name], spec
        # What shapes the head's weights or the meaning of its outputs must agree; label names in another order
        # would silently swap the classes.
        for field in ("task_type", "head", "num_labels", "id2label"):
            if field in wanted_spec and kept.get(field) != wanted_spec[field]:
                raise ValueError(
                    f"Task '{name}': the checkpoint {model_args.init_from!r} has {field}={kept.get(field)!r} but the "
                    f"task file says {wanted_spec[field]!r}; rename the task to train a new head, or fix the task "
                    "file."
                )
        # Training settings of the task file apply to the trained head.
        changes = {
            field: wanted_spec[field]
            for field in model.UPDATABLE_TASK_FIELDS
            if field in wanted_spec and kept.get(field) != wanted_spec[field]
        }
        if changes:
            logger.info("Task %s: the task file's %s replace the checkpoint's.", name, changes)
            model.update_task(name, **changes)
    return model


# Encoders whose position ids start after the padding index (RoBERTa's scheme): `pad_token_id + 1` positions are
# never given to a token.
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text", "xmod")


def check_position_limit(model: MTDNNForMultiTask, specs: dict[str, TaskDataSpec], max_seq_length: int) -> None:
    """
    Refuses, before any data is read, a task whose sequences would be longer than the encoder has position
    embeddings for: the tokenizer's `model_max_length` is checked too, but some tokenizers do not set it, and a long
    row would then fail mid-training, when it is first sampled.
    """
    encoder = model.config.encoder_config
    positions = getattr(encoder, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return  # relative or rotary positions: no table to run past
    usable = positions
    if encoder.model_type in _OFFSET_POSITIONS:
        usable -= (encoder.pad_token_id or 0) + 1
    for name, spec in specs.items():
        length = spec.max_seq_length or max_seq_length
        if isinstance(length, int) and length > usable:
            setting = "the task's 'max_seq_length'" if spec.max_seq_length else "--max_seq_length"
            raise ValueError(
                f"Task '{name}': max_seq_length {length} is longer than the {usable} positions the encoder "
                f"({encoder.model_type}, max_position_embeddings={positions}) has embeddings for; lower {setting} to "
                f"at most {usable}."
            )


def add_task_adapters(model: MTDNNForMultiTask, task_names: list[str], settings: dict[str, Any]) -> None:
    """
    Gives each task a LoRA adapter (one the model already has is trained further) and freezes everything but the
    adapters and these tasks' heads.
    """
    for name in task_names:
        if name in model.task_adapters:
            logger.info("Task %s: training its adapter from the checkpoint further (its settings are kept).", name)
        else:
            model.add_task_adapter(name, **settings)
    counts = model.train_adapters_only(task_names)
    logger.info(
        "LoRA adapters for %s: trainable params %d || all params %d || trainable%% %.4f",
        ", ".join(task_names),
        counts["trainable"],
        counts["total"],
        100 * counts["trainable"] / counts["total"],
    )


def _check_checkpoint_folder(path: str) -> None:
    """Refuses an `--init_from` that is not an MT-DNN checkpoint folder, naming what it is and what to pass."""
    folder = Path(path)
    if not folder.is_dir():
        return  # a Hub id: from_pretrained says whether it exists
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(
            f"--init_from {path!r} is not an MT-DNN checkpoint: it has no config.json. Point it at a folder written "
            "by run_mtdnn.py or save_pretrained (the output_dir or one of its checkpoint-N folders)."
        )
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise ValueError(f"--init_from {path!r}: its config.json is corrupt ({error}).") from None
    if model_type != "mtdnn":
        raise ValueError(
            f"--init_from {path!r} holds a {model_type!r} model, not an MT-DNN checkpoint; to start from a "
            "pretrained encoder, pass it as --model_name_or_path instead."
        )


# The files a finished run leaves in its output folder; `--overwrite_output_dir` replaces them.
RESULT_FILES = ("all_results.json", "train_results.json", "eval_results.json", "test_results.json")


def check_output_dir(training_args: MTDNNTrainingArguments, keep: tuple[str | None, ...] = ()) -> None:
    """
    Before any work, refuses to train into an output folder that holds a model, results or checkpoints unless
    `--overwrite_output_dir` (or `--resume_from_checkpoint`, to continue its run) is given.

    With `--overwrite_output_dir`, what an earlier run wrote there and this run would not replace is removed, so that
    none of it is resumed (`--resume_from_checkpoint true` takes the last `checkpoint-N`) or merged into this run's
    outputs: its `checkpoint-N` folders and what killed saves left of them (`.checkpoint-N.saving-*`), its results
    files, `trainer_state.json` and `task_affinity.json`, the prediction files of `predictions/` and
    `glue_submission/`, and its task adapters (`adapters/<task>/`). A warning names what went. Nothing else is
    removed: the model's files stay until this run's save replaces them (the folder may be this run's `--init_from`),
    and so do files the run does not write.
    Never removed either: a folder holding one of the paths in `keep` (what the run reads from: `--init_from`,
    `--model_name_or_path`, `--tokenizer_name`), and the checkpoints under `--resume_from_checkpoint`.
    """
    import shutil

    from modeling_mtdnn.saving import ADAPTER_CONFIG_FILE

    folder = Path(training_args.output_dir)
    if not training_args.do_train or not folder.is_dir():
        return
    if training_args.overwrite_output_dir:
        if not training_args.should_save:
            return
        sources = [Path(path).expanduser().resolve() for path in keep if path and Path(path).expanduser().exists()]
        resuming = training_args.resume_from_checkpoint is not None
        killed = re.compile(r"\.checkpoint-\d+\.(saving|old)-[^.]+")  # what a killed checkpoint save left
        earlier = [
            path
            for path in sorted(folder.iterdir())
            if (path.is_file() and path.name in (*RESULT_FILES, "trainer_state.json", AFFINITY_FILE))
            or (path.is_dir() and not path.is_symlink() and killed.fullmatch(path.name))
            or (path.is_dir() and not path.is_symlink() and not resuming and _CHECKPOINT.fullmatch(path.name))
        ]
        for name in ("predictions", "glue_submission"):
            if (folder / name).is_dir():
                files = (folder / name).iterdir()
                earlier += sorted(path for path in files if path.is_file() and path.suffix in (".tsv", ".json"))
        if (folder / "adapters").is_dir():
            adapters = (folder / "adapters").iterdir()
            earlier += sorted(path for path in adapters if (path / ADAPTER_CONFIG_FILE).is_file())
        removed = []
        for path in earlier:
            if any(source == path.resolve() or path.resolve() in source.parents for source in sources):
                logger.warning("--overwrite_output_dir: keeping %s, which this run reads from.", path)
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.relative_to(folder).as_posix())
        for name in ("predictions", "glue_submission", "adapters"):
            if (folder / name).is_dir() and not any((folder / name).iterdir()):
                (folder / name).rmdir()
        if removed:
            logger.warning(
                "--overwrite_output_dir: removed the earlier run's %s from %s.", ", ".join(removed), str(folder)
            )
        return
    found = sorted(
        path.name
        for path in folder.iterdir()
        if path.name in ("config.json", "model.safetensors", *RESULT_FILES) or _CHECKPOINT.fullmatch(path.name)
    )
    if found and training_args.resume_from_checkpoint is None:
        raise ValueError(
            f"--output_dir {str(folder)!r} already holds {found[:5]}{' ...' if len(found) > 5 else ''} of an earlier "
            "run. Pass --overwrite_output_dir to train into it anyway (what the earlier run wrote is removed or "
            "replaced), --resume_from_checkpoint to continue from one of its checkpoints, or choose another "
            "--output_dir."
        )


_CHECKPOINT = re.compile(r"checkpoint-\d+")


class _StartMessage(TrainerCallback):
    """Says, once the Trainer knows its step count, what the run will train and where it will save."""

    def __init__(self, train_sets: dict[str, Any]):
        self.train_sets = train_sets

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        sizes = ", ".join(
            f"{name} ({len(dataset):,}" + (f"; a task group of {', '.join(heads)})" if heads else ")")
            for name, dataset in self.train_sets.items()
            for heads in [group_heads(dataset)]
        )
        logger.info(
            "MT-DNN: training %d task%s on one encoder, %s training rows: %s; %d optimizer steps (%s epochs, batch "
            "%d per device); the model goes to %s.",
            len(self.train_sets),
            "" if len(self.train_sets) == 1 else "s",
            f"{sum(len(dataset) for dataset in self.train_sets.values()):,}",
            sizes,
            state.max_steps,
            f"{state.num_train_epochs:g}",
            args.per_device_train_batch_size,
            args.output_dir,
        )


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Runs the stages the flags ask for and returns their metrics; a distributed run ends with its process group."""
    try:
        return _run(argv)
    finally:
        end_distributed_run(wait=False)  # after an error; a finished run has already ended it with its trainer


def _run(argv: list[str] | None) -> dict[str, float]:
    model_args, data_args, training_args = parse_args(argv)
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    log_level = training_args.get_process_log_level()
    logger.setLevel(logging.INFO if training_args.should_log else log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    set_seed(training_args.seed)
    check_output_dir(
        training_args, keep=(model_args.init_from, model_args.model_name_or_path, model_args.tokenizer_name)
    )

    specs = load_task_specs(data_args.task_names, data_args.task_files)
    for flag in ("model_name_or_path", "init_from", "tokenizer_name"):
        if getattr(model_args, flag) is not None:
            check_local_path(getattr(model_args, flag), f"--{flag}")
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_args.init_from or model_args.model_name_or_path,
        cache_dir=model_args.cache_dir,
    )
    model = build_model(model_args, specs)
    check_position_limit(model, specs, data_args.max_seq_length)
    lora = model_args.lora_settings()
    if lora is not None:
        add_task_adapters(model, list(specs), lora)
        for group in dict.fromkeys(spec.group for spec in specs.values() if spec.group is not None):
            heads = [name for name, spec in specs.items() if spec.group == group]
            if len(heads) > 1:
                logger.warning(
                    "Task group %s: each of its heads (%s) trains a LoRA adapter of its own, so a batch of the group "
                    "runs the encoder once per head (with that head's adapter): the heads still share the batch and "
                    "their summed loss, but the group saves no encoder passes.",
                    group,
                    ", ".join(heads),
                )

    # All data is loaded, checked and tokenized before training starts, so bad input fails fast.
    with training_args.main_process_first(desc="loading and tokenizing the tasks"):
        task_sets = build_task_sets(
            specs,
            tokenizer,
            train=training_args.do_train,
            evaluate=training_args.do_eval,
            predict=training_args.do_predict,
            data_dir=data_args.data_dir,
            cache_dir=model_args.cache_dir,
            max_seq_length=data_args.max_seq_length,
            seed=training_args.seed,
            max_train_samples=data_args.max_train_samples,
            train_fraction=data_args.train_fraction,
            max_eval_samples=data_args.max_eval_samples,
            max_predict_samples=data_args.max_predict_samples,
        )
    train_sets, eval_sets, eval_specs, test_sets = (
        task_sets.train_sets,
        task_sets.eval_sets,
        task_sets.eval_specs,
        task_sets.test_sets,
    )

    if data_args.soft_targets is not None and train_sets:
        check_local_path(data_args.soft_targets, "--soft_targets")
        distilled = [
            name for name in train_sets if (Path(data_args.soft_targets) / f"{name}{MANIFEST_SUFFIX}").is_file()
        ]
        if not distilled:
            raise ValueError(
                f"--soft_targets {data_args.soft_targets!r} holds soft targets for none of the tasks "
                f"{list(train_sets)}; write them with training/distill.py for the same --tasks."
            )
        for name in distilled:
            train_sets[name] = attach_soft_targets(
                data_args.soft_targets, name, model.config.tasks[name], train_sets[name]
            )
        plain = [name for name in train_sets if name not in distilled]
        logger.info(
            "MT-DNN-KD: %s train on soft targets (weight %s, temperature %s)%s.",
            ", ".join(distilled),
            training_args.kd_weight,
            training_args.kd_temperature,
            f"; {', '.join(plain)} on their labels alone" if plain else "",
        )

    card = model.model_card_data = MTDNNModelCardData(model_id=training_args.hub_model_id)
    card.task_datasets = {
        key: {
            "dataset": "" if spec.dataset in FILE_BUILDERS else spec.dataset,
            "config": spec.config or "",
            "split": split,
            "metric": spec.metric,
        }
        | (
            {"rows": task_sets.eval_cuts[key][0], "split_rows": task_sets.eval_cuts[key][1]}
            if key in task_sets.eval_cuts
            else {}
        )
        for spec in specs.values()
        for key, split in spec.eval_splits().items()
    }
    card.data_settings = {
        name: value
        for name, value in {
            "tasks": ", ".join(specs),
            "task_groups": "; ".join(
                f"{group} ({', '.join(heads)}: one encoder pass per batch)"
                for group, heads in task_sets.groups.items()
            )
            or None,
            "max_seq_length": data_args.max_seq_length,
            "max_train_samples": data_args.max_train_samples,
            "train_fraction": data_args.train_fraction,
            "max_eval_samples": data_args.max_eval_samples,
            "padding": "max_length" if data_args.pad_to_max_length else "dynamic (longest in batch)",
        }.items()
        if value is not None
    }
    collator = MultiTaskDataCollator(
        tokenizer,
        padding="max_length" if data_args.pad_to_max_length else "longest",
        max_length=data_args.max_seq_length if data_args.pad_to_max_length else None,
        tasks=model.config.tasks,
    )
    trainer = MTDNNTrainer(
        model=model,
        args=training_args,
        train_dataset=train_sets or None,
        eval_dataset=eval_sets or None,
        eval_specs=eval_specs,
        adv_task_weights={name: spec.adv_weight for name, spec in specs.items() if spec.adv_weight is not None},
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[_StartMessage(train_sets)] if train_sets else None,
    )
    if trainer.affinity_probes:  # --task_affinity_steps held each task's probe rows back: say and count the rest
        train_sets = dict(trainer.train_dataset)
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, _StartMessage):
                callback.train_sets = train_sets

    results: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        if lora is not None and trainer.is_world_process_zero():
            for name in specs:
                folder = model.save_task_adapter(name, Path(training_args.output_dir) / "adapters" / name)
                logger.info("Task %s: its LoRA adapter and head are in %s", name, folder)
        metrics = train_result.metrics | {f"train_{name}_samples": len(ds) for name, ds in train_sets.items()}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results |= metrics
    if training_args.do_eval:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results |= metrics
        if trainer.is_world_process_zero():
            logger.info("Dev scores:\n%s", format_score_table(metrics, eval_specs))
            if training_args.do_train:  # the card saved with the model predates these scores
                write_model_card(trainer.model, training_args.output_dir)
    if training_args.push_to_hub and training_args.do_train:
        trainer.push_to_hub(commit_message="Upload MT-DNN model")
    if training_args.do_predict:
        written = write_predictions(trainer, test_sets, training_args.output_dir)
        if trainer.is_world_process_zero():
            logger.info("Predictions written: %s", ", ".join(sorted(written)))
    if not training_args.do_train and not training_args.do_eval and not training_args.do_predict:
        logger.warning("Nothing to do: pass --do_train, --do_eval and/or --do_predict.")
    if training_args.do_train and trainer.is_world_process_zero():
        logger.info(
            "Saved the model, its tokenizer and model card to %s%s. Load it with `import modeling_mtdnn` and "
            "AutoModel.from_pretrained(%r) (or trust_remote_code=True without the package).",
            training_args.output_dir,
            ", dev scores in eval_results.json" if training_args.do_eval else "",
            training_args.output_dir,
        )
    end_distributed_run(trainer)
    return results


def _write_tsv(path: Path, rows: list[tuple[Any, ...]], header: tuple[str, ...] = ("index", "prediction")) -> None:
    """Writes tab-separated rows under `header` through a temporary file, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as temporary, open(temporary, "w") as file:
        file.write("\t".join(header) + "\n")
        file.writelines("\t".join(map(str, row)) + "\n" for row in rows)


def write_predictions(
    trainer: MTDNNTrainer, test_sets: dict[str, tuple[TaskDataSpec, Any, list[int]]], output_dir: str
) -> list[str]:
    """
    Predicts every test set and writes `predictions/<key>.tsv` (label names, or scores for regression) and, for tasks
    with a `submission_file`, `glue_submission/<file>` in the GLUE server's format; span extraction writes
    `predictions/<key>.json`, SQuAD's `{question id: answer}`. Returns the paths written.

    Token classification files have three columns, `index`, `prediction` and `unseen_words`: `prediction` holds one
    tag per word of the row, space-separated, so the n-th tag is always the n-th word's; a word the model never saw
    (one the tokenizer turns into no tokens, such as a zero-width space, a soft hyphen or a control character, or one
    cut off by `max_seq_length`) is tagged `O` there, and `unseen_words` lists the positions of those words (from 0,
    space-separated; empty when the model saw every word). Preparing the split warns how many words of how many rows
    the model does not see.
    """
    written = []
    for key, (spec, dataset, indices) in test_sets.items():
        logits = trainer.predict(dataset, metric_key_prefix=f"test_{key}").predictions
        if not trainer.is_world_process_zero():
            continue
        kind = spec.kind
        settings = {"positive_label": spec.positive_label_id, "n_best_size": spec.n_best_size}
        predictions = trainer.predictions_of(
            spec.name, dataset, logits, max_answer_length=spec.max_answer_length, **settings
        )
        # Label names as the task file gives them (a ranking task's pair labels too).
        names = {**trainer.model.config.tasks[spec.name], "id2label": dict(enumerate(spec.label_names or []))}
        path = Path(output_dir) / "predictions" / f"{key}.{kind.prediction_file}"
        if kind.prediction_file == "json":  # SQuAD's prediction file: {question id: answer}
            path.parent.mkdir(parents=True, exist_ok=True)
            answers = {str(indices[i]): kind.format_prediction(predictions[i], names) for i in sorted(predictions)}
            with atomic_file(path) as temporary:
                temporary.write_text(json.dumps(answers))
            written.append(str(path))
            continue
        named = [kind.format_prediction(value, names) for value in predictions]
        if kind.input_kind == "tokens":  # every word keeps its place; the words the model never saw are listed
            unseen = [" ".join(map(str, kind.unseen_words(value))) for value in predictions]
            _write_tsv(path, list(zip(indices, named, unseen)), ("index", "prediction", "unseen_words"))
        else:
            _write_tsv(path, list(zip(indices, named)))
        written.append(str(path))
        if key in spec.submission_files():
            as_written = kind.predicts_value or spec.submission_labels == "names"
            submitted = named if as_written else [int(value) for value in predictions]
            path = Path(output_dir) / "glue_submission" / spec.submission_files()[key]
            _write_tsv(path, list(zip(indices, submitted)))
            written.append(str(path))
    return written


def format_score_table(metrics: dict[str, float], eval_specs: dict[str, EvalSpec]) -> str:
    """A per-task table of dev scores, as the README's main command prints it."""
    rows = [("task", "metric", "dev score")]
    for key, spec in eval_specs.items():
        for metric in METRIC_NAMES[spec.metric]:
            rows.append((key, metric, f"{metrics[f'eval_{key}_{metric}']:.4f}"))
    rows.append(("average", "", f"{metrics['eval_average']:.4f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([lines[0], "-" * max(map(len, lines)), *lines[1:]])


def cli() -> None:
    """
    The `mtdnn-train` console script of the installed package: `main()` on the command line's arguments. Returns None,
    so the script exits with status 0 (a console script exits with what its function returns; `main`'s metrics would
    read as a failure).
    """
    main()


if __name__ == "__main__":
    cli()
