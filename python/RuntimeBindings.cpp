//===- RuntimeBindings.cpp - the ube._ube_runtime Python extension --------===//
//
// A thin layer over the runtime C API, linked with the runtime alone: loading
// and running executables from Python needs no LLVM or MLIR library (the
// compiler is the other extension, CompilerBindings.cpp). numpy arrays that
// are C-contiguous with the right dtype go to the CPU device without a copy;
// results come back as numpy arrays. Failures raise ube.RuntimeError.
//
//===----------------------------------------------------------------------===//

#include "ube/Support/DType.h"
#include "ube/Support/ExecutableFormat.h"
#include "ube/runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

py::object runtimeErrorType;

/// Raises ube.RuntimeError for a failed status.
void check(ube_status status) {
  if (!status)
    return;
  std::string message = ube_status_message(status);
  ube_status_free(status);
  PyErr_SetString(runtimeErrorType.ptr(), message.c_str());
  throw py::error_already_set();
}

py::dtype numpyDtype(ube_dtype dtype) {
  switch (dtype) {
  case UBE_F32: return py::dtype("float32");
  case UBE_F16: return py::dtype("float16");
  case UBE_BF16: return py::dtype("uint16"); // raw bfloat16 bits
  case UBE_I1: return py::dtype("bool");
  case UBE_I32: return py::dtype("int32");
  case UBE_I64: return py::dtype("int64");
  case UBE_F64: return py::dtype("float64");
  case UBE_I8: return py::dtype("int8");
  case UBE_I16: return py::dtype("int16");
  case UBE_U8: return py::dtype("uint8");
  case UBE_U16: return py::dtype("uint16");
  case UBE_U32: return py::dtype("uint32");
  case UBE_U64: return py::dtype("uint64");
  case UBE_DTYPE_MAX_ENUM: break; // never returned by the runtime
  }
  throw std::invalid_argument("unknown dtype " + std::to_string(int(dtype)));
}

/// The graph-file name ("f32", ...): the C API's dtypes are ube::DType's.
std::string dtypeName(ube_dtype dtype) {
  return std::string(ube::dtypeName(static_cast<ube::DType>(dtype)));
}

struct DeviceHandle {
  explicit DeviceHandle(const std::string &name) { check(ube_device_open(name.c_str(), &ptr)); }
  ~DeviceHandle() { ube_device_release(ptr); }
  ube_device *ptr = nullptr;
};

struct BufferHandle {
  ~BufferHandle() {
    if (ptr)
      ube_buffer_release(ptr);
  }
  ube_buffer *ptr = nullptr;
};

class Executable {
public:
  Executable(std::shared_ptr<DeviceHandle> device, const py::bytes &image,
             const std::string &name)
      : device_(std::move(device)) {
    // The bytes object outlives the call (the caller holds it), so the
    // runtime reads it in place: no second copy of the weights while loading.
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(image.ptr(), &data, &size) != 0)
      throw py::error_already_set();
    ube_status status;
    {
      py::gil_scoped_release release; // loading can dlopen, upload, JIT
      status = ube_executable_load_memory(device_->ptr, data, size_t(size), name.c_str(), &exe_);
    }
    check(status); // raises with the GIL held
  }
  ~Executable() { ube_executable_release(exe_); }

  std::vector<std::string> functions() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < ube_executable_function_count(exe_); ++i)
      names.push_back(ube_executable_function_name(exe_, i));
    return names;
  }

  size_t find(const std::string &name) const {
    size_t index;
    check(ube_executable_find_function(exe_, name.c_str(), &index));
    return index;
  }

  /// [(name, dtype, shape)] of a function's inputs or outputs.
  py::list signature(size_t fn, bool inputs) const {
    py::list out;
    size_t n = inputs ? ube_function_input_count(exe_, fn) : ube_function_output_count(exe_, fn);
    for (size_t i = 0; i < n; ++i) {
      ube_tensor_info info;
      check(inputs ? ube_function_input(exe_, fn, i, &info)
                   : ube_function_output(exe_, fn, i, &info));
      out.append(py::make_tuple(info.name, dtypeName(info.dtype),
                                std::vector<int64_t>(info.shape, info.shape + info.rank)));
    }
    return out;
  }

  /// {output index: input index} of the outputs that may be written over
  /// an input (updates in place).
  py::dict inPlace(size_t fn) const {
    py::dict out;
    for (size_t o = 0; o < ube_function_output_count(exe_, fn); ++o)
      if (ptrdiff_t i = ube_function_output_in_place_of(exe_, fn, o); i >= 0)
        out[py::int_(o)] = py::int_(i);
    return out;
  }

  /// Pointers to one shape per input, each checked against the input's rank
  /// (the C API reads as many sizes as each input's rank).
  std::vector<const int64_t *>
  inputShapes(size_t fn, const std::vector<std::vector<int64_t>> &shapes) const {
    if (shapes.size() != ube_function_input_count(exe_, fn))
      throw py::type_error("function '" + std::string(ube_executable_function_name(exe_, fn)) +
                           "' takes " + std::to_string(ube_function_input_count(exe_, fn)) +
                           " input shapes, got " + std::to_string(shapes.size()));
    std::vector<const int64_t *> pointers;
    for (size_t i = 0; i < shapes.size(); ++i) {
      ube_tensor_info info;
      check(ube_function_input(exe_, fn, i, &info));
      if (shapes[i].size() != info.rank)
        throw py::value_error("input '" + std::string(info.name) + "' has rank " +
                              std::to_string(info.rank) + ", got a shape of " +
                              std::to_string(shapes[i].size()) + " sizes");
      pointers.push_back(shapes[i].data());
    }
    return pointers;
  }

  /// The bytes of scratch memory a call with inputs of `shapes` takes.
  uint64_t arenaBytes(size_t fn, const std::vector<std::vector<int64_t>> &shapes) const {
    std::vector<const int64_t *> pointers = inputShapes(fn, shapes);
    uint64_t bytes = 0;
    check(ube_function_arena_bytes(exe_, fn, pointers.data(), pointers.size(), &bytes));
    return bytes;
  }

  /// The outputs' shapes when the inputs have `shapes`.
  std::vector<std::vector<int64_t>>
  outputShapes(size_t fn, const std::vector<std::vector<int64_t>> &shapes) const {
    std::vector<const int64_t *> pointers = inputShapes(fn, shapes);
    std::vector<std::vector<int64_t>> out(ube_function_output_count(exe_, fn));
    std::vector<int64_t *> outPointers;
    for (size_t o = 0; o < out.size(); ++o) {
      ube_tensor_info info;
      check(ube_function_output(exe_, fn, o, &info));
      out[o].resize(info.rank);
      outPointers.push_back(out[o].data());
    }
    check(ube_function_output_shapes(exe_, fn, pointers.data(), pointers.size(),
                                     outPointers.data()));
    return out;
  }

  /// `outputs`: optional arrays (None entries allowed) the results are
  /// written into instead of new ones; each must have the declared dtype and
  /// shape, be C-contiguous and writeable, and share no memory with an input
  /// (except the very array of an input the output updates in place).
  py::list invoke(size_t fn, const std::vector<py::object> &arrays,
                  const std::optional<std::vector<py::object>> &outputs) {
    py::module_ numpy = py::module_::import("numpy");
    size_t numInputs = ube_function_input_count(exe_, fn);
    size_t numOutputs = ube_function_output_count(exe_, fn);
    if (arrays.size() != numInputs)
      throw py::type_error("function '" + std::string(ube_executable_function_name(exe_, fn)) +
                           "' takes " + std::to_string(numInputs) + " inputs, got " +
                           std::to_string(arrays.size()));
    bool host = ube_device_name(device_->ptr) == std::string("cpu");
    std::vector<BufferHandle> in(numInputs), out(numOutputs);
    std::vector<std::vector<int64_t>> inShapes;
    std::vector<py::array> keep, results;
    for (size_t i = 0; i < numInputs; ++i) {
      ube_tensor_info info;
      check(ube_function_input(exe_, fn, i, &info));
      // Converts dtype/layout only when needed: a matching array is used in
      // place (np.require keeps 0-d arrays 0-d, unlike ascontiguousarray).
      py::array a = numpy.attr("require")(arrays[i], numpyDtype(info.dtype), "C");
      std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
      // -1: a symbolic size, any the inputs agree on (ube_invoke checks them).
      bool fits = shape.size() == info.rank;
      for (size_t d = 0; fits && d < info.rank; ++d)
        fits = info.shape[d] == -1 || info.shape[d] == shape[d];
      if (!fits) {
        std::string expected, got;
        for (size_t d = 0; d < info.rank; ++d)
          expected += (d ? ", " : "") +
                      (info.shape[d] == -1 ? std::string("?") : std::to_string(info.shape[d]));
        for (size_t d = 0; d < shape.size(); ++d)
          got += (d ? ", " : "") + std::to_string(shape[d]);
        throw py::value_error("input '" + std::string(info.name) + "' expects shape [" +
                              expected + "], got [" + got + "]");
      }
      if (host) {
        check(ube_buffer_wrap(device_->ptr, info.dtype, info.rank, shape.data(),
                              const_cast<void *>(a.data()), a.nbytes(), &in[i].ptr));
      } else {
        check(ube_buffer_allocate(device_->ptr, info.dtype, info.rank, shape.data(), &in[i].ptr));
        check(ube_buffer_copy_from_host(in[i].ptr, a.data(), a.nbytes()));
      }
      keep.push_back(a);
      inShapes.push_back(std::move(shape));
    }
    std::vector<const int64_t *> inShapePtrs;
    for (const std::vector<int64_t> &shape : inShapes)
      inShapePtrs.push_back(shape.data());
    if (outputs && outputs->size() != numOutputs)
      throw py::type_error("function '" + std::string(ube_executable_function_name(exe_, fn)) +
                           "' has " + std::to_string(numOutputs) + " outputs, got " +
                           std::to_string(outputs->size()) + " output arrays");
    // Symbolic sizes are those the inputs give: all outputs' at once (the
    // symbols bound, and the sizes derived from them computed, once).
    std::vector<ube_tensor_info> outInfos(numOutputs);
    std::vector<std::vector<int64_t>> outShapes(numOutputs);
    std::vector<int64_t *> outShapePtrs;
    bool symbolic = false;
    for (size_t i = 0; i < numOutputs; ++i) {
      const ube_tensor_info &info = outInfos[i];
      check(ube_function_output(exe_, fn, i, &outInfos[i]));
      outShapes[i].assign(info.shape, info.shape + info.rank);
      symbolic |= std::count(outShapes[i].begin(), outShapes[i].end(), -1) > 0;
      outShapePtrs.push_back(outShapes[i].data());
    }
    if (symbolic)
      check(ube_function_output_shapes(exe_, fn, inShapePtrs.data(), numInputs,
                                       outShapePtrs.data()));
    for (size_t i = 0; i < numOutputs; ++i) {
      const ube_tensor_info &info = outInfos[i];
      const std::vector<int64_t> &sizes = outShapes[i];
      std::vector<py::ssize_t> shape(sizes.begin(), sizes.end());
      py::array result;
      if (outputs && !(*outputs)[i].is_none()) {
        result = (*outputs)[i].cast<py::array>();
        std::string name = info.name;
        if (!result.dtype().is(numpyDtype(info.dtype)) ||
            std::vector<py::ssize_t>(result.shape(), result.shape() + result.ndim()) != shape)
          throw py::value_error("output array for '" + name + "' must be " +
                                py::str(numpyDtype(info.dtype)).cast<std::string>() +
                                " with the output's shape");
        if (!(result.flags() & py::array::c_style) || !result.writeable())
          throw py::value_error("output array for '" + name +
                                "' must be C-contiguous and writeable");
        ptrdiff_t updated = host ? ube_function_output_in_place_of(exe_, fn, i) : -1;
        for (size_t k = 0; k < keep.size(); ++k)
          if (overlap(result, keep[k]) &&
              !(ptrdiff_t(k) == updated && result.data() == keep[k].data()))
            throw py::value_error("output array for '" + name +
                                  "' shares memory with an input; the code reads inputs "
                                  "while it writes outputs (only an output updated in place "
                                  "may be its input's array)");
        for (const py::array &other : results)
          if (overlap(result, other))
            throw py::value_error("output array for '" + name +
                                  "' shares memory with another output");
      } else {
        result = py::array(numpyDtype(info.dtype), shape);
      }
      if (host)
        check(ube_buffer_wrap(device_->ptr, info.dtype, info.rank, sizes.data(),
                              result.mutable_data(), result.nbytes(), &out[i].ptr));
      else
        check(ube_buffer_allocate(device_->ptr, info.dtype, info.rank, sizes.data(),
                                  &out[i].ptr));
      results.push_back(result);
    }
    std::vector<ube_buffer *> inPtrs, outPtrs;
    for (auto &b : in)
      inPtrs.push_back(b.ptr);
    for (auto &b : out)
      outPtrs.push_back(b.ptr);
    ube_status status;
    {
      py::gil_scoped_release release;
      status = ube_invoke(exe_, fn, inPtrs.data(), inPtrs.size(), outPtrs.data(), outPtrs.size());
    }
    check(status);
    if (!host)
      for (size_t i = 0; i < numOutputs; ++i)
        check(ube_buffer_copy_to_host(out[i].ptr, results[i].mutable_data(), results[i].nbytes()));
    py::list list;
    for (auto &r : results)
      list.append(r);
    return list;
  }

  std::string targetInfo() const { return ube_executable_target_info(exe_); }

  /// Whether two C-contiguous arrays' bytes overlap: what
  /// numpy.may_share_memory says of them, exactly, without a call into
  /// Python per pair (a training step checks each of ~170 outputs against
  /// every input and output: 47,000 calls, 30 ms of a 260 ms MiniLM step).
  static bool overlap(const py::array &a, const py::array &b) {
    auto begin = [](const py::array &x) { return static_cast<const char *>(x.data()); };
    if (a.nbytes() == 0 || b.nbytes() == 0)
      return false;
    return begin(a) < begin(b) + b.nbytes() && begin(b) < begin(a) + a.nbytes();
  }
  std::string variant() const { return ube_executable_variant(exe_); }

private:
  std::shared_ptr<DeviceHandle> device_;
  ube_executable *exe_ = nullptr;
};

} // namespace

PYBIND11_MODULE(_ube_runtime, m) {
  m.doc() = "ube runtime bindings (use ube.runtime)";
  runtimeErrorType = py::module_::import("ube.errors").attr("RuntimeError");

  m.def(
      "dtypes",
      [] {
        py::list out;
        for (ube::DType dtype : ube::kAllDTypes)
          out.append(py::make_tuple(std::string(ube::dtypeName(dtype)), ube::dtypeSize(dtype),
                                    std::string(ube::dtypeSafetensorsName(dtype))));
        return out;
      },
      "[(name, bytes, safetensors name)] of every dtype, in the C API's order "
      "(ube.dtypes mirrors it).");
  m.def(
      "executable_target",
      [](const py::bytes &image) {
        std::string_view bytes = image;
        return ube::executableTarget(reinterpret_cast<const uint8_t *>(bytes.data()),
                                     bytes.size());
      },
      "The target an executable image was compiled for ('' when unreadable).");

  py::class_<DeviceHandle, std::shared_ptr<DeviceHandle>>(m, "Device")
      .def(py::init<const std::string &>(), py::arg("name") = "cpu")
      .def_property_readonly("name",
                             [](const DeviceHandle &d) { return ube_device_name(d.ptr); })
      .def_property(
          "threads", [](const DeviceHandle &d) { return ube_device_thread_count(d.ptr); },
          [](DeviceHandle &d, size_t threads) {
            check(ube_device_set_thread_count(d.ptr, threads));
          });

  py::class_<Executable>(m, "LoadedExecutable")
      .def(py::init<std::shared_ptr<DeviceHandle>, const py::bytes &, const std::string &>(),
           py::arg("device"), py::arg("image"), py::arg("name") = "<memory>")
      .def_property_readonly("functions", &Executable::functions)
      .def_property_readonly("target_info", &Executable::targetInfo)
      .def_property_readonly("variant", &Executable::variant)
      .def("find", &Executable::find)
      .def("signature", &Executable::signature, py::arg("function"), py::arg("inputs"))
      .def("in_place", &Executable::inPlace, py::arg("function"))
      .def("arena_bytes", &Executable::arenaBytes, py::arg("function"), py::arg("shapes"))
      .def("output_shapes", &Executable::outputShapes, py::arg("function"), py::arg("shapes"))
      .def("invoke", &Executable::invoke, py::arg("function"), py::arg("inputs"),
           py::arg("outputs") = py::none());
}
