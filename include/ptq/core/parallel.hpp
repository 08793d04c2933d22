/// @file Running independent tasks on the OpenMP threads, with exceptions carried back to the caller.
///
/// Inside the parallel region BLAS/LAPACK calls run single-threaded (OpenBLAS's OpenMP build checks
/// omp_in_parallel), so each task computes exactly what it would alone: results do not depend on the
/// thread count.
#pragma once

#include <cstdint>
#include <exception>

namespace ptq {

/// Calls task(i) for i in [0, n) on the OpenMP threads; rethrows the first exception thrown.
template <class Task>
void parallel_tasks(std::int64_t n, Task&& task) {
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t i = 0; i < n; ++i) {
    try {
      task(i);
    } catch (...) {
#pragma omp critical(ptq_parallel_tasks)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace ptq
