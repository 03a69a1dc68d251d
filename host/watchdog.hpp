// The GPU watchdog: a device call that runs far past its predicted time is reported and
// stopped, not waited on forever. Plain C++ (the CUDA launchers in kernels/ poll a device
// event through it; the CPU tests drive it with a clock of their own). A prediction is
// the counted work of the call at a conservative device rate (host/gpu_model.hpp).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace jcas::plan {

struct watchdog {
  std::string what;      // the work, for the messages: "unfolded solve of 65536 realizations (f32)"
  double predicted = 0;  // seconds; 0: unknown (no limit)
  double factor = 20;    // the limit is factor x predicted + grace; 0: no limit
  double grace = 60;     // seconds
  double report_at = 3;  // one line on stderr once the call passes this multiple of predicted (0: never)

  double limit() const {
    return factor > 0 && predicted > 0 ? factor * predicted + grace : std::numeric_limits<double>::infinity();
  }

  /// Polls done() until it returns true, sleeping between polls (from 50 us up to 20 ms:
  /// a short call is not slowed, a long one costs no CPU). Prints one line on stderr when
  /// the call passes report_at x predicted; throws std::runtime_error naming the work, the
  /// time and the prediction once it passes limit(). elapsed() gives the seconds since the
  /// call started (the tests pass a clock of their own).
  template <class Done, class Elapsed>
  void wait(const Done& done, const Elapsed& elapsed, const std::function<void(double)>& sleep) const {
    double nap = 50e-6;
    bool reported = false;
    while (!done()) {
      const double t = elapsed();
      if (t > limit())
        throw std::runtime_error(what + ": still running after " + secs(t) + ", past " + times(factor) +
                                 " its predicted " + secs(predicted) + " plus " + secs(grace) +
                                 "; stopped (the device finishes the kernel only when the process ends; "
                                 "--gpu-watchdog 0 waits without a limit)");
      if (!reported && report_at > 0 && predicted > 0 && t > report_at * predicted) {
        std::fprintf(stderr, "jcas: %s has run %s, %s its predicted %s; still waiting (stopped after %s)\n",
                     what.c_str(), secs(t).c_str(), times(t / predicted).c_str(), secs(predicted).c_str(),
                     secs(limit()).c_str());
        reported = true;
      }
      sleep(nap);
      nap = std::min(nap * 2, 20e-3);
    }
  }

  /// The same with the steady clock and real sleeps.
  template <class Done>
  void wait(const Done& done) const {
    const auto t0 = std::chrono::steady_clock::now();
    wait(
        done, [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); },
        [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); });
  }

 private:
  static std::string times(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3gx", x);
    return b;
  }
  static std::string secs(double s) {
    char b[32];
    std::snprintf(b, sizeof b, s < 10 ? "%.2f s" : "%.0f s", s);
    return b;
  }
};

}  // namespace jcas::plan
