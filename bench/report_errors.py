#!/usr/bin/env python3
"""Worst relative error per op of the end-to-end tests against PyTorch.

    .venv/bin/python bench/report_errors.py            # runs test/python/e2e and prints a table

Each test measures max|out - ref| / max|ref| against a float64 reference;
this groups the measurements by the test (the op) and prints the worst."""
import collections
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
OP_PARAMS = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "erf", "sigmoid", "relu",
             "add", "sub", "mul", "div", "maximum", "minimum", "reduce_sum", "reduce_mean",
             "reduce_max", "none"}


def main():
    with tempfile.NamedTemporaryFile("r", suffix=".tsv") as report:
        env = dict(os.environ, UBE_ERROR_REPORT=report.name)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "test/python/e2e")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        worst = collections.defaultdict(float)
        for line in report:
            test, error = line.rstrip("\n").split("\t")
            name = test.split("::")[-1].removeprefix("test_")
            # Group by test, keeping the op of op-parametrized tests.
            base, _, params = name.partition("[")
            ops = [p for p in params.rstrip("]").split("-") if p in OP_PARAMS]
            name = f"{base}[{ops[0]}]" if ops else base
            worst[name] = max(worst[name], float(error))
    print(f"{'test (op)':40}{'worst rel. error':>18}")
    for name in sorted(worst):
        print(f"{name:40}{worst[name]:18.2e}")


if __name__ == "__main__":
    main()
