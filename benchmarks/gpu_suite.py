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
"""One command for a lent GPU: every task type, training throughput, one-pass inference, MT-DNN against single-task
on the local GLUE rows and FSDP, each section timed and its failure caught; the last line is one JSON object.

    python benchmarks/gpu_suite.py --device cuda --bf16 --data_dir DATA/glue [--model MINILM_FOLDER]
        [--conll_dir DATA/conll2003] [--squad_dir DATA/squad] [--output_dir outputs/gpu_suite]
        [--sections tasks,throughput,inference,glue,fsdp] [--glue_max_train_samples 20000] [--quick]

Sections (`--sections`, any subset; the runs' logs are in `<output_dir>/logs`):

- `tasks`: every task type through `training/run_mtdnn.py` (RTE: classification with a SAN head, STS-B: regression,
  QNLI: ranking, CoNLL-2003: token classification, SQuAD: span extraction), a few steps on capped rows, evaluated
  and saved; the checkpoint reloaded with `MTDNNForMultiTask.from_pretrained` gives the trained model's logits
  again; one pass over all heads (`task_name=None`) gives each head's own logits; the `mtdnn` pipeline answers each
  kind of task; then a LoRA adapter run (`--lora_r 8`, saved and reloaded alike), a SMART run (`--adv_train`) and
  task affinity runs (`--task_affinity_steps`, cosine and lookahead, RTE, STS-B and QNLI): every measurement finite,
  the cosine's diagonal 1.
- `throughput`: `bench_train.py`'s arms (MTDNNTrainer against the stock Trainer on the same batches) for a
  BERT-base-sized encoder with random weights (built from `BertConfig()` with `--model`'s tokenizer: no file needed)
  and for `--model`, at batch 32 and at the largest batch that fits (doubled from 32 until CUDA runs out of memory on
  a training step at 128 tokens, at most 2,048 so RTE's 2,490 rows fill a batch), with model TFLOP/s = 6 x encoder
  parameters x tokens/s.
- `inference`: `bench_inference.py`, one encoder pass for 8 GLUE heads against 8 single-task models.
- `glue`: MT-DNN with the demo recipe (`training/configs/demo.yaml`, one epoch) on MNLI, RTE, STS-B, CoLA and SST-2
  against single-task runs of each, at most `--glue_max_train_samples` rows per task (20,000: every local row but
  SST-2's; 0: all rows). On a GPU the six runs share it side by side while `tasks` and `fsdp` run; on a CPU they run
  one after another.
- `fsdp`: a few steps of a five-task run (each head idle in most steps) under FSDP, `accelerate launch --config_file
  training/configs/accelerate_fsdp.yaml --num_processes 1`, with `--head_learning_rate`; the logits of the wrapped
  model at its save are compared with those of the checkpoint reloaded without FSDP. Skipped on a CPU (accelerate turns
  FSDP on only for GPU process groups).

The `tasks` and `fsdp` runs go through a small launcher that calls `run_mtdnn.main` with the same flags and, at its
final save, records the model's logits on fixed inputs (through the FSDP wrapper under FSDP), so reloading is
compared with the model that was trained. `--quick` shrinks every section to a handful of steps (about 5 minutes on 2
CPU cores). The JSON names the device and dtype, and each section's `status` (`passed`, `failed` with its `error`, or
`skipped` with its `reason`) and `seconds`; the command exits 1 when a section failed.

On a lent GPU machine (see the project's shared GPU.md): it lacks `datasets`, `evaluate` and `seqeval`, its
transformers is too old, and nothing downloads there. Here, put into ignored folders of the checkout the wheels
(datasets, evaluate, dill, multiprocess for py312, fsspec, `pip wheel seqeval`, transformers 5.24.0 trimmed as GPU.md
says), the data (`glue/`, `conll2003/`, `squad/` from ../shared/data: 14 MB) and the MiniLM folder (fp16, xz); carry
them (64 MiB in all). There: `python3 -m pip install --no-index --no-deps --target $SITE WHEELS`, restore the MiniLM
weights to fp32, then `PYTHONPATH=$SITE:. python3 benchmarks/gpu_suite.py --device cuda --bf16 --model MINILM
--data_dir DATA/glue --output_dir $OUT/suite` (sized for under 8 minutes on one H200; not yet run there).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
# The throughput variants measured beside the plain arms (bench_train.py flags), on CUDA only: torch.compile,
# a fused optimizer (torch's Adamax has no fused kernel; AdamW does), and batches grouped by length (an epoch).
VARIANTS = {
    "torch_compile": ("--torch_compile",),
    "fused_adamw": ("--optim", "adamw_torch_fused"),
    "group_by_length": ("--arms", "epoch"),
}
VARIANT_SKIP = (
    "--device {}: torch.compile, fused optimizers and length grouping are measured on a GPU (compiling on 2 CPU "
    "cores alone takes minutes)"
)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmark_args import (  # noqa: E402
    benchmark_parser,
    cli_device_flags,
    device_figures,
    inference_device,
    parse_benchmark_args,
    parse_subset,
)

__all__ = ["SECTIONS", "main", "probe_inputs", "probe_logits"]

SECTIONS = {
    "tasks": "every task type through the CLI; reload, one pass, pipeline, LoRA, SMART, task affinity",
    "throughput": "MTDNNTrainer against the stock Trainer, BERT-base size and --model, batch 32 and the largest",
    "inference": "one pass over 8 GLUE heads against 8 single-task models",
    "glue": "MT-DNN on the local GLUE rows against single-task runs",
    "fsdp": "a multi-task run under FSDP through accelerate; save, reload, compare",
}
TASK_TYPES = {
    "rte": "classification (SAN head)",
    "stsb": "regression",
    "qnli": "ranking",
    "conll2003": "token classification",
    "squad": "span extraction",
}
MISSING_FLAGS = {"conll2003": "--conll_dir", "squad": "--squad_dir"}
GLUE_TASKS = ["mnli", "rte", "stsb", "cola", "sst2"]
GLUE_SCORED = ["mnli", "mnli_mm", "rte", "stsb", "cola", "sst2"]
LARGEST_BATCH_CAP = 2048  # RTE's 2,490 training rows must fill one batch of bench_train.py (it drops partial ones)
QNLI_TASK_FILE = ROOT / "benchmarks" / "tasks" / "qnli_from_validation.yaml"
FSDP_CONFIG = ROOT / "training" / "configs" / "accelerate_fsdp.yaml"
DEMO_CONFIG = ROOT / "training" / "configs" / "demo.yaml"
PROBE_PAIRS = [
    ("A man is playing a guitar on the stage.", "Someone is making music."),
    ("The committee did not approve the proposal before the deadline.", "The proposal was approved in time."),
    ("Where was the treaty signed?", "The treaty was signed in Paris in 1783 after long negotiations."),
    ("EU rejects German call to boycott British lamb.", "Peter Blackburn reports from Brussels."),
]
LAUNCHER = '''\
"""Runs training/run_mtdnn.py's main with these arguments; at its final save, the model's logits on the suite's probe
inputs (through the FSDP wrapper under FSDP) go to $MTDNN_SUITE_PROBE."""
import os
import sys
from collections import Counter

sys.path[:0] = [{root!r}, {benchmarks!r}]
import torch
from gpu_suite import probe_logits
from mtdnn.training import run_mtdnn
from mtdnn.training.trainer import MTDNNTrainer

save_model = MTDNNTrainer.save_model


def probed_save_model(self, output_dir=None, _internal_call=False):
    save_model(self, output_dir, _internal_call)
    if output_dir is not None or _internal_call:  # a checkpoint, not run_mtdnn.py's final save
        return
    model = self.model_wrapped
    tasks = list(self.model.config.tasks)
    logits = probe_logits(model, self.processing_class, self.args.device, self.args.bf16, tasks)
    sampler = getattr(self, "task_sampler", None)
    steps = sampler.batch_tasks()[: self.state.global_step] if sampler is not None else []
    plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
    if self.is_world_process_zero():
        torch.save(
            {{
                "logits": logits,
                "wrapper": type(model).__name__,
                "fsdp": bool(self.is_fsdp_enabled),
                "use_orig_params": getattr(plugin, "use_orig_params", None),
                "steps_per_task": dict(Counter(steps)),
            }},
            os.environ["MTDNN_SUITE_PROBE"],
        )


MTDNNTrainer.save_model = probed_save_model
run_mtdnn.main(sys.argv[1:])
'''


class SectionSkipped(Exception):
    """A section (or part) that cannot run here; its message is the reason given in the JSON."""


def probe_inputs(tokenizer, device: torch.device | str = "cpu"):
    """The suite's fixed sentence pairs, tokenized (at most 128 tokens) and moved to `device`."""
    first, second = zip(*PROBE_PAIRS)
    encoded = tokenizer(list(first), list(second), padding=True, truncation=True, max_length=128, return_tensors="pt")
    return encoded.to(device)


def probe_logits(
    model, tokenizer, device: torch.device | str, bf16: bool, task_names: list[str]
) -> dict[str, torch.Tensor]:
    """
    Each task's logits on [`probe_inputs`] (float32, on the CPU), one call per task, in eval mode and under bfloat16
    autocast when `bf16`; the model's train/eval mode is restored afterwards.

    Args:
        model (`torch.nn.Module`):
            An `MTDNNForMultiTask`, or a wrapper of one (FSDP, DDP) that forwards `task_name`.
        tokenizer:
            Its tokenizer.
        device (`torch.device` or `str`):
            Where the model is.
        bf16 (`bool`):
            Autocast to bfloat16, as the Trainer's `--bf16` does.
        task_names (`list[str]`):
            The tasks whose logits to compute.
    """
    inputs = probe_inputs(tokenizer, device)
    training = model.training
    model.eval()
    with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        logits = {name: model(**inputs, task_name=name).logits.float().cpu() for name in task_names}
    model.train(training)
    return logits


def _largest_difference(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    if sorted(first) != sorted(second):
        raise ValueError(f"The logits cover other tasks: {sorted(first)} against {sorted(second)}.")
    return max(float((first[name].float() - second[name].float()).abs().max()) for name in first)


def _last_json(text: str, what: str) -> dict:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError(f"{what} printed no JSON line.")
    return json.loads(lines[-1])


def _attempt(function, *arguments) -> dict:
    """`function(*arguments)` timed, as `{"status", "seconds", ...}`: its figures, or why it failed or was skipped."""
    started = time.perf_counter()
    try:
        result = dict(function(*arguments) or {})
        entry = {"status": result.pop("status", "passed"), **result}
    except SectionSkipped as skipped:
        entry = {"status": "skipped", "reason": str(skipped)}
    except Exception as error:  # a failed part is reported and the suite goes on
        traceback.print_exc(file=sys.stderr)
        entry = {"status": "failed", "error": f"{type(error).__name__}: {error}"[-3000:]}
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def _failed_parts(parts: dict[str, dict]) -> list[str]:
    return [name for name, part in parts.items() if isinstance(part, dict) and part.get("status") == "failed"]


class Suite:
    """The sections' shared settings: devices, folders, data, flags, and how the runs are started."""

    def __init__(self, args, glue_dir: Path, conll_dir: Path | None, squad_dir: Path | None):
        self.args, self.quick = args, args.quick
        self.device = inference_device(args)
        self.cuda = self.device.type == "cuda"
        self.out = Path(args.output_dir).resolve()
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.glue_dir, self.conll_dir, self.squad_dir = glue_dir, conll_dir, squad_dir
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.glue_runs: dict[str, tuple[subprocess.Popen | None, Path, list[str]]] = {}
        self.glue_started = 0.0

    # --------------------------------------------------------------------------------------------------- runs
    def start(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        """Starts `command` with its output in `logs/<name>.log`."""
        log = (self.logs / f"{name}.log").open("w")
        try:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env or self.env, cwd=ROOT)
        finally:
            log.close()

    def wait(self, name: str, process: subprocess.Popen) -> str:
        """Waits for `process`; its log, or an error with the log's end when it failed."""
        code = process.wait()
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}; the end of logs/{name}.log:\n{text[-2500:]}")
        return text

    def run(self, name: str, command: list[str], env: dict | None = None) -> str:
        return self.wait(name, self.start(name, command, env))

    def python(self, script: Path | str, *flags: str) -> list[str]:
        return [sys.executable, str(script), *flags]

    def launcher(self) -> Path:
        """The launcher script (see the module docstring), written into the output folder."""
        path = self.out / "launch_run_mtdnn.py"
        path.write_text(LAUNCHER.format(root=str(ROOT), benchmarks=str(ROOT / "benchmarks")))
        return path

    def run_mtdnn(self, name: str, flags: list[str], probe: Path | None = None, fsdp: bool = False) -> dict:
        """`run_mtdnn.py` with `flags` (through the launcher given `probe`, under accelerate's FSDP with `fsdp`)."""
        env = self.env
        if probe is not None:
            env = {**env, "MTDNN_SUITE_PROBE": str(probe)}
            probe.unlink(missing_ok=True)
        script = self.launcher() if probe is not None else ROOT / "training" / "run_mtdnn.py"
        if fsdp:
            command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_CONFIG)]
            command += ["--num_processes", "1", str(script), *flags]
        else:
            command = self.python(script, *flags)
        self.run(name, command, env)
        output = Path(flags[flags.index("--output_dir") + 1])
        return json.loads((output / "all_results.json").read_text())

    def common_flags(self, output: Path) -> list[str]:
        return [
            "--model_name_or_path", self.args.model, "--max_seq_length", "128", "--learning_rate", "1e-4",
            "--per_device_train_batch_size", "8" if self.quick else "16", "--per_device_eval_batch_size", "32",
            "--do_train", "--do_eval", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
            "--logging_steps", "5", "--seed", "42", "--output_dir", str(output), "--overwrite_output_dir",
            *cli_device_flags(self.args),
        ]  # fmt: skip

    def data_folder(self) -> Path:
        """A folder holding the local copies side by side (`glue/`, `conll2003/`, `squad/`), as one `--data_dir`."""
        folder = self.out / "data"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, source in (("glue", self.glue_dir), ("conll2003", self.conll_dir), ("squad", self.squad_dir)):
            if source is not None:
                (folder / name).symlink_to(source.resolve(), target_is_directory=True)
        return folder

    def reloaded(self, folder: Path):
        from transformers import AutoTokenizer

        from modeling_mtdnn import MTDNNForMultiTask

        return MTDNNForMultiTask.from_pretrained(folder).to(self.device).eval(), AutoTokenizer.from_pretrained(folder)

    def compare_with_trained(self, folder: Path, probe: Path, bf16_tolerance: float) -> tuple[dict, Any, Any]:
        """
        The checkpoint in `folder` reloaded: its logits against those the launcher recorded at the save (figures, and
        the reloaded model and tokenizer).
        """
        recorded = torch.load(probe, weights_only=True)
        model, tokenizer = self.reloaded(folder)
        tasks = list(model.config.tasks)
        logits = probe_logits(model, tokenizer, self.device, self.args.bf16, tasks)
        difference = _largest_difference(recorded["logits"], logits)
        tolerance = bf16_tolerance if self.args.bf16 else 1e-4
        if difference > tolerance:
            raise AssertionError(
                f"The checkpoint in {folder} reloaded gives other logits than the model that was saved: largest "
                f"difference {difference:.3g} > {tolerance:g}."
            )
        figures = {"reload_max_abs_diff": difference, "reload_tolerance": tolerance}
        figures |= {key: recorded[key] for key in ("wrapper", "fsdp", "use_orig_params", "steps_per_task")}
        return figures, model, tokenizer

    # ---------------------------------------------------------------------------------------------- sections
    def tasks(self) -> dict:
        """Section `tasks`: every task type through the CLI, reload, one pass, pipeline, LoRA, SMART, task affinity."""
        present = {"conll2003": self.conll_dir, "squad": self.squad_dir}
        tasks = [name for name in TASK_TYPES if present.get(name, self.glue_dir) is not None]
        data, out = self.data_folder(), self.out / "tasks"
        steps, rows = ("4", "16") if self.quick else ("30", "128")
        caps = ["--max_steps", steps, "--max_train_samples", rows, "--max_eval_samples", rows, "--data_dir", str(data)]
        parts: dict[str, Any] = {
            "task_types": {name: TASK_TYPES[name] for name in tasks},
            "missing": {name: f"no local copy ({MISSING_FLAGS[name]})" for name in TASK_TYPES if name not in tasks},
        }
        state: dict[str, Any] = {}

        def train_all_types() -> dict:
            flags = [*self.common_flags(out / "all"), "--tasks", ",".join(tasks), "--task_files", str(QNLI_TASK_FILE)]
            metrics = self.run_mtdnn("tasks-all", [*flags, *caps], probe=out / "all.probe.pt")
            figures, model, tokenizer = self.compare_with_trained(out / "all", out / "all.probe.pt", 1e-2)
            state["model"], state["tokenizer"] = model, tokenizer
            return {"scores": _scores(metrics, tasks), "train_runtime": metrics.get("train_runtime")} | figures

        def one_pass() -> dict:
            if "model" not in state:
                raise SectionSkipped("the training run failed")
            model, tokenizer = state["model"], state["tokenizer"]
            separate = probe_logits(model, tokenizer, self.device, False, list(model.config.tasks))
            with torch.no_grad():
                together = model(**probe_inputs(tokenizer, self.device), task_name=None).task_logits
            difference = _largest_difference(separate, {name: t.float().cpu() for name, t in together.items()})
            if difference > 1e-4:
                raise AssertionError(f"One pass over all heads differs from per-task calls by {difference:.3g}.")
            figures = {"heads": len(together), "max_abs_diff_float32": difference}
            if self.args.bf16:
                with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16):
                    halves = model(**probe_inputs(tokenizer, self.device), task_name=None).task_logits
                if not all(torch.isfinite(t).all() for t in halves.values()):
                    raise AssertionError("One pass over all heads under bfloat16 autocast gave non-finite logits.")
                figures["max_abs_diff_bfloat16"] = _largest_difference(
                    separate, {name: t.float().cpu() for name, t in halves.items()}
                )
            return figures

        def pipeline() -> dict:
            if "model" not in state:
                raise SectionSkipped("the training run failed")
            from transformers import pipeline as make_pipeline

            answer = make_pipeline("mtdnn", model=state["model"], tokenizer=state["tokenizer"], device=self.device)
            pair_tasks = [name for name in ("rte", "stsb", "qnli") if name in tasks]
            premise, hypothesis = PROBE_PAIRS[0]
            results = {"pairs": answer({"text": premise, "text_pair": hypothesis}, task_name=pair_tasks)}
            labels = state["model"].config.tasks["rte"]["id2label"].values()
            if results["pairs"]["rte"]["label"] not in labels or not isinstance(
                results["pairs"]["stsb"]["score"], float
            ):
                raise AssertionError(f"Unexpected pipeline result for sentence pairs: {results['pairs']}")
            if "conll2003" in tasks:
                entities = answer(PROBE_PAIRS[3][0], task_name="conll2003")
                if not isinstance(entities, list) or any(
                    set(e) != {"entity_group", "score", "word", "start", "end"} for e in entities
                ):
                    raise AssertionError(f"Unexpected pipeline result for token classification: {entities}")
                results["conll2003_entities"] = len(entities)
            if "squad" in tasks:
                question, context = PROBE_PAIRS[2]
                found = answer({"question": question, "context": context}, task_name="squad")
                if (
                    not isinstance(found.get("answer"), str)
                    or context[found["start"] : found["end"]] != found["answer"]
                ):
                    raise AssertionError(f"Unexpected pipeline result for span extraction: {found}")
                results["squad_answer"] = found["answer"]
            return {"results": results}

        def lora() -> dict:
            flags = [*self.common_flags(out / "lora"), "--tasks", "rte,stsb", "--lora_r", "8", *caps]
            metrics = self.run_mtdnn("tasks-lora", flags, probe=out / "lora.probe.pt")
            figures, _, _ = self.compare_with_trained(out / "lora", out / "lora.probe.pt", 1e-2)
            folders = sorted(path.name for path in (out / "lora" / "adapters").iterdir())
            if folders != ["rte", "stsb"]:
                raise AssertionError(
                    f"Expected adapter folders rte and stsb in {out / 'lora' / 'adapters'}, found {folders}."
                )
            return {"scores": _scores(metrics, ["rte", "stsb"]), "adapter_folders": folders, **figures}

        def smart() -> dict:
            flags = [*self.common_flags(out / "smart"), "--tasks", "rte,stsb", "--adv_train", *caps]
            metrics = self.run_mtdnn("tasks-smart", flags)
            return {
                "scores": _scores(metrics, ["rte", "stsb"]),
                "train_samples_per_second": metrics.get("train_samples_per_second"),
            }

        def affinity() -> dict:
            every, probe = ("2", "4") if self.quick else ("5", "16")
            figures = {}
            for method in ("cosine", "lookahead"):
                folder = out / f"affinity-{method}"
                flags = [*self.common_flags(folder), "--tasks", "rte,stsb,qnli", "--task_files", str(QNLI_TASK_FILE),
                         "--task_affinity_steps", every, "--task_affinity_probe_size", probe,
                         "--task_affinity_method", method, *caps]  # fmt: skip
                metrics = self.run_mtdnn(f"tasks-affinity-{method}", flags)
                summary = json.loads((folder / "task_affinity.json").read_text())
                matrix = torch.tensor(summary["matrix"])
                if summary["measurements"] != int(steps) // int(every) or not torch.isfinite(matrix).all():
                    raise AssertionError(
                        f"--task_affinity_method {method}: expected {int(steps) // int(every)} finite measurements, "
                        f"got {summary['measurements']} with the matrix {summary['matrix']}."
                    )
                if method == "cosine" and (matrix.diagonal() - 1).abs().max() > 1e-3:
                    raise AssertionError(f"The cosine affinity's diagonal is not 1: {matrix.diagonal().tolist()}.")
                figures[method] = {
                    "matrix": summary["matrix"],
                    "seconds_per_measurement": summary["seconds_per_measurement"],
                    "train_runtime": metrics.get("train_runtime"),
                }
            return figures

        for name, part in (
            ("all_types", train_all_types),
            ("one_pass", one_pass),
            ("pipeline", pipeline),
            ("lora", lora),
            ("smart", smart),
            ("affinity", affinity),
        ):
            parts[name] = _attempt(part)
            print(f"  tasks/{name}: {parts[name]['status']} ({parts[name]['seconds']} s)", flush=True)
        state.clear()
        _free_device_memory()
        return parts | ({"status": "failed", "failed": _failed_parts(parts)} if _failed_parts(parts) else {})

    def throughput(self) -> dict:
        """Section `throughput`: bench_train.py's arms for a BERT-base-sized encoder and --model."""
        encoders = {"bert_base_random": self.bert_base_folder(), "model": Path(self.args.model)}
        batch, steps, rounds = (8, 3, 1) if self.quick else (32, 30, 1)  # one timed round: a GPU step varies little
        parts: dict[str, Any] = {}
        for label, folder in encoders.items():
            parts[f"{label}_batch{batch}"] = _attempt(self.bench_train, label, folder, batch, steps, rounds)
            if not self.cuda:
                parts[f"{label}_largest_batch"] = {
                    "status": "skipped",
                    "reason": f"--device {self.args.device}: the largest batch is found by running out of CUDA memory",
                }
                continue
            largest = _attempt(self.largest_batch, folder)
            parts[f"{label}_largest_batch"] = largest
            if largest["status"] == "passed" and largest["batch_size"] != batch:
                size = largest["batch_size"]
                parts[f"{label}_batch{size}"] = _attempt(self.bench_train, label, folder, size, 10, rounds)
        # Toward the chip's limit: what torch.compile, a fused optimizer and length grouping give at batch `batch`.
        for variant, extra in VARIANTS.items():
            for label, folder in encoders.items():
                if not self.cuda:
                    parts[f"{label}_{variant}"] = {
                        "status": "skipped",
                        "reason": VARIANT_SKIP.format(self.args.device),
                    }
                    continue
                parts[f"{label}_{variant}"] = _attempt(self.bench_train, label, folder, batch, steps, rounds, extra)
        for name, part in parts.items():
            print(f"  throughput/{name}: {part['status']} ({part['seconds'] if 'seconds' in part else '-'} s)")
        return parts | ({"status": "failed", "failed": _failed_parts(parts)} if _failed_parts(parts) else {})

    def bert_base_folder(self) -> Path:
        """A BERT-base-sized encoder (`BertConfig()`) with random weights and --model's tokenizer, made once."""
        from transformers import AutoTokenizer, BertConfig, BertModel

        folder = self.out / "bert_base_random"
        if (folder / "model.safetensors").is_file() and (folder / "tokenizer_config.json").is_file():
            return folder
        tokenizer = AutoTokenizer.from_pretrained(self.args.model)
        config = BertConfig()
        if len(tokenizer) > config.vocab_size:
            raise ValueError(
                f"--model {self.args.model}: its tokenizer has {len(tokenizer)} tokens, more than BertConfig()'s "
                f"{config.vocab_size}; pass a BERT-vocabulary encoder (the packaged MiniLM is one)."
            )
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return folder

    def bench_train(
        self, label: str, folder: Path, batch: int, steps: int, rounds: int, extra: tuple[str, ...] = ()
    ) -> dict:
        flags = [
            "--model",
            str(folder),
            "--data_dir",
            str(self.glue_dir),
            "--arms",
            "steps",
            "--device",
            self.args.device,
        ]
        flags += ["--batch_size", str(batch), "--steps", str(steps), "--rounds", str(rounds)]
        flags += ["--bf16"] if self.args.bf16 else []
        flags += list(extra)  # last: a variant's --arms replaces "steps"
        text = self.run(
            f"throughput-{label}-batch{batch}{''.join(extra).replace('-', '_')}",
            self.python(ROOT / "benchmarks" / "bench_train.py", *flags),
        )
        figures = _last_json(text, "bench_train.py")
        keys = (
            "batch_size", "steps_per_run", "rounds", "encoder_parameters", "mtdnn_examples_per_s",
            "stock_examples_per_s", "ratio", "mtdnn_tokens_per_s", "stock_tokens_per_s", "mtdnn_model_tflops_per_s",
            "stock_model_tflops_per_s", "mtdnn_padded_to_128_examples_per_s", "dynamic_padding_gain",
            "peak_device_memory_mib", "optim", "torch_compile", "group_by_length_gain", "group_by_length_ratio",
        )  # fmt: skip
        return {key: figures[key] for key in keys if key in figures}

    def largest_batch(self, folder: Path, seq_len: int = 128) -> dict:
        """The largest batch (32 doubled) whose training step (AdamW, 128 tokens) fits in the GPU's memory."""
        from modeling_mtdnn import MTDNNForMultiTask

        torch.manual_seed(0)
        task = {"probe": {"task_type": "classification", "num_labels": 2}}
        model = MTDNNForMultiTask.from_encoder(str(folder), tasks=task).to(self.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        fits, batch, stopped = None, 32, "the cap"
        while batch <= LARGEST_BATCH_CAP:
            out_of_memory = False
            try:
                ids = torch.randint(1000, 2000, (batch, seq_len), device=self.device)
                labels = torch.zeros(batch, dtype=torch.long, device=self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.bf16):
                    loss = model(
                        input_ids=ids, attention_mask=torch.ones_like(ids), task_name="probe", labels=labels
                    ).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                torch.cuda.synchronize(self.device)
            except torch.cuda.OutOfMemoryError:
                out_of_memory = True
            ids = labels = loss = None
            optimizer.zero_grad(set_to_none=True)
            _free_device_memory()
            if out_of_memory:
                stopped = f"out of memory at {batch}"
                break
            fits, batch = batch, batch * 2
        del model, optimizer
        _free_device_memory()
        if fits is None:
            raise RuntimeError(f"Not even a batch of 32 x {seq_len} tokens fits on {torch.cuda.get_device_name(0)}.")
        return {"batch_size": fits, "stopped_at": stopped, "cap": LARGEST_BATCH_CAP, "seq_len": seq_len}

    def inference(self) -> dict:
        """Section `inference`: bench_inference.py on the device."""
        flags = ["--model", self.args.model, "--device", self.args.device] + (["--bf16"] if self.args.bf16 else [])
        # --quick: the built-in sentences only (the STS-B pairs need the data)
        flags += ["--quick", "--data_dir", ""] if self.quick else ["--data_dir", str(self.glue_dir)]
        text = self.run("inference", self.python(ROOT / "benchmarks" / "bench_inference.py", *flags))
        figures = _last_json(text, "bench_inference.py")
        return {key: value for key, value in figures.items() if not isinstance(value, dict)}

    def start_glue(self) -> None:
        """Section `glue`, first half: on a GPU the six runs start now, side by side; on a CPU nothing yet."""
        self.glue_started = time.perf_counter()
        rows = "24" if self.quick else str(self.args.glue_max_train_samples or 10**9)  # 10**9: every row
        common = [str(DEMO_CONFIG), "--model_name_or_path", self.args.model, "--data_dir", str(self.glue_dir)]
        common += ["--num_train_epochs", "1", "--max_train_samples", rows, *cli_device_flags(self.args)]
        if self.quick:
            common += ["--max_eval_samples", "24", "--per_device_train_batch_size", "8", "--logging_steps", "5"]
        env = {**self.env, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // 8))} if self.cuda else self.env
        for arm in ["mtdnn", *GLUE_TASKS]:
            output = self.out / "glue" / arm
            flags = [*common, "--output_dir", str(output)] + ([] if arm == "mtdnn" else ["--tasks", arm])
            command = self.python(ROOT / "training" / "run_mtdnn.py", *flags)
            process = self.start(f"glue-{arm}", command, env) if self.cuda else None
            self.glue_runs[arm] = (process, output, command)

    def finish_glue(self) -> dict:
        """Section `glue`, second half: waits for (or, on a CPU, runs) the six runs and compares the scores."""
        parts: dict[str, Any] = {"rows_per_task": "24" if self.quick else self.args.glue_max_train_samples or "all"}
        parts["side_by_side"] = self.cuda
        results: dict[str, dict] = {}
        for arm, (process, output, command) in self.glue_runs.items():
            try:
                if process is not None:  # started side by side on the GPU
                    self.wait(f"glue-{arm}", process)
                else:
                    self.run(f"glue-{arm}", command)
                results[arm] = json.loads((output / "all_results.json").read_text())
                (self.out / "glue" / f"{arm}.json").write_text(json.dumps(results[arm], indent=2))
            except Exception as error:
                parts[f"{arm}_error"] = f"{type(error).__name__}: {error}"[-3000:]
            shutil.rmtree(output, ignore_errors=True)  # a checkpoint per run: the results are kept beside
        parts["seconds_side_by_side" if self.cuda else "seconds_one_after_another"] = round(
            time.perf_counter() - self.glue_started, 1
        )
        if "mtdnn" in results:
            parts["mtdnn"] = _scores(results["mtdnn"], GLUE_SCORED)
            parts["mtdnn_train_runtime"] = results["mtdnn"].get("train_runtime")
        single = {}
        for task in GLUE_TASKS:  # MNLI's run scores MNLI-m and MNLI-mm
            if task in results:
                single |= _scores(results[task], [key for key in GLUE_SCORED if key.startswith(task)])
        parts["single"] = single
        parts["single_train_runtime_sum"] = round(
            sum(results[t].get("train_runtime", 0) for t in GLUE_TASKS if t in results), 1
        )
        if "mtdnn" in results:
            parts["difference"] = {key: round(parts["mtdnn"][key] - single[key], 4) for key in single}
        missing = [arm for arm in self.glue_runs if arm not in results]
        return parts | ({"status": "failed", "failed": missing} if missing else {})

    def fsdp(self) -> dict:
        """Section `fsdp`: five heads under FSDP through accelerate, saved, reloaded without FSDP and compared."""
        if not self.cuda:
            raise SectionSkipped(
                f"--device {self.args.device}: accelerate turns FSDP on only for GPU process groups (on a CPU the "
                "launch trains as plain DDP), so there is no wrapping to check; run the suite with --device cuda"
            )
        out = self.out / "fsdp"
        flags = [*self.common_flags(out / "run"), "--tasks", ",".join(GLUE_TASKS), "--data_dir", str(self.glue_dir)]
        flags += ["--max_steps", "12", "--max_train_samples", "256", "--max_eval_samples", "64"]
        flags += ["--head_learning_rate", "1e-3"]
        metrics = self.run_mtdnn("fsdp", flags, probe=out / "run.probe.pt", fsdp=True)
        figures, model, _ = self.compare_with_trained(out / "run", out / "run.probe.pt", 0.15)
        del model
        _free_device_memory()
        if not figures["fsdp"] or "FullyShardedDataParallel" not in figures["wrapper"]:
            raise AssertionError(
                f"The run was not wrapped by FSDP (is_fsdp_enabled={figures['fsdp']}, wrapper {figures['wrapper']})."
            )
        steps = sum(figures["steps_per_task"].values())
        idle = {task: round(1 - figures["steps_per_task"].get(task, 0) / steps, 3) for task in GLUE_TASKS}
        return {"scores": _scores(metrics, GLUE_SCORED), "idle_share_per_head": idle, **figures}


def _scores(metrics: dict, keys: list[str]) -> dict[str, float]:
    """Each key's task score (`mnli` and `mnli_mm` apart) in a run's metrics."""
    from reproduce_paper import _metrics_of

    from mtdnn.training.metrics import task_score

    return {key: round(task_score(_metrics_of(metrics, key, keys)), 4) for key in keys}


def _free_device_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _versions() -> dict[str, str]:
    import accelerate
    import transformers

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions |= {"transformers": transformers.__version__, "accelerate": accelerate.__version__}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        versions["commit"] = commit.stdout.strip() or "unknown"
    except OSError:
        versions["commit"] = "unknown"
    return versions


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(
        __doc__, "Tiny caps and a handful of steps (about 5 minutes on 2 CPU cores).", "Local GLUE copy."
    )
    parser.add_argument(
        "--conll_dir", default=None, help="Local CoNLL-2003 copy (default: 'conll2003' beside --data_dir)."
    )
    parser.add_argument("--squad_dir", default=None, help="Local SQuAD copy (default: 'squad' beside --data_dir).")
    parser.add_argument("--output_dir", default="outputs/gpu_suite", help="Runs, logs and results go here.")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"Comma-separated subset of {', '.join(SECTIONS)}."
    )
    parser.add_argument(
        "--glue_max_train_samples",
        type=int,
        default=20000,
        help="Section glue: training rows per task (default 20,000: all local rows but SST-2's 50,000; 0: every row).",
    )
    args = parse_benchmark_args(parser, argv)
    sections = parse_subset(parser, "--sections", args.sections, SECTIONS)
    if args.data_dir is None or not (Path(args.data_dir) / "README.md").is_file():
        parser.error(f"--data_dir {args.data_dir}: must name the local GLUE copy (or set MTDNN_DATA_DIR).")
    if args.glue_max_train_samples < 0:
        parser.error(f"--glue_max_train_samples {args.glue_max_train_samples}: must be >= 0 (0: every row).")
    glue_dir = Path(args.data_dir).resolve()
    copies = {}
    for flag, name in (("conll_dir", "conll2003"), ("squad_dir", "squad")):
        given = getattr(args, flag)
        folder = Path(given) if given is not None else glue_dir.parent / name
        if given is not None and not (folder / "README.md").is_file():
            parser.error(f"--{flag} {given}: no local {name} copy there (its README.md is missing).")
        copies[name] = folder.resolve() if (folder / "README.md").is_file() else None
    suite = Suite(args, glue_dir, copies["conll2003"], copies["squad"])
    report: dict[str, Any] = {"suite": "gpu_suite", **device_figures(args), "quick": args.quick}
    report |= {"encoder": Path(args.model).name, "output_dir": str(suite.out), "versions": _versions()}
    print(f"gpu_suite on {report['device']} ({report['dtype']}): {', '.join(sections)}", flush=True)
    started = time.perf_counter()
    results: dict[str, dict] = {}
    # The score comparison (glue) needs no quiet GPU: on a GPU it runs beside the checks (tasks, fsdp); the timings
    # (throughput, inference) run after it, alone.
    if "glue" in sections:
        glue_start = _attempt(suite.start_glue)
    for name in ("tasks", "fsdp"):
        if name in sections:
            print(f"section {name}: {SECTIONS[name]}", flush=True)
            results[name] = _attempt(getattr(suite, name))
    if "glue" in sections:
        print(f"section glue: {SECTIONS['glue']}", flush=True)
        results["glue"] = glue_start if glue_start["status"] != "passed" else _attempt(suite.finish_glue)
        if glue_start["status"] == "passed":
            results["glue"]["seconds"] = round(time.perf_counter() - suite.glue_started, 1)
    for name in ("throughput", "inference"):
        if name in sections:
            print(f"section {name}: {SECTIONS[name]}", flush=True)
            results[name] = _attempt(getattr(suite, name))
    report["sections"] = {name: results[name] for name in SECTIONS if name in results}
    for status in ("passed", "failed", "skipped"):
        report[status] = [name for name, entry in report["sections"].items() if entry["status"] == status]
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{'section':<12}{'status':<9}{'seconds':>9}  reason / error")
    for name, entry in report["sections"].items():
        why = entry.get("reason") or entry.get("error") or ", ".join(entry.get("failed", []))
        print(f"{name:<12}{entry['status']:<9}{entry['seconds']:>9}  {why.splitlines()[0][:80] if why else ''}")
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)
