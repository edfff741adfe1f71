"""Compile cost stays bounded by the weights: a regression test for the
blow-up of issue #23 (the assembler reading the constants' file once per
weight, in full, when its size was a multiple of the page size: a 1-layer,
1024-wide encoder took 1.39 GB and 3 s; 0.36 GB and 2.3 s since). The
large models are bench/ material; this is the smallest shape that showed it."""
import json
import subprocess
import sys

import torch

from models import Bert


def test_one_wide_layer_compiles_within_its_weights(ube_module, tools_dir, tmp_path):
    torch.manual_seed(0)
    # Vocabulary 1000 x 1024 floats: every weight, and so the constants'
    # file, a whole number of 4 KiB pages.
    model = Bert(vocab=1000, tokens=128, hidden=1024, heads=16, layers=1, classes=None,
                 ffn=4096).eval()
    weight_bytes = 4 * sum(p.numel() for p in model.parameters())
    ids, mask = torch.randint(0, 1000, (1, 128)), torch.ones(1, 128, dtype=torch.bool)
    ube_module.export(model, (ids, mask), tmp_path / "wide.json")
    # Peak resident memory of the compile and every process it starts (the
    # linker), measured from a fresh parent so nothing else counts.
    measure = ("import json, resource, subprocess, sys\n"
               "subprocess.run(sys.argv[1:], check=True)\n"
               "print(json.dumps(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    exe = tmp_path / "wide.ube"
    peak_kib = json.loads(subprocess.run(
        [sys.executable, "-c", measure, str(tools_dir / "ube-compile"), str(tmp_path / "wide.json"),
         "-o", str(exe)], check=True, capture_output=True, text=True).stdout)
    peak = peak_kib * 1024
    # What the libraries take (about 200 MB) plus the weights a few times
    # (graph, packed panels, the object): 0.36 GB here, 1.39 GB before.
    assert peak < 2 * weight_bytes + 400 * 2**20, (peak, weight_bytes)
    # The code stays small: the executable is the weights and little else.
    assert exe.stat().st_size < weight_bytes + 2 * 2**20, (exe.stat().st_size, weight_bytes)
    # And it runs, matching PyTorch.
    out = ube_module.load(exe)(ids.numpy(), mask.numpy())
    with torch.no_grad():
        expected = model(ids, mask).numpy()
    assert abs(out - expected).max() < 1e-3 * abs(expected).max()
