//===- Runtime.cpp - the ube runtime C API --------------------------------===//

#include "Device.h"

#include "ube/Support/ExecutableFormat.h"
#include "ube/Support/FileIO.h"
#include "ube/runtime.h"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <new>

using namespace ube;
using namespace ube::runtime;

struct ube_status_s {
  ube_status_code code;
  std::string message;
};

struct ube_device_s {
  std::shared_ptr<Device> device;
};

struct ube_executable_s {
  std::shared_ptr<Device> device;
  std::string displayName;
  Manifest manifest;
  std::unique_ptr<LoadedCode> code;
  /// Per entry, per argument: the shape arrays ube_tensor_info points at.
  std::vector<std::vector<ube_tensor_info>> inputInfo, outputInfo;
  /// Per entry: scratch arenas no invocation is using, with their sizes.
  /// An invocation takes one (allocating only when none is free, and
  /// growing it when its shapes need more than it has) and puts it back,
  /// so the steady state allocates nothing and concurrent invocations each
  /// have their own.
  struct Arena {
    void *data;
    uint64_t bytes;
  };
  std::mutex arenaMutex;
  std::vector<std::vector<Arena>> freeArenas;

  ~ube_executable_s() {
    for (const auto &arenas : freeArenas)
      for (const Arena &arena : arenas)
        device->deallocate(arena.data, arena.bytes);
  }
};

namespace {
/// An arena of `executable`'s entry `function`, returned to it on destruction.
class ArenaLease {
public:
  ArenaLease(ube_executable *executable, size_t function)
      : executable_(executable), function_(function) {}
  ~ArenaLease() {
    if (!arena_.data)
      return;
    std::lock_guard<std::mutex> lock(executable_->arenaMutex);
    executable_->freeArenas[function_].push_back(arena_);
  }
  /// An arena of at least `bytes`: a free one, reallocated when smaller.
  MaybeError acquire(uint64_t bytes, void *&out) {
    {
      std::lock_guard<std::mutex> lock(executable_->arenaMutex);
      auto &free = executable_->freeArenas[function_];
      if (!free.empty()) {
        arena_ = free.back();
        free.pop_back();
      }
    }
    if (arena_.data && arena_.bytes < bytes) {
      executable_->device->deallocate(arena_.data, arena_.bytes);
      arena_ = {};
    }
    if (!arena_.data) {
      if (MaybeError error = executable_->device->allocate(bytes, &arena_.data))
        return error;
      arena_.bytes = bytes;
    }
    out = arena_.data;
    return std::nullopt;
  }

private:
  ube_executable *executable_;
  size_t function_;
  ube_executable_s::Arena arena_ = {nullptr, 0};
};
} // namespace

struct ube_buffer_s {
  std::shared_ptr<Device> device;
  DType dtype;
  std::vector<int64_t> shape;
  void *data = nullptr;
  size_t bytes = 0;
  bool owned = false;
  ~ube_buffer_s() {
    if (owned && data)
      device->deallocate(data, bytes);
  }
};

namespace {

ube_status makeStatus(ube_status_code code, std::string message) {
  return new (std::nothrow) ube_status_s{code, std::move(message)};
}
ube_status toStatus(const MaybeError &error) {
  return error ? makeStatus(error->code, error->message) : nullptr;
}

/// Runs `body`, turning any C++ exception into a status: none may cross the C
/// boundary.
template <typename F> ube_status guarded(F &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return makeStatus(UBE_RESOURCE_EXHAUSTED, "out of host memory");
  } catch (const std::exception &e) {
    return makeStatus(UBE_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return makeStatus(UBE_INTERNAL, "internal error");
  }
}

ube_dtype toC(DType d) { return static_cast<ube_dtype>(d); }
std::optional<DType> fromC(ube_dtype d) {
  if (static_cast<unsigned>(d) >= std::size(kAllDTypes))
    return std::nullopt;
  return static_cast<DType>(d);
}

std::string describe(DType dtype, const std::vector<int64_t> &shape) {
  return fmt::format("{} {}", dtypeName(dtype), shapeToString(shape));
}

ube_status checkShape(size_t rank, const int64_t *shape, DType dtype,
                      std::vector<int64_t> &out, size_t &bytes) {
  if (rank && !shape)
    return makeStatus(UBE_INVALID_ARGUMENT, "shape is null but rank is not 0");
  out.assign(shape, shape + rank);
  auto size = numBytes(out, dtype);
  if (!size)
    return makeStatus(UBE_INVALID_ARGUMENT,
                      fmt::format("invalid shape {}", shapeToString(out)));
  bytes = size_t(*size);
  return nullptr;
}

void buildInfo(ube_executable_s &exe) {
  auto info = [](const std::vector<TensorSignature> &sigs) {
    std::vector<ube_tensor_info> out;
    for (const TensorSignature &s : sigs)
      out.push_back({s.name.c_str(), toC(s.dtype), s.shape.size(), s.shape.data()});
    return out;
  };
  for (const EntryPoint &e : exe.manifest.entries) {
    exe.inputInfo.push_back(info(e.inputs));
    exe.outputInfo.push_back(info(e.outputs));
  }
  exe.freeArenas.resize(exe.manifest.entries.size());
}

} // namespace

extern "C" {

ube_status_code ube_status_get_code(ube_status status) { return status ? status->code : UBE_OK; }
const char *ube_status_message(ube_status status) {
  return status ? status->message.c_str() : "";
}
void ube_status_free(ube_status status) { delete status; }

ube_status ube_device_open(const char *name, ube_device **out) {
  return guarded([&]() -> ube_status {
    if (!name || !out)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_device_open: null argument");
    std::unique_ptr<Device> device;
    if (MaybeError error = createDevice(name, device))
      return toStatus(error);
    *out = new ube_device_s{std::shared_ptr<Device>(std::move(device))};
    return nullptr;
  });
}

void ube_device_release(ube_device *device) { delete device; }
const char *ube_device_name(const ube_device *device) {
  return device ? device->device->name() : "";
}

size_t ube_device_thread_count(const ube_device *device) {
  return device ? device->device->threadCount() : 0;
}

ube_status ube_device_set_thread_count(ube_device *device, size_t threads) {
  return guarded([&]() -> ube_status {
    if (!device)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_device_set_thread_count: null device");
    return toStatus(device->device->setThreadCount(threads));
  });
}

const char *ube_device_list(void) {
  static const std::string list = [] {
    std::string s;
    for (const std::string &name : registeredDevices())
      s += (s.empty() ? "" : ",") + name;
    return s;
  }();
  return list.c_str();
}

ube_status ube_executable_load_memory(ube_device *device, const void *data, size_t size,
                                      const char *displayName, ube_executable **out) {
  return guarded([&]() -> ube_status {
    if (!device || !data || !out)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_executable_load_memory: null argument");
    std::string name = displayName ? displayName : "<memory>";
    ExecutableView view;
    std::string error;
    if (!readExecutable(static_cast<const uint8_t *>(data), size, name, view, error))
      return makeStatus(UBE_INVALID_EXECUTABLE, error);
    if (view.manifest.target != device->device->name())
      return makeStatus(UBE_INVALID_EXECUTABLE,
                        fmt::format("{}: compiled for target '{}' ({}), but the device is '{}'",
                                    name, view.manifest.target, view.manifest.targetInfo,
                                    device->device->name()));
    auto exe = std::make_unique<ube_executable_s>();
    exe->device = device->device;
    exe->displayName = name;
    exe->manifest = view.manifest;
    if (MaybeError err = device->device->load(view, name, exe->code))
      return toStatus(err);
    buildInfo(*exe);
    *out = exe.release();
    return nullptr;
  });
}

ube_status ube_executable_load_file(ube_device *device, const char *path,
                                    ube_executable **out) {
  return guarded([&]() -> ube_status {
    if (!path)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_executable_load_file: null path");
    std::vector<uint8_t> bytes;
    std::string error;
    if (!readRegularFile(path, bytes, error))
      return makeStatus(UBE_NOT_FOUND, error);
    return ube_executable_load_memory(device, bytes.data(), bytes.size(), path, out);
  });
}

void ube_executable_release(ube_executable *executable) { delete executable; }

const char *ube_executable_target_info(const ube_executable *executable) {
  return executable ? executable->manifest.targetInfo.c_str() : "";
}
const char *ube_executable_variant(const ube_executable *executable) {
  return executable && executable->code ? executable->code->variant.c_str() : "";
}
size_t ube_executable_function_count(const ube_executable *executable) {
  return executable ? executable->manifest.entries.size() : 0;
}
const char *ube_executable_function_name(const ube_executable *executable, size_t function) {
  if (!executable || function >= executable->manifest.entries.size())
    return nullptr;
  return executable->manifest.entries[function].name.c_str();
}

ube_status ube_executable_find_function(const ube_executable *executable, const char *name,
                                        size_t *function) {
  return guarded([&]() -> ube_status {
    if (!executable || !name || !function)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_executable_find_function: null argument");
    std::string known;
    for (size_t i = 0; i < executable->manifest.entries.size(); ++i) {
      const std::string &entry = executable->manifest.entries[i].name;
      if (entry == name) {
        *function = i;
        return nullptr;
      }
      known += (known.empty() ? "" : ", ") + entry;
    }
    return makeStatus(UBE_NOT_FOUND, fmt::format("{}: no function '{}' (it has: {})",
                                                 executable->displayName, name, known));
  });
}

size_t ube_function_input_count(const ube_executable *executable, size_t function) {
  if (!executable || function >= executable->inputInfo.size())
    return 0;
  return executable->inputInfo[function].size();
}
size_t ube_function_output_count(const ube_executable *executable, size_t function) {
  if (!executable || function >= executable->outputInfo.size())
    return 0;
  return executable->outputInfo[function].size();
}

ptrdiff_t ube_function_output_in_place_of(const ube_executable *executable, size_t function,
                                          size_t index) {
  if (!executable || function >= executable->manifest.entries.size())
    return -1;
  for (auto [output, input] : executable->manifest.entries[function].inPlace)
    if (output == index)
      return ptrdiff_t(input);
  return -1;
}

namespace {
/// The symbols' sizes of `executable`'s `function` when its inputs have
/// `input_shapes` (`api` names the caller in errors about null arguments).
ube_status symbolSizesOf(const ube_executable *executable, size_t function,
                         const int64_t *const *input_shapes, size_t num_inputs, const char *api,
                         std::vector<int64_t> &sizes) {
  if (!executable || (num_inputs && !input_shapes))
    return makeStatus(UBE_INVALID_ARGUMENT, fmt::format("{}: null argument", api));
  if (function >= executable->manifest.entries.size())
    return makeStatus(UBE_INVALID_ARGUMENT, fmt::format("no function #{}", function));
  const EntryPoint &entry = executable->manifest.entries[function];
  if (num_inputs != entry.inputs.size())
    return makeStatus(UBE_INVALID_ARGUMENT,
                      fmt::format("function '{}' takes {} inputs, got {}", entry.name,
                                  entry.inputs.size(), num_inputs));
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!input_shapes[i] && !entry.inputs[i].shape.empty())
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("function '{}': the shape of input '{}' is null", entry.name,
                                    entry.inputs[i].name));
    size_t rank = entry.inputs[i].shape.size();
    shapes.emplace_back(input_shapes[i], input_shapes[i] + rank);
  }
  std::string error;
  if (!bindSymbols(entry, shapes, sizes, error))
    return makeStatus(UBE_INVALID_ARGUMENT, error);
  return nullptr;
}
} // namespace

ube_status ube_function_output_shape(const ube_executable *executable, size_t function,
                                     const int64_t *const *input_shapes, size_t num_inputs,
                                     size_t index, int64_t *shape) {
  return guarded([&]() -> ube_status {
    std::vector<int64_t> sizes;
    if (ube_status s = symbolSizesOf(executable, function, input_shapes, num_inputs,
                                     "ube_function_output_shape", sizes))
      return s;
    const EntryPoint &entry = executable->manifest.entries[function];
    if (index >= entry.outputs.size())
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("function '{}' has {} outputs; got output #{}", entry.name,
                                    entry.outputs.size(), index));
    if (!shape && !entry.outputs[index].shape.empty())
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_function_output_shape: null shape");
    std::vector<int64_t> out = resolvedShape(entry, entry.outputs[index], sizes);
    std::copy(out.begin(), out.end(), shape);
    return nullptr;
  });
}

ube_status ube_function_output_shapes(const ube_executable *executable, size_t function,
                                      const int64_t *const *input_shapes, size_t num_inputs,
                                      int64_t *const *shapes) {
  return guarded([&]() -> ube_status {
    std::vector<int64_t> sizes;
    if (ube_status s = symbolSizesOf(executable, function, input_shapes, num_inputs,
                                     "ube_function_output_shapes", sizes))
      return s;
    const EntryPoint &entry = executable->manifest.entries[function];
    if (!shapes && !entry.outputs.empty())
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_function_output_shapes: null shapes");
    for (size_t i = 0; i < entry.outputs.size(); ++i) {
      if (!shapes[i] && !entry.outputs[i].shape.empty())
        return makeStatus(UBE_INVALID_ARGUMENT,
                          fmt::format("ube_function_output_shapes: null shape for output '{}'",
                                      entry.outputs[i].name));
      std::vector<int64_t> out = resolvedShape(entry, entry.outputs[i], sizes);
      std::copy(out.begin(), out.end(), shapes[i]);
    }
    return nullptr;
  });
}

ube_status ube_function_arena_bytes(const ube_executable *executable, size_t function,
                                    const int64_t *const *input_shapes, size_t num_inputs,
                                    uint64_t *bytes) {
  return guarded([&]() -> ube_status {
    std::vector<int64_t> sizes;
    if (ube_status s = symbolSizesOf(executable, function, input_shapes, num_inputs,
                                     "ube_function_arena_bytes", sizes))
      return s;
    if (!bytes)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_function_arena_bytes: null argument");
    std::string error;
    if (!arenaBytesAt(executable->manifest.entries[function], sizes, *bytes, error))
      return makeStatus(UBE_INVALID_ARGUMENT, executable->displayName + ": " + error);
    return nullptr;
  });
}

static ube_status tensorInfo(const ube_executable *executable, size_t function, size_t index,
                             ube_tensor_info *out, bool input) {
  if (!executable || !out)
    return makeStatus(UBE_INVALID_ARGUMENT, "null argument");
  if (function >= executable->inputInfo.size())
    return makeStatus(UBE_INVALID_ARGUMENT, fmt::format("no function #{}", function));
  const auto &infos = input ? executable->inputInfo[function] : executable->outputInfo[function];
  if (index >= infos.size())
    return makeStatus(UBE_INVALID_ARGUMENT,
                      fmt::format("function '{}' has {} {}s, not #{}",
                                  executable->manifest.entries[function].name, infos.size(),
                                  input ? "input" : "output", index));
  *out = infos[index];
  return nullptr;
}
ube_status ube_function_input(const ube_executable *executable, size_t function, size_t index,
                              ube_tensor_info *out) {
  return tensorInfo(executable, function, index, out, true);
}
ube_status ube_function_output(const ube_executable *executable, size_t function, size_t index,
                               ube_tensor_info *out) {
  return tensorInfo(executable, function, index, out, false);
}

size_t ube_dtype_size(ube_dtype dtype) {
  auto d = fromC(dtype);
  return d ? dtypeSize(*d) : 0;
}

ube_status ube_buffer_allocate(ube_device *device, ube_dtype dtype, size_t rank,
                               const int64_t *shape, ube_buffer **out) {
  return guarded([&]() -> ube_status {
    auto d = fromC(dtype);
    if (!device || !out || !d)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_buffer_allocate: null argument or bad dtype");
    auto buffer = std::make_unique<ube_buffer_s>();
    if (ube_status s = checkShape(rank, shape, *d, buffer->shape, buffer->bytes))
      return s;
    buffer->device = device->device;
    buffer->dtype = *d;
    if (MaybeError err = device->device->allocate(buffer->bytes, &buffer->data))
      return toStatus(err);
    buffer->owned = true;
    *out = buffer.release();
    return nullptr;
  });
}

ube_status ube_buffer_wrap(ube_device *device, ube_dtype dtype, size_t rank,
                           const int64_t *shape, void *data, size_t sizeBytes,
                           ube_buffer **out) {
  return guarded([&]() -> ube_status {
    auto d = fromC(dtype);
    if (!device || !out || !d || (!data && sizeBytes))
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_buffer_wrap: null argument or bad dtype");
    if (!device->device->hostVisible())
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("device '{}' cannot use host memory directly; allocate a "
                                    "buffer and copy",
                                    device->device->name()));
    auto buffer = std::make_unique<ube_buffer_s>();
    size_t bytes;
    if (ube_status s = checkShape(rank, shape, *d, buffer->shape, bytes))
      return s;
    if (bytes != sizeBytes)
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("{} needs {} bytes, got {}", describe(*d, buffer->shape),
                                    bytes, sizeBytes));
    buffer->device = device->device;
    buffer->dtype = *d;
    buffer->bytes = sizeBytes;
    buffer->data = data;
    *out = buffer.release();
    return nullptr;
  });
}

void ube_buffer_release(ube_buffer *buffer) { delete buffer; }
ube_dtype ube_buffer_dtype(const ube_buffer *buffer) { return toC(buffer->dtype); }
size_t ube_buffer_rank(const ube_buffer *buffer) { return buffer->shape.size(); }
const int64_t *ube_buffer_shape(const ube_buffer *buffer) { return buffer->shape.data(); }
size_t ube_buffer_size_bytes(const ube_buffer *buffer) { return buffer->bytes; }
void *ube_buffer_host_data(ube_buffer *buffer) {
  return buffer && buffer->device->hostVisible() ? buffer->data : nullptr;
}

ube_status ube_buffer_copy_from_host(ube_buffer *buffer, const void *data, size_t sizeBytes) {
  return guarded([&]() -> ube_status {
    if (!buffer || (!data && sizeBytes))
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_buffer_copy_from_host: null argument");
    if (sizeBytes != buffer->bytes)
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("buffer holds {} bytes, got {}", buffer->bytes, sizeBytes));
    return toStatus(buffer->device->copyToDevice(buffer->data, data, sizeBytes));
  });
}

ube_status ube_buffer_copy_to_host(const ube_buffer *buffer, void *data, size_t sizeBytes) {
  return guarded([&]() -> ube_status {
    if (!buffer || (!data && sizeBytes))
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_buffer_copy_to_host: null argument");
    if (sizeBytes != buffer->bytes)
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("buffer holds {} bytes, got {}", buffer->bytes, sizeBytes));
    return toStatus(buffer->device->copyToHost(data, buffer->data, sizeBytes));
  });
}

/// Outputs are written while inputs are read: an output may share memory
/// only with the input it is proven to update in place, and exactly.
static ube_status checkOverlaps(const EntryPoint &entry, ube_buffer *const *inputs,
                                ube_buffer *const *outputs) {
  auto overlap = [](const ube_buffer *a, const ube_buffer *b) {
    auto *x = static_cast<const char *>(a->data), *y = static_cast<const char *>(b->data);
    return x < y + b->bytes && y < x + a->bytes;
  };
  for (size_t o = 0; o < entry.outputs.size(); ++o) {
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      if (!overlap(outputs[o], inputs[i]))
        continue;
      bool inPlace = std::find(entry.inPlace.begin(), entry.inPlace.end(),
                               std::pair<uint32_t, uint32_t>(o, i)) != entry.inPlace.end();
      if (!inPlace || outputs[o]->data != inputs[i]->data)
        return makeStatus(
            UBE_INVALID_ARGUMENT,
            fmt::format("function '{}': output '{}' shares memory with input '{}'{}", entry.name,
                        entry.outputs[o].name, entry.inputs[i].name,
                        inPlace ? " but not exactly (an update in place needs the same buffer)"
                                : "; only outputs the executable updates in place may"));
    }
    for (size_t p = 0; p < o; ++p)
      if (overlap(outputs[o], outputs[p]))
        return makeStatus(UBE_INVALID_ARGUMENT,
                          fmt::format("function '{}': outputs '{}' and '{}' share memory",
                                      entry.name, entry.outputs[p].name, entry.outputs[o].name));
  }
  return nullptr;
}

ube_status ube_invoke(ube_executable *executable, size_t function, ube_buffer *const *inputs,
                      size_t numInputs, ube_buffer *const *outputs, size_t numOutputs) {
  return guarded([&]() -> ube_status {
    if (!executable)
      return makeStatus(UBE_INVALID_ARGUMENT, "ube_invoke: null executable");
    if (function >= executable->manifest.entries.size())
      return makeStatus(UBE_INVALID_ARGUMENT,
                        fmt::format("{}: no function #{} (it has {})", executable->displayName,
                                    function, executable->manifest.entries.size()));
    const EntryPoint &entry = executable->manifest.entries[function];
    std::vector<void *> pointers;
    auto count = [&](size_t given, const std::vector<TensorSignature> &sigs, bool present,
                     const char *kind) -> ube_status {
      if (given != sigs.size() || (given && !present))
        return makeStatus(UBE_INVALID_ARGUMENT,
                          fmt::format("function '{}' takes {} {}s, got {}", entry.name,
                                      sigs.size(), kind, given));
      return nullptr;
    };
    if (ube_status s = count(numInputs, entry.inputs, inputs, "input"))
      return s;
    if (ube_status s = count(numOutputs, entry.outputs, outputs, "output"))
      return s;
    // Symbolic sizes: bound from the inputs' shapes, which they must agree on.
    std::vector<int64_t> symbolSizes;
    if (!entry.symbols.empty()) {
      std::vector<std::vector<int64_t>> shapes;
      for (size_t i = 0; i < numInputs; ++i) {
        if (!inputs[i])
          return makeStatus(UBE_INVALID_ARGUMENT,
                            fmt::format("function '{}': input {} ('{}') is null", entry.name, i,
                                        entry.inputs[i].name));
        shapes.push_back(inputs[i]->shape);
      }
      std::string error;
      if (!bindSymbols(entry, shapes, symbolSizes, error))
        return makeStatus(UBE_INVALID_ARGUMENT, error);
    }
    auto bind = [&](ube_buffer *const *buffers, size_t count,
                    const std::vector<TensorSignature> &sigs, const char *kind) -> ube_status {
      for (size_t i = 0; i < count; ++i) {
        const ube_buffer *b = buffers[i];
        const TensorSignature &sig = sigs[i];
        if (!b)
          return makeStatus(UBE_INVALID_ARGUMENT,
                            fmt::format("function '{}': {} {} ('{}') is null", entry.name, kind,
                                        i, sig.name));
        if (b->device != executable->device)
          return makeStatus(UBE_INVALID_ARGUMENT,
                            fmt::format("function '{}': {} '{}' lives on another device",
                                        entry.name, kind, sig.name));
        std::vector<int64_t> shape =
            sig.symbolic() ? resolvedShape(entry, sig, symbolSizes) : sig.shape;
        if (b->dtype != sig.dtype || b->shape != shape)
          return makeStatus(UBE_INVALID_ARGUMENT,
                            fmt::format("function '{}': {} '{}' expects {}{}, got {}", entry.name,
                                        kind, sig.name, describe(sig.dtype, shape),
                                        sig.symbolic() ? " here, " + signatureShapeString(sig)
                                                       : std::string(),
                                        describe(b->dtype, b->shape)));
        pointers.push_back(b->data);
      }
      return nullptr;
    };
    if (ube_status s = bind(inputs, numInputs, entry.inputs, "input"))
      return s;
    if (ube_status s = bind(outputs, numOutputs, entry.outputs, "output"))
      return s;
    if (ube_status s = checkOverlaps(entry, inputs, outputs))
      return s;
    ArenaLease arena(executable, function);
    if (entry.arenaBytes || !entry.arenaExprs.empty()) {
      uint64_t bytes;
      std::string error;
      if (!arenaBytesAt(entry, symbolSizes, bytes, error))
        return makeStatus(UBE_INVALID_ARGUMENT, executable->displayName + ": " + error);
      void *scratch;
      // (A size of 0 still gets a distinct, valid pointer.)
      if (MaybeError err = arena.acquire(std::max<uint64_t>(bytes, 1), scratch))
        return toStatus(err);
      pointers.push_back(scratch);
    }
    // The symbols' sizes follow, for code whose shapes name them.
    if (!entry.symbols.empty())
      pointers.push_back(symbolSizes.data());
    if (MaybeError err = executable->device->launch(*executable->code, function, pointers.data()))
      return toStatus(err);
    return toStatus(executable->device->synchronize());
  });
}

} // extern "C"
