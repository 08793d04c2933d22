/// @file Compiler portability macros shared by host and device code.
/// Every header under include/ptq compiles with plain `g++ -std=c++20`; CUDA-only code lives in `.cuh`.
#pragma once

#if defined(__CUDACC__)
#define PTQ_HOST_DEVICE __host__ __device__ __forceinline__
#define PTQ_UNROLL _Pragma("unroll")
#else
#define PTQ_HOST_DEVICE inline
#define PTQ_UNROLL
#endif

#ifndef PTQ_HAS_CUDA
#define PTQ_HAS_CUDA 0
#endif
