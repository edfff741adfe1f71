"""Helpers the benchmarks share: timing, resident memory, recording rows."""
import pathlib
import time


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
