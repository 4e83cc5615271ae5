"""``python3 -m assay.compare SPEC`` (or ``python3 -I compare.pyz SPEC`` in a job)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from .engine import compare
from .result import verdict as make_verdict

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m assay.compare",
        description="Compare actual outputs with expected ones as a JSON spec says.",
        epilog="Exit status: 0 equal, 1 different, 2 spec error.",
    )
    parser.add_argument("spec", nargs="?", help="the spec file (JSON)")
    parser.add_argument("-o", "--output", help="write the verdict here (default: stdout)")
    parser.add_argument(
        "--bundle",
        metavar="FILE",
        help="write the engine as one file to run anywhere: python3 -I FILE SPEC",
    )
    args = parser.parse_args(argv)
    if args.bundle:
        from .bundle import write_bundle  # lazy: start-up time (zipfile, in every job)

        try:
            write_bundle(args.bundle)
        except OSError as exc:
            print(f"--bundle: cannot write {args.bundle}: {exc}", file=sys.stderr)
            return 2
        return 0
    if not args.spec:
        parser.error("the spec file is required")
    try:
        with open(args.spec, encoding="utf-8") as fh:
            spec = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        verdict = make_verdict([], [], [], [f"spec: cannot read {args.spec}: {exc}"])
    else:
        verdict = compare(spec)
    text = json.dumps(verdict, indent=1, allow_nan=False) + "\n"
    if args.output:
        tmp = f"{args.output}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, args.output)
        except OSError as exc:
            print(f"-o: cannot write the verdict: {exc}", file=sys.stderr)
            return 2
        print(verdict["summary"])
    else:
        sys.stdout.write(text)
        print(verdict["summary"], file=sys.stderr)
    return 2 if verdict["errors"] else 0 if verdict["ok"] else 1
