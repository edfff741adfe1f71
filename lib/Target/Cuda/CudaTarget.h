//===- CudaTarget.h - the NVIDIA GPU target -----------------------------*- C++ -*-===//

#ifndef UBE_LIB_TARGET_CUDA_CUDATARGET_H
#define UBE_LIB_TARGET_CUDA_CUDATARGET_H

#include "ube/Target/Target.h"

namespace ube {
std::unique_ptr<Target> createCudaTarget();
} // namespace ube

#endif // UBE_LIB_TARGET_CUDA_CUDATARGET_H
