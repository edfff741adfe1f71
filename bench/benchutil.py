"""Helpers the benchmarks share: timing, resident memory, recording rows."""
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def median_ms(fn, runs):
    """Median wall time of `runs` calls of `fn` (after one warm-up call), ms."""
    fn()
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
