#!/usr/bin/env python3
"""Where a cpu executable's time goes, kernel by kernel: samples `ube-run
--benchmark` with `perf` and attributes them to the functions of the
executable's host code.

    .venv/bin/python bench/profile_kernels.py EXE.ube [--threads 2] [--benchmark 200]
                                              [--section host.so] [--top 25]
                                              [-- UBE-RUN ARGS...]

Arguments after `--` go to ube-run (`--input=NAME=FILE.npy`, `--dims=...`,
`--function=...`); inputs not given are random, as ube-run makes them. The
table lists each function of the host code with its share of the samples in
that code and its time per call of the entry point (its share of all
samples times ube-run's median), the time outside it (the runtime's thread pool waiting, the
kernel) on one line. Kernels are named as the compiler outlines them
(`__ube_ENTRY_kernelN_task0` is the body of parallel loop N's tasks); the
FMA and exp columns count vector FMAs and `vscalef` instructions in each,
to tell matmul, attention and row kernels apart.

The code is loaded from an anonymous memory file, which perf does not
symbolize: its samples come as offsets in that file, which this script maps
through the section's ELF program headers to the addresses its symbol table
names. perf must be installed and allowed to sample (perf_event_paranoid
at most 2); the cpu-clock event needs no hardware counters.
"""
import argparse
import bisect
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
MEMFD = "memfd:ube-host"


def section_bytes(executable, wanted):
    """The bytes of section `wanted` (or the first host.so* section)."""
    data = executable.read_bytes()
    # The container (docs/runtime-abi.md): magic, version, flags, checksum,
    # manifest size, the manifest, then the sections.
    if len(data) < 32 or data[:8] != b"UBEEXEC\0":
        sys.exit(f"{executable}: not a ube executable")
    size, = struct.unpack_from("<Q", data, 24)
    try:
        manifest = json.loads(data[32:32 + size])
    except ValueError as error:
        sys.exit(f"{executable}: unreadable manifest ({error})")
    sections = manifest["sections"]
    names = [s["name"] for s in sections]
    chosen = next((s for s in sections if s["name"] == wanted), None) if wanted else next(
        (s for s in sections if s["name"].startswith("host.so")), None)
    if chosen is None:
        sys.exit(f"{executable}: no section {wanted or 'host.so'} (it has {', '.join(names)})")
    begin = 32 + size + chosen["offset"]
    return data[begin:begin + chosen["size"]]


def loads(elf):
    """(file offset, virtual address, size) of each PT_LOAD segment."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    segments = []
    for i in range(phnum):
        kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if kind == 1:
            segments.append((offset, vaddr, filesz))
    return segments


def functions(path):
    """Sorted (address, size, name) of the code's functions, and each one's
    counts of FMA and vscalef instructions."""
    listing = subprocess.run(["nm", "-S", "-n", "--defined-only", path], check=True,
                             capture_output=True, text=True).stdout
    symbols = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            symbols.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    counts = {}
    if shutil.which("objdump"):
        current = None
        for line in subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], check=True,
                                   capture_output=True, text=True).stdout.splitlines():
            header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
            if header:
                current = counts.setdefault(header.group(1), [0, 0])
            elif current is not None:
                current[0] += "vfmadd" in line or "vfnmadd" in line
                current[1] += "vscalef" in line
    return symbols, counts


def main():
    argv = sys.argv[1:]
    passed = []
    if "--" in argv:
        at = argv.index("--")
        argv, passed = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executable", type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--benchmark", type=int, default=200, help="calls ube-run times")
    parser.add_argument("--section", help="the host code's section (a multi-ISA build's)")
    parser.add_argument("--top", type=int, default=25, help="rows of the table")
    parser.add_argument("--ube-run", default=str(ROOT / "build" / "bin" / "ube-run"))
    args = parser.parse_args(argv)
    if not shutil.which("perf"):
        sys.exit("perf is not installed (Debian: apt-get install linux-perf)")
    elf = section_bytes(args.executable, args.section)
    with tempfile.TemporaryDirectory() as tmp:
        code = pathlib.Path(tmp) / "host.so"
        code.write_bytes(elf)
        symbols, counts = functions(code)
        addresses = [s[0] for s in symbols]
        segments = loads(elf)
        data = pathlib.Path(tmp) / "perf.data"
        env = dict(os.environ, UBE_NUM_THREADS=str(args.threads))
        run = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", str(data), "--",
                              args.ube_run, str(args.executable),
                              f"--benchmark={args.benchmark}"] + passed,
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"perf record / ube-run failed:\n{run.stderr.strip()}")
        median = re.search(r"median ([0-9.]+) ms", run.stdout + run.stderr)
        report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-n",
                                 "--sort", "dso,sym", "--percent-limit", "0"],
                                capture_output=True, text=True).stdout
    per_function, inside, outside = {}, 0, 0
    for line in report.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith("%"):
            continue
        samples = int(fields[1])
        if MEMFD not in line:
            outside += samples
            continue
        inside += samples
        offset = int(fields[-1], 16) if fields[-1].startswith("0x") else None
        name = "(unnamed)"
        if offset is not None:
            # A file offset: its segment gives the address the symbols use.
            for begin, vaddr, size in segments:
                if begin <= offset < begin + size:
                    address = offset - begin + vaddr
                    i = bisect.bisect_right(addresses, address) - 1
                    if i >= 0 and address < symbols[i][0] + max(symbols[i][1], 1):
                        name = symbols[i][2]
                    break
        per_function[name] = per_function.get(name, 0) + samples
    if not inside:
        sys.exit("perf recorded no samples in the executable's code")
    ms = float(median.group(1)) if median else None
    total = inside + outside
    print(f"{args.executable}: {args.threads} thread(s), median {ms} ms per call; "
          f"{inside} samples in its code, {outside} outside it")
    print(f"{'share':>7} {'ms/call':>8}  {'function':48} {'FMA':>5} {'exp':>4}")
    for name, samples in sorted(per_function.items(), key=lambda kv: -kv[1])[:args.top]:
        share = samples / inside
        # Samples are thread time, the threads busy (or spinning) through
        # the calls: a function's share of all samples is its share of the
        # wall time of a call, as if it ran on every thread.
        per_call = f"{samples / total * ms:8.2f}" if ms else f"{'':>8}"
        fma, exp = counts.get(name, (0, 0))
        print(f"{share * 100:6.1f}% {per_call}  {name:48} {fma:5d} {exp:4d}")
    print(f"outside the code: {outside / total * 100:.1f}% of all samples "
          "(the thread pool's waits, the runtime, the kernel)")


if __name__ == "__main__":
    main()
