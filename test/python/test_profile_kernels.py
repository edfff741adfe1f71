"""bench/profile_kernels.py: a compiled product's time lands on its matmul
kernel, named from the executable's symbols; a file that is not an
executable gets a clear error."""
import re
import shutil
import subprocess
import sys

import pytest

GRAPH = """func.func @main(%a: tensor<96x256xf32> {ube.name = "a"},
                   %b: tensor<256x512xf32> {ube.name = "b"})
    -> (tensor<96x512xf32> {ube.name = "c"}) {
  %c = ube.matmul %a, %b : tensor<96x256xf32>, tensor<256x512xf32>
  return %c : tensor<96x512xf32>
}
"""


def profile(source_root, tools_dir, *args):
    return subprocess.run([sys.executable, str(source_root / "bench" / "profile_kernels.py"),
                           *map(str, args), "--ube-run", str(tools_dir / "ube-run")],
                          capture_output=True, text=True)


def test_the_product_kernel_takes_the_time(source_root, tools_dir, tmp_path):
    if not shutil.which("perf"):
        pytest.skip("perf is not installed")
    graph = tmp_path / "mm.mlir"
    graph.write_text(GRAPH)
    exe = tmp_path / "mm.ube"
    subprocess.run([tools_dir / "ube-compile", graph, "-o", exe], check=True)
    run = profile(source_root, tools_dir, exe, "--threads", "1", "--benchmark", "300")
    if run.returncode != 0 and "perf record" in run.stderr:
        pytest.skip(f"perf cannot sample here: {run.stderr.strip()[-200:]}")
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()
            if re.match(r"\s*[0-9.]+% ", line)]
    assert rows, run.stdout
    share, _ms, name, fma, _exp = rows[0]
    # The busiest function is a kernel of main with the micro-tile's FMAs.
    assert re.fullmatch(r"__ube_main_kernel\d+_task0", name), run.stdout
    assert int(fma) >= 24 and float(share.rstrip("%")) > 50, run.stdout
    assert "median" in run.stdout and "outside the code" in run.stdout


def test_not_an_executable(source_root, tools_dir, tmp_path):
    bogus = tmp_path / "bogus.ube"
    bogus.write_bytes(b"not an executable at all, just some bytes" * 4)
    run = profile(source_root, tools_dir, bogus)
    assert run.returncode != 0
    assert f"{bogus}: not a ube executable" in run.stderr
