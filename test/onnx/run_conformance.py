#!/usr/bin/env python3
"""Runs the ONNX backend node tests through ube: import -> compile -> run ->
compare, and prints pass / fail / unsupported counts with a reason per
failure. Tests whose operators or types ube does not cover are
"unsupported"; every covered test must pass unless listed in the
expected-failures file, and a listed test that passes must leave the list
(it may shrink, never grow).

    run_conformance.py [--expected-failures FILE] [-k SUBSTRING] [-v]

The cases come from the installed onnx package's own test-case generators
(onnx.backend.test.case.node), models and data in memory: nothing to
generate or download."""
import argparse
import os
import pathlib
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]


def collect_cases():
    from onnx.backend.test.case import node
    with warnings.catch_warnings():  # the generators' own numpy warnings (1 / 0 and the like)
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return node.collect_testcases()


def close(out, ref, rtol, atol):
    """The test's own tolerance; float16 outputs also within 2 float16 ulps
    of the reference: a test's rtol of 1e-3 is below float16's resolution
    (2^-10 relative), and two correct implementations that round their
    intermediates differently (onnxruntime, ube and the reference evaluator
    do) differ by an ulp or two."""
    if np.allclose(out, ref, rtol=rtol, atol=atol, equal_nan=True):
        return True
    if ref.dtype != np.float16:
        return False
    ulps = 2 * np.spacing(np.abs(ref)).astype(np.float64)
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    return bool(np.all((diff <= ulps) | (np.isnan(out) & np.isnan(ref))))


def plain(value):
    """A test's tensor as numpy: the generators give some as TensorProtos
    and some as numpy scalars. Sequences and optionals stay as they are."""
    from onnx import TensorProto, numpy_helper
    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def run_case(ube, case, tmp):
    from ube.onnx_import import UnsupportedError
    model = case.model
    inputs, outputs = case.data_sets[0]
    inputs, outputs = [plain(a) for a in inputs], [plain(a) for a in outputs]
    if not all(isinstance(a, np.ndarray) for a in inputs + outputs):
        return "unsupported", "test data that is not plain tensors (sequences, optionals)"
    names = [i.name for i in model.graph.input
             if i.name not in {t.name for t in model.graph.initializer}]
    if len(names) != len(inputs):
        return "unsupported", "optional or sequence inputs"
    try:
        graph_path = pathlib.Path(tmp) / f"{case.name}.json"
        ube.import_onnx(model, graph_path)
    except UnsupportedError as e:
        return "unsupported", str(e)
    try:
        exe = ube.compile(graph_path)
        results = exe(*inputs)
    except Exception as e:
        return "fail", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
    results = results if isinstance(results, tuple) else (results,)
    for i, (out, ref) in enumerate(zip(results, outputs)):
        if out.shape != ref.shape or out.dtype != ref.dtype:
            return "fail", f"output {i}: {out.dtype}{list(out.shape)} != {ref.dtype}{list(ref.shape)}"
        if ref.dtype.kind in "fc":
            if not close(out, ref, case.rtol, case.atol):
                err = np.max(np.abs(out.astype(np.float64) - ref))
                return "fail", f"output {i}: max abs error {err:.3g}"
        elif not np.array_equal(out, ref):
            return "fail", f"output {i}: values differ"
    return "pass", ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expected-failures",
                        default=str(ROOT / "test" / "onnx" / "expected-failures.txt"))
    parser.add_argument("--build", default=os.environ.get("UBE_BUILD_DIR", str(ROOT / "build")))
    parser.add_argument("-k", dest="filter", default="")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(args.build) / "python"))
    import ube

    expected = set()
    if os.path.exists(args.expected_failures):
        expected = {l.split("#")[0].strip() for l in open(args.expected_failures)} - {""}
    counts = {"pass": 0, "fail": 0, "unsupported": 0}
    unexpected, fixed = [], []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for case in sorted(collect_cases(), key=lambda c: c.name):
            if args.filter not in case.name:
                continue
            status, reason = run_case(ube, case, tmp)
            counts[status] += 1
            if status == "fail" and case.name not in expected:
                unexpected.append((case.name, reason))
            if status == "pass" and case.name in expected:
                fixed.append(case.name)
            if args.verbose or status == "fail":
                print(f"{status:11} {case.name}" + (f": {reason}" if reason else ""), flush=True)
    print(f"\nONNX node tests: {counts['pass']} passed, {counts['fail']} failed "
          f"({len(expected)} expected), {counts['unsupported']} unsupported, "
          f"in {time.time() - start:.0f} s")
    ok = True
    if unexpected:
        ok = False
        print("Unexpected failures (fix them; the expected-failure list must not grow):")
        for name, reason in unexpected:
            print(f"  {name}: {reason}")
    if fixed:
        ok = False
        print(f"Now passing, remove from {args.expected_failures}: {', '.join(fixed)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
