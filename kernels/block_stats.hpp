// Monte Carlo's statistics of a block of results where they were computed (issue 26), by
// Thrust on its device system: reductions for the moments, a selection and a sort by key
// for the sample's candidates, so that only the summary (host/block_stats.hpp) crosses to
// the host. The CUDA backend compiles it for the GPU (kernels/block_stats.cu); the tests
// compile the same code for Thrust's C++ system (THRUST_DEVICE_SYSTEM_CPP) and check it
// against the host's tally on the CPU (tests/host/test_block_stats.cpp).
#pragma once
#include <thrust/copy.h>
#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/find.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>
#include <thrust/tuple.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "host/block_stats.hpp"

namespace jcas::mc::device {

// Internal linkage: each system's instantiation stays in its own translation unit.
namespace {

/// Column c of the results (n x {objective, min_gamma_c, min_gamma_s, outer} in T), in
/// double as the host reads them (host/batch_inputs.hpp: store_results).
template <class T>
struct column {
  const T* res;
  int c;
  JCAS_HD double operator()(long i) const { return double(res[4 * i + c]); }
};

template <class T>
struct squared_deviation {
  const T* res;
  double mean;
  JCAS_HD double operator()(long i) const {
    const double d = double(res[4 * i]) - mean;
    return d * d;
  }
};

struct key_of {
  std::uint64_t seed;
  long first;
  JCAS_HD std::uint64_t operator()(long i) const { return sample_key(seed, first + i); }
};

/// A key that may enter: below `entry`, or any key where entry is the largest (a sample
/// still short: tally::entry_key).
struct key_below {
  std::uint64_t entry;
  template <class Tuple>
  JCAS_HD bool operator()(const Tuple& t) const {
    return entry == ~std::uint64_t(0) || thrust::get<0>(t) < entry;
  }
};

struct nonzero {
  JCAS_HD bool operator()(int s) const { return s != 0; }
};

/// The moments of n results at res (device memory): the objective's mean and squared
/// deviations about it in two passes, the minima's sums.
template <class T>
moments block_moments(const T* res, long n) {
  moments m;
  m.n = n;
  if (n == 0) return m;
  const thrust::counting_iterator<long> i0(0);
  const auto sum = [&](auto f) {
    return thrust::transform_reduce(thrust::device, i0, i0 + n, f, 0.0, thrust::plus<double>());
  };
  m.mean = sum(column<T>{res, 0}) / double(n);
  m.m2 = sum(squared_deviation<T>{res, m.mean});
  m.sum_sinr = sum(column<T>{res, 1});
  m.sum_scnr = sum(column<T>{res, 2});
  return m;
}

/// The candidates of n results at res (device memory) for realizations first .. first +
/// n - 1 of a run of `seed`: those whose keys are below `entry` (all where it is the
/// largest key), ascending by key, the `keep` smallest at most.
template <class T>
std::vector<kept> block_candidates(const T* res, long n, std::uint64_t seed, long first, std::uint64_t entry,
                                   long keep) {
  if (n == 0 || keep <= 0) return {};
  const thrust::counting_iterator<long> i0(0);
  const auto in =
      thrust::make_zip_iterator(thrust::make_tuple(thrust::make_transform_iterator(i0, key_of{seed, first}), i0));
  thrust::device_vector<std::uint64_t> key(static_cast<size_t>(n));
  thrust::device_vector<long> at(static_cast<size_t>(n));
  const auto out = thrust::make_zip_iterator(thrust::make_tuple(key.begin(), at.begin()));
  const long count = long(thrust::copy_if(thrust::device, in, in + n, out, key_below{entry}) - out);
  thrust::sort_by_key(thrust::device, key.begin(), key.begin() + count, at.begin());
  const long c = std::min(count, keep);
  thrust::device_vector<double> objective(static_cast<size_t>(c));
  thrust::transform(thrust::device, at.begin(), at.begin() + c, objective.begin(), column<T>{res, 0});
  std::vector<std::uint64_t> k(static_cast<size_t>(c));
  std::vector<long> a(static_cast<size_t>(c));
  std::vector<double> o(static_cast<size_t>(c));
  thrust::copy(key.begin(), key.begin() + c, k.begin());
  thrust::copy(at.begin(), at.begin() + c, a.begin());
  thrust::copy(objective.begin(), objective.end(), o.begin());
  std::vector<kept> r(static_cast<size_t>(c));
  for (long e = 0; e < c; ++e) r[size_t(e)] = {k[size_t(e)], first + a[size_t(e)], o[size_t(e)]};
  return r;
}

/// The first of n statuses (device memory) that is not ok, or -1; its value in *status.
inline long first_failure(const int* st, long n, int* status) {
  const thrust::device_ptr<const int> p(st);
  const long i = long(thrust::find_if(thrust::device, p, p + n, nonzero{}) - p);
  if (i == n) return -1;
  *status = p[i];
  return i;
}

}  // namespace

}  // namespace jcas::mc::device
