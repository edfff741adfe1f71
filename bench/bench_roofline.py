#!/usr/bin/env python3
"""What this machine's CPU can do: the ceiling every kernel is measured against.

    .venv/bin/python bench/bench_roofline.py [--threads 1,2] [--record]

For each thread count: the measured f32 FMA throughput (bench/roofline.c:
every thread runs 12 independent accumulators of the widest vectors the
CPU has, AVX-512 or AVX2), the core clock measured under load (a chain of
dependent integer adds, one per cycle), the theoretical peak from the core
count, the FMA pipes of the CPU's microarchitecture and that clock, and
copy bandwidth (memcpy of 512 MiB, bytes read + written). With --record,
rows are appended to docs/performance.md. Other benchmarks state their
figures as fractions of the measured peak through benchutil.roofline().
"""
import argparse
import datetime
import pathlib

from benchutil import cpu_description, record_rows, roofline

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    cpu = cpu_description()
    print(f"{cpu['name']}: {cpu['flops_per_cycle']} f32 FLOP/cycle per core "
          f"({cpu['pipes']}), nominal clock {cpu['nominal_ghz']:.2f} GHz")
    header = (f"{'threads':>8}{'FMA GFLOP/s':>13}{'clock GHz':>11}{'theoretical':>13}"
              f"{'measured/theory':>17}{'copy GB/s':>11}")
    print(header)
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        r = roofline(threads)
        theory = threads * cpu["flops_per_cycle"] * r["clock_ghz"]
        print(f"{threads:>8}{r['fma_gflops']:13.1f}{r['clock_ghz']:11.2f}{theory:13.1f}"
              f"{r['fma_gflops'] / theory:17.2f}{r['copy_gbs']:11.1f}")
        rows.append(f"| {datetime.date.today()} | {cpu['name']} | {threads} | "
                    f"{r['fma_gflops']:.1f} | {r['clock_ghz']:.2f} | {theory:.1f} | "
                    f"{r['fma_gflops'] / theory:.2f} | {r['copy_gbs']:.1f} |")
    if args.record:
        record_rows(ROOT / "docs" / "performance.md",
                    "<!-- rows: bench/bench_roofline.py --record -->", rows)


if __name__ == "__main__":
    main()
