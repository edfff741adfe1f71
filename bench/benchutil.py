"""Helpers the benchmarks share: timing, resident memory, recording rows."""
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


# Seconds to wait before timing an engine: the thread pools of the engine
# timed before it keep spinning for a while after their last task (OpenMP's
# wait policy, onnxruntime's spinning), sharing the cores with the next one
# (the 1.4 ms MiniLM student measured 1.7 ms right after PyTorch's calls).
SETTLE_SECONDS = 0.5
# The pause before each call of a --paired benchmark (the engines in one
# process, a call of each in turn): long enough for libgomp's threads to
# stop spinning (up to 300,000 pauses after a parallel region, 16 ms at 140
# cycles a pause), short enough to take many turns.
PAIRED_SETTLE_SECONDS = 0.05
# The same pause where one engine is numpy: OpenBLAS's threads spin up to
# 2^28 cycles (0.1 s) after a call.
PAIRED_SETTLE_OPENBLAS_SECONDS = 0.15


def paired_seconds(fns, turns, settle=PAIRED_SETTLE_SECONDS, calls=None, warm_up=False):
    """The callables of `fns` ({name: fn}) in turn, `turns` times, each
    burst of `calls[name]` calls (default 1) after a pause of `settle`
    seconds in which the last one's threads stop spinning (and, with
    `warm_up`, one untimed call): {name: [seconds per call, one per turn]}.
    On a machine whose speed swings over seconds, ratios of these per turn
    compare like with like."""
    calls = calls or {}
    seconds = {name: [] for name in fns}
    for _ in range(turns):
        for name, fn in fns.items():
            time.sleep(settle)
            if warm_up:
                fn()
            count = calls.get(name, 1)
            start = time.perf_counter()
            for _ in range(count):
                fn()
            seconds[name].append((time.perf_counter() - start) / count)
    return seconds


def median_ms(fn, runs, min_seconds=0.0):
    """Median wall time of `runs` calls of `fn` (after a pause, SETTLE_SECONDS,
    and one warm-up call), ms; more calls when `runs` would take less than
    `min_seconds` (short calls on a shared machine need many samples for a
    stable median)."""
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > 0:
        runs = max(runs, min(10000, int(min_seconds / first)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2] if runs % 2 else sum(times[runs // 2 - 1:runs // 2 + 1]) / 2


def status_kib(field):
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def record_rows(path, marker, rows):
    """Appends `rows` (Markdown table lines) to the table after `marker`."""
    lines = pathlib.Path(path).read_text().split("\n")
    at = lines.index(marker) + 1
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines[at:at] = [row.rstrip("\n") for row in rows]
    pathlib.Path(path).write_text("\n".join(lines))


def median_ms_and_peak_rise(fn, runs):
    """(median ms of `runs` calls of fn, after one warm-up call; the rise of
    this process's peak resident memory during them, MiB)."""
    fn()
    before = status_kib("VmRSS")
    reset_peak()
    ms = median_ms(fn, runs)
    return ms, (status_kib("VmHWM") - before) / 1024


def tree_rss(root):
    """Summed resident bytes of `root` and its descendants."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
                parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, [])
        try:
            total += int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            pass
    return total * os.sysconf("SC_PAGE_SIZE")


def reset_peak():
    """Resets this process's peak resident memory (VmHWM) to its current size."""
    pathlib.Path("/proc/self/clear_refs").write_text("5")


def measure_compile(graph, exe, *options):
    """Wall seconds and peak bytes of `ube-compile graph -o exe`: the larger
    of the summed resident memory of ube-compile and every process it starts
    (sampled every 10 ms) and the high-water mark of the largest of them.
    Started from a fresh, small process (this file run as a script): a
    child's high-water mark includes the memory of the process it was forked
    from, which a benchmark holding models would add."""
    out = subprocess.run([sys.executable, __file__, str(ROOT / "build" / "bin" / "ube-compile"),
                          str(graph), "-o", str(exe), *options],
                         check=True, capture_output=True, text=True).stdout
    seconds, peak = json.loads(out.strip().splitlines()[-1])
    return seconds, peak


def _measure_here(command):
    """measure_compile's fresh process: runs `command`, prints [seconds, peak bytes]."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command)} failed ({os.waitstatus_to_exitcode(status)})")
    print(json.dumps([seconds, max(peak, usage.ru_maxrss * 1024)]))


if __name__ == "__main__":
    _measure_here(sys.argv[1:])


def cpu_description():
    """This CPU's name and its f32 FMA FLOPs per cycle per core, from
    /proc/cpuinfo: FMA pipes × their width × 2, by microarchitecture."""
    info = {}
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    vendor, family = info.get("vendor_id", ""), int(info.get("cpu family", "0"))
    model = int(info.get("model", "0"))
    if vendor == "AuthenticAMD" and family == 0x1A:
        pipes, flops = "2 FMA pipes x 512 bits (Zen 5)", 64
    elif vendor == "AuthenticAMD" and family == 0x19:
        # Zen 3 and Zen 4 alike: AVX-512 runs on the two 256-bit pipes.
        pipes, flops = "2 FMA pipes x 256 bits (Zen 3/4)", 32
    elif vendor == "AuthenticAMD" and family == 0x17:
        zen2 = model >= 0x30
        pipes, flops = (("2 FMA pipes x 256 bits (Zen 2)", 32) if zen2
                        else ("2 FMA pipes x 128 bits (Zen 1)", 16))
    elif "avx512f" in flags:
        pipes, flops = "2 FMA units x 512 bits (Xeon; parts with one unit: half)", 64
    elif "fma" in flags:
        pipes, flops = "2 FMA units x 256 bits", 32
    else:
        pipes, flops = "no FMA: 1 multiply + 1 add x 128 bits", 8
    return {"name": info.get("model name", "unknown CPU"), "pipes": pipes,
            "flops_per_cycle": flops, "nominal_ghz": float(info.get("cpu MHz", "0")) / 1e3}


_ROOFLINE_BINARY = None


def roofline(threads):
    """Measured peak f32 FMA GFLOP/s, clock (GHz) and copy GB/s at
    `threads` (bench/roofline.c, built with clang -O2 -march=native)."""
    global _ROOFLINE_BINARY
    import shutil
    import tempfile
    if _ROOFLINE_BINARY is None:
        clang = shutil.which("clang-22") or shutil.which("clang")
        if not clang:
            raise RuntimeError("bench/roofline.c needs clang (scripts/setup.sh installs clang-22)")
        out = pathlib.Path(tempfile.mkdtemp(prefix="ube-roofline-")) / "roofline"
        subprocess.run([clang, "-O2", "-march=native", "-pthread",
                        str(ROOT / "bench" / "roofline.c"), "-o", str(out)], check=True)
        _ROOFLINE_BINARY = str(out)

    def measure(*args):
        return float(subprocess.run([_ROOFLINE_BINARY, *map(str, args)], check=True,
                                    capture_output=True, text=True).stdout)
    # Best of three: the peak is what the machine can do, not its noise.
    return {"fma_gflops": max(measure("fma", threads, 1.0) for _ in range(3)),
            "clock_ghz": measure("clock", threads, 0.5),
            "copy_gbs": max(measure("copy", threads, 512) for _ in range(2))}
