"""Reading and writing safetensors files with numpy (no extra dependency)."""
import json
import pathlib
import struct

import numpy as np

from ube.dtypes import NUMPY_TO_SAFETENSORS as _TO_SAFETENSORS
from ube.dtypes import SAFETENSORS_TO_NUMPY as _FROM_SAFETENSORS


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array} (numpy, or torch tensors incl. bfloat16) to `path`."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        value = tensors[name]
        if hasattr(value, "dtype") and str(value.dtype) == "torch.bfloat16":
            data = value.contiguous().view(dtype=__import__("torch").int16).numpy().tobytes()
            dtype, shape = "BF16", list(value.shape)
        else:
            array = np.array(value, order="C")
            data, dtype, shape = array.tobytes(), _TO_SAFETENSORS[array.dtype], list(array.shape)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """{name: numpy array} of a safetensors file (BF16 as raw uint16)."""
    data = pathlib.Path(path).read_bytes()
    size = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + size])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = np.dtype("uint16") if info["dtype"] == "BF16" else _FROM_SAFETENSORS[info["dtype"]]
        out[name] = np.frombuffer(data[8 + size + begin:8 + size + end], dtype).reshape(
            info["shape"])
    return out
