/*===- runtime.h - the ube runtime C API ----------------------------------===*
 *
 * Loads .ube executables and runs their entry points on a device. Every
 * handle is opaque; every call that can fail returns a ube_status, which is
 * NULL on success and otherwise carries a message (free it with
 * ube_status_free). No C++ exception crosses this boundary.
 *
 * Thread safety: devices, executables and buffers may be shared between
 * threads; ube_invoke may run concurrently on the same executable, as long as
 * concurrent calls do not write the same output buffers.
 *
 * The runtime links no LLVM/MLIR library: a .ube compiled on one machine runs
 * on another that has only the runtime.
 *===----------------------------------------------------------------------===*/

#ifndef UBE_RUNTIME_H
#define UBE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UBE_RUNTIME_ABI_VERSION 1

/* The C API is what libube_runtime.so exports. */
#pragma GCC visibility push(default)

typedef struct ube_status_s *ube_status;
typedef struct ube_device_s ube_device;
typedef struct ube_executable_s ube_executable;
typedef struct ube_buffer_s ube_buffer;

typedef enum ube_status_code {
  UBE_OK = 0,
  UBE_INVALID_ARGUMENT = 1, /* wrong count, dtype, shape, name, null pointer */
  UBE_NOT_FOUND = 2,        /* no such device, function or file */
  UBE_INVALID_EXECUTABLE = 3, /* corrupt, truncated, foreign or mismatched .ube */
  UBE_UNAVAILABLE = 4,      /* device absent (e.g. no CUDA driver or GPU) */
  UBE_RESOURCE_EXHAUSTED = 5, /* out of memory */
  UBE_INTERNAL = 6
} ube_status_code;

typedef enum ube_dtype {
  UBE_F32 = 0,
  UBE_F16 = 1,
  UBE_BF16 = 2,
  UBE_I1 = 3, /* one byte per element, 0 or 1 */
  UBE_I32 = 4,
  UBE_I64 = 5,
  UBE_F64 = 6,
  UBE_I8 = 7,
  UBE_I16 = 8,
  UBE_U8 = 9,
  UBE_U16 = 10,
  UBE_U32 = 11,
  UBE_U64 = 12,
  /* Not a dtype: makes every int value a valid ube_dtype in C++ too, so that
   * the runtime can reject a wrong one instead of the caller's compiler
   * assuming it cannot happen. */
  UBE_DTYPE_MAX_ENUM = 0x7fffffff
} ube_dtype;

/* Describes one argument or result of an entry point. Pointers stay valid
 * while the executable is loaded. A size of -1 is symbolic: the entry point
 * takes any size there that its inputs agree on (ube_function_output_shape
 * gives an output's sizes for given inputs). */
typedef struct ube_tensor_info {
  const char *name;
  ube_dtype dtype;
  size_t rank;
  const int64_t *shape;
} ube_tensor_info;

/*--- status ---------------------------------------------------------------*/
ube_status_code ube_status_get_code(ube_status status);
const char *ube_status_message(ube_status status); /* "" for NULL (success) */
void ube_status_free(ube_status status);

/*--- devices --------------------------------------------------------------*/
/* Opens a device plugin by name ("cpu", "cuda"). */
ube_status ube_device_open(const char *name, ube_device **out);
void ube_device_release(ube_device *device);
const char *ube_device_name(const ube_device *device);
/* Comma-separated names of the registered device plugins. */
const char *ube_device_list(void);
/* Host threads that run the parallel loops of this device's launches (cpu:
 * UBE_NUM_THREADS when set, else the hardware threads; 0 for devices whose
 * code does not run on host threads). Results do not depend on it. Setting
 * it affects launches that start afterwards. */
size_t ube_device_thread_count(const ube_device *device);
ube_status ube_device_set_thread_count(ube_device *device, size_t threads);

/*--- executables ----------------------------------------------------------*/
/* Validates format version, checksum, manifest and target before loading. */
ube_status ube_executable_load_file(ube_device *device, const char *path,
                                    ube_executable **out);
ube_status ube_executable_load_memory(ube_device *device, const void *data, size_t size,
                                      const char *display_name, ube_executable **out);
void ube_executable_release(ube_executable *executable);
/* The target the executable was compiled for, e.g. "x86_64-pc-linux-gnu znver3". */
const char *ube_executable_target_info(const ube_executable *executable);
/* The build of a multi-ISA executable the device loaded (e.g. "x86-64-v4": the
   most capable one the host runs, or UBE_CPU_VARIANT's), or "" for an
   executable with one build. */
const char *ube_executable_variant(const ube_executable *executable);
size_t ube_executable_function_count(const ube_executable *executable);
const char *ube_executable_function_name(const ube_executable *executable, size_t function);
ube_status ube_executable_find_function(const ube_executable *executable, const char *name,
                                        size_t *function);
size_t ube_function_input_count(const ube_executable *executable, size_t function);
size_t ube_function_output_count(const ube_executable *executable, size_t function);
ube_status ube_function_input(const ube_executable *executable, size_t function,
                              size_t index, ube_tensor_info *out);
ube_status ube_function_output(const ube_executable *executable, size_t function,
                               size_t index, ube_tensor_info *out);
/* The input whose buffer output `index` may be written into (an update in
 * place, such as a training step's new parameters: the compiler proved that
 * every element of the input is read before it is overwritten), or -1. */
ptrdiff_t ube_function_output_in_place_of(const ube_executable *executable, size_t function,
                                          size_t index);
/* The shape of output `index` when the inputs have `input_shapes` (one
 * array per input, of its rank): symbolic sizes are those the inputs give.
 * Fails, naming the inputs and the symbol, when they disagree, fall outside
 * a symbol's bounds or do not match a static size. `shape` receives the
 * output's rank of sizes. */
ube_status ube_function_output_shape(const ube_executable *executable, size_t function,
                                     const int64_t *const *input_shapes, size_t num_inputs,
                                     size_t index, int64_t *shape);
/* Every output's shape at once, the symbols bound once: `shapes[i]`
 * receives output i's rank of sizes. What a caller allocating all the
 * outputs uses (ube_function_output_shape per output binds the symbols,
 * and computes the sizes derived from them, each time). */
ube_status ube_function_output_shapes(const ube_executable *executable, size_t function,
                                      const int64_t *const *input_shapes, size_t num_inputs,
                                      int64_t *const *shapes);
/* The bytes of scratch memory a call with inputs of `input_shapes` takes
 * (the runtime's arena; 0: none). An entry point with symbolic dimensions
 * may need more at larger sizes: each invocation's arena grows to what its
 * shapes need and is then reused. Fails as ube_function_output_shape does. */
ube_status ube_function_arena_bytes(const ube_executable *executable, size_t function,
                                    const int64_t *const *input_shapes, size_t num_inputs,
                                    uint64_t *bytes);

/*--- buffers --------------------------------------------------------------*/
size_t ube_dtype_size(ube_dtype dtype);
ube_status ube_buffer_allocate(ube_device *device, ube_dtype dtype, size_t rank,
                               const int64_t *shape, ube_buffer **out);
/* Wraps caller memory (size_bytes must match) without copying; the memory
 * must outlive the buffer. Host-visible devices only. */
ube_status ube_buffer_wrap(ube_device *device, ube_dtype dtype, size_t rank,
                           const int64_t *shape, void *data, size_t size_bytes,
                           ube_buffer **out);
void ube_buffer_release(ube_buffer *buffer);
ube_dtype ube_buffer_dtype(const ube_buffer *buffer);
size_t ube_buffer_rank(const ube_buffer *buffer);
const int64_t *ube_buffer_shape(const ube_buffer *buffer);
size_t ube_buffer_size_bytes(const ube_buffer *buffer);
/* The host address of the data, or NULL when the device memory is not
 * host-visible (use the copy functions). */
void *ube_buffer_host_data(ube_buffer *buffer);
ube_status ube_buffer_copy_from_host(ube_buffer *buffer, const void *data, size_t size_bytes);
ube_status ube_buffer_copy_to_host(const ube_buffer *buffer, void *data, size_t size_bytes);

/*--- invocation -----------------------------------------------------------*/
/* Runs `function` with `inputs` and writes `outputs` (preallocated, with the
 * declared dtypes and shapes, whose symbolic sizes are those the inputs
 * give); returns when the results are ready. An output
 * buffer may share memory with an input only where
 * ube_function_output_in_place_of names that input, and then must be the
 * same memory exactly; the input then holds the output afterwards. */
ube_status ube_invoke(ube_executable *executable, size_t function,
                      ube_buffer *const *inputs, size_t num_inputs,
                      ube_buffer *const *outputs, size_t num_outputs);

#pragma GCC visibility pop

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UBE_RUNTIME_H */
