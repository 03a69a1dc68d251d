// How much of a batch goes to the device at once: plain arithmetic on byte counts, with
// no CUDA in it, so that the CPU tests hold it (tests/host/test_device_plan.cpp) and the
// CUDA launchers (kernels/) take every chunk size from it. A launcher states what its
// kernels will allocate -- a fixed part (model tables, library workspaces, the local
// memory the driver reserves for a kernel's stack) and a part per realization (inputs,
// outputs, scratch) -- and gets the chunk, or one line naming the batch and the bytes
// when not even one realization fits.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace jcas::plan {

/// "1.23 GB", "512 B": a byte count for messages.
inline std::string bytes_str(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  char s[32];
  std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.3g %s", b, unit[u]);
  return s;
}

/// What a launcher's kernels allocate on the device for a batch.
struct device_need {
  std::string what;     // names the work in messages: "unfolded solve (f32, a warp per realization)"
  double fixed = 0;     // bytes allocated once per call, whatever the chunk
  double per_item = 0;  // bytes per realization of a chunk
};

/// The share of the free device memory a call may take: the rest stays for the driver
/// (kernel launches, library handles) and for other processes on the device.
constexpr double usable_share = 0.8;

/// Realizations per chunk for `count` realizations: as many as fit usable_share of
/// free_bytes after need.fixed, at most cap, at least 1. Throws std::runtime_error naming
/// the batch, the bytes one realization needs and the free bytes when not even one fits.
inline long chunk_for(long count, const device_need& need, double free_bytes, long cap) {
  const double room = usable_share * free_bytes - need.fixed;
  const double per = std::max(need.per_item, 1.0);
  if (count < 1) return 1;
  if (room < per)
    throw std::runtime_error(need.what + ": a batch of " + std::to_string(count) + " realizations needs " +
                             bytes_str(need.fixed) + " plus " + bytes_str(need.per_item) +
                             " a realization of device memory; " + bytes_str(free_bytes) +
                             " is free, so not even one realization fits");
  const double fit = room / per;
  return std::max(1L, std::min({count, cap, fit >= 9.2e18 ? cap : long(fit)}));
}

/// Matrices per call of a batched library routine whose device workspace is
/// `base + per_matrix * batch` bytes: all `matrices` (at most `limit`, the routine's own
/// bound) when that fits `budget`, else as many as do (at least 1).
inline long batch_within(long matrices, long limit, double base, double per_matrix, double budget) {
  const long most = std::max(1L, std::min(matrices, limit));
  if (per_matrix <= 0 || base + per_matrix * double(most) <= budget) return most;
  const double fit = (budget - base) / per_matrix;
  return std::max(1L, std::min(most, fit < 1 ? 1L : long(fit)));
}

/// Device bytes per realization of the cuSOLVER F0 route (kernels/f0_cusolver.cu) in a
/// precision of `real` bytes: the products G_j W0 (J K Nr), the pencils A_m, B_m (2 M Nr^2),
/// the eigenvalues (M Nr), two pointer arrays and two info arrays (M each). Its eigen-
/// solver's workspace is apart: a fixed budget (f0_cusolver_route::workspace_budget).
inline double f0_route_bytes_per_item(int nr, int k, int m, int j, double real) {
  const double cplx = 2 * real, nn = double(nr) * nr;
  return cplx * (double(j) * k * nr + 2.0 * m * nn) + real * m * nr + (2 * sizeof(void*) + 2 * sizeof(int)) * double(m);
}

/// The local memory the driver reserves for a kernel whose threads each have
/// `local_bytes` of stack: every thread the device can hold at once gets its own.
inline double local_reservation(double local_bytes, int sms, int threads_per_sm) {
  return local_bytes * double(sms) * double(threads_per_sm);
}

}  // namespace jcas::plan
