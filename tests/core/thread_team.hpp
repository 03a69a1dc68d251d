// A team of std::threads for core::unfolded_team (the CUDA warp's role on the CPU): a
// real barrier, and sums through a shared array added in rank order, so that a missing
// barrier in the team route shows as a wrong or unstable result, or as a race under
// ThreadSanitizer (tsan_team.cpp).
#pragma once
#include <barrier>
#include <thread>
#include <vector>

namespace jcas::test {

struct team_shared {
  explicit team_shared(int n) : bar(n), part(size_t(n)) {}
  std::barrier<> bar;
  std::vector<double> part;  // float and double both convert exactly
};

struct thread_team {
  int r, n;
  team_shared* s;
  int rank() const { return r; }
  int size() const { return n; }
  void sync() const { s->bar.arrive_and_wait(); }
  template <class T>
  T sum(T x) const {
    s->part[size_t(r)] = double(x);
    sync();
    T t = 0;
    for (int i = 0; i < n; ++i) t += T(s->part[size_t(i)]);
    sync();  // nobody writes part again before every rank has read it
    return t;
  }
};

/// fn(team) on `size` threads at once, each with its own rank; returns when all are done.
template <class Fn>
void run_team(int size, const Fn& fn) {
  team_shared sh(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { fn(thread_team{r, size, &sh}); });
  for (std::thread& t : threads) t.join();
}

}  // namespace jcas::test
