"""ube's element types: the one table on the Python side.

It mirrors include/ube/Support/DType.h (the C++ table the compiler, the
runtime and the file formats use); test_api checks the two agree through
the runtime extension (`_ube_runtime.dtypes()`)."""
import numpy as np

# (ube name, numpy dtype or None for bf16, bytes, safetensors, ONNX TensorProto, torch)
DTYPES = [
    ("f32", "float32", 4, "F32", "FLOAT", "float32"),
    ("f16", "float16", 2, "F16", "FLOAT16", "float16"),
    ("bf16", None, 2, "BF16", "BFLOAT16", "bfloat16"),  # numpy has no bfloat16
    ("i1", "bool", 1, "BOOL", "BOOL", "bool"),
    ("i32", "int32", 4, "I32", "INT32", "int32"),
    ("i64", "int64", 8, "I64", "INT64", "int64"),
    ("f64", "float64", 8, "F64", "DOUBLE", "float64"),
    ("i8", "int8", 1, "I8", "INT8", "int8"),
    ("i16", "int16", 2, "I16", "INT16", "int16"),
    ("u8", "uint8", 1, "U8", "UINT8", "uint8"),
    ("u16", "uint16", 2, "U16", "UINT16", "uint16"),
    ("u32", "uint32", 4, "U32", "UINT32", "uint32"),
    ("u64", "uint64", 8, "U64", "UINT64", "uint64"),
]

NAMES = [d[0] for d in DTYPES]
FLOATS = ("f32", "f64", "f16", "bf16")
# numpy <-> ube for the types numpy has (bf16 travels as raw uint16 bits).
NUMPY_TO_UBE = {np.dtype(numpy): name for name, numpy, *_ in DTYPES if numpy}
UBE_TO_NUMPY = {name: np.dtype(numpy).type for name, numpy, *_ in DTYPES if numpy}
NUMPY_TO_SAFETENSORS = {np.dtype(numpy): st for _, numpy, _, st, *_ in DTYPES if numpy}
SAFETENSORS_TO_NUMPY = {st: np.dtype(numpy) for _, numpy, _, st, *_ in DTYPES if numpy}


def torch_to_ube():
    """{torch.dtype: ube name} (torch imported on demand)."""
    import torch
    return {getattr(torch, t): name for name, *_, t in DTYPES}


def onnx_to_ube():
    """{ONNX TensorProto enum: ube name} of the types numpy represents
    (ONNX tensors reach ube as numpy arrays)."""
    import onnx
    return {getattr(onnx.TensorProto, o): name for name, numpy, _, _, o, _ in DTYPES if numpy}
