"""Runs ube-opt with the text pipeline that --dump-pass-pipeline printed.

    run_dumped_pipeline.py UBE_OPT DUMP INPUT OUTPUT

DUMP holds "Pass Manager with N passes:" and the pipeline's text form."""
import os
import subprocess
import sys

ube_opt, dump, source, output = sys.argv[1:5]
lines = open(dump).read().splitlines()
start = next(i for i, line in enumerate(lines) if line.startswith("Pass Manager with"))
text = "".join(line.strip() for line in lines[start + 1:])
# Under the sanitizer build lit preloads the ASan runtime into python; the
# instrumented ube-opt brings its own.
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
subprocess.run([ube_opt, source, f"--pass-pipeline={text}", "-o", output], check=True, env=env)
