// FNV-1a over bytes, in hex: the fingerprints a resume checks (a training's data,
// host/training.cpp; a solve's model and settings, host/solve_file.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace jcas::host {

struct fnv1a {
  std::uint64_t h = 1469598103934665603ULL;
  fnv1a& add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
    return *this;
  }
  template <class T>
  fnv1a& add(const std::vector<T>& v) {
    return add(v.data(), v.size() * sizeof(T));
  }
  std::string hex() const {
    char s[24];
    std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(h));
    return s;
  }
};

}  // namespace jcas::host
