"""Writes the safetensors fixtures the import tests use into a directory.

    make_weights.py OUT_DIR
"""
import json
import pathlib
import struct
import sys


def image(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    w = {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    b = {"dtype": "F32", "shape": [3], "data_offsets": [24, 36]}
    data = f32(1, 2, 3, 4, 5, 6) + f32(0.5, -0.5, 0.25)
    (out / "weights.safetensors").write_bytes(image({"w": w, "b": b}, data))
    (out / "truncated.safetensors").write_bytes(image({"w": w, "b": b}, data)[:-10])
    (out / "garbage.safetensors").write_bytes(b"\x00\x01garbage, not safetensors at all")
    keep = {"dtype": "BOOL", "shape": [2, 3], "data_offsets": [0, 6]}
    (out / "bool.safetensors").write_bytes(image({"keep": keep}, bytes([1, 0, 1, 0, 0, 1])))
    scale = {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}
    (out / "scalar.safetensors").write_bytes(image({"scale": scale}, struct.pack("<q", 3)))
    bad_size = dict(w, data_offsets=[0, 20])
    (out / "badsize.safetensors").write_bytes(image({"w": bad_size, "b": b}, data))


if __name__ == "__main__":
    main()
