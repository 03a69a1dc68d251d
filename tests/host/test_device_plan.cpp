// The arithmetic behind every CUDA chunk size and the GPU watchdog (host/device_plan.hpp,
// host/watchdog.hpp), held on the CPU: the faults of the first H200 run came from sizes
// nobody had added up.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "device_plan.hpp"
#include "watchdog.hpp"

namespace jcas::test {
namespace {

constexpr double gb = 1e9;

TEST(DevicePlan, ChunksFitTheFreeMemory) {
  const plan::device_need need{"solve", 1 * gb, 1e6};                // 1 GB fixed, 1 MB a realization
  EXPECT_EQ(plan::chunk_for(1000, need, 100 * gb, 65536), 1000);     // all of them
  EXPECT_EQ(plan::chunk_for(100000, need, 100 * gb, 65536), 65536);  // the cap
  const long c = plan::chunk_for(1000000, need, 10 * gb, 1L << 30);  // the memory
  EXPECT_LE(1 * gb + double(c) * 1e6, plan::usable_share * 10 * gb);
  EXPECT_GT(1 * gb + double(c + 1) * 1e6, plan::usable_share * 10 * gb);
}

TEST(DevicePlan, OneRealizationThatDoesNotFitIsNamed) {
  const plan::device_need need{"unfolded solve (f64, global scratch)", 2 * gb, 3 * gb};
  try {
    plan::chunk_for(65536, need, 4 * gb, 65536);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    for (const char* part : {"unfolded solve (f64, global scratch)", "65536 realizations", "2 GB", "3 GB", "4 GB"})
      EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// The cuSOLVER F0 route at 65536 realizations of the paper's size (J = 4, K = 4, M = 2,
// Nr = 16): what it asks for per realization, in float and double, and its eigen-solver's
// calls kept within their workspace budget even if the library asked a megabyte a matrix
// (the route's 131072 matrices in one call is what ran out of a 141 GB device).
TEST(DevicePlan, CusolverRouteBytes) {
  const double f32 = plan::f0_route_bytes_per_item(16, 4, 2, 4, 4), f64 = plan::f0_route_bytes_per_item(16, 4, 2, 4, 8);
  EXPECT_EQ(f32, 8 * (4 * 4 * 16 + 2 * 2 * 256) + 4 * 2 * 16 + (16 + 8) * 2);
  EXPECT_LT(65536 * f64, 1.5 * gb);
  const double budget = 1 << 30;
  const long matrices = 65536L * 2, limit = 2147483647L / 256;
  EXPECT_EQ(plan::batch_within(matrices, limit, 4096, 2048, budget), matrices);  // small: one call
  const long capped = plan::batch_within(matrices, limit, 4096, 1e6, budget);
  EXPECT_LT(capped, matrices);
  EXPECT_LE(4096 + 1e6 * double(capped), budget);
  EXPECT_EQ(plan::batch_within(matrices, limit, 4096, 2 * budget, budget), 1);  // at least one
  EXPECT_EQ(plan::batch_within(matrices, 1000, 0, 1, budget), 1000);            // the routine's own bound
}

// The local memory the driver reserves for a 32 KB slot on an H200 (132 SMs x 2048
// threads): 8.9 GB, which the chunk of the local-slot kernel leaves free.
TEST(DevicePlan, LocalSlotReservation) {
  EXPECT_NEAR(plan::local_reservation(32768, 132, 2048), 8.86 * gb, 0.01 * gb);
  const plan::device_need need{"solve (local)", plan::local_reservation(32768, 132, 2048), 3000};
  EXPECT_LE(need.fixed + 3000.0 * double(plan::chunk_for(1L << 40, need, 16 * gb, 1L << 40)), 0.8 * 16 * gb);
}

TEST(DevicePlan, BytesForMessages) {
  EXPECT_EQ(plan::bytes_str(512), "512 B");
  EXPECT_EQ(plan::bytes_str(1.5e9), "1.5 GB");
  EXPECT_EQ(plan::bytes_str(74.3e9), "74.3 GB");
}

// The watchdog with a clock of the test's own: a call that ends in time ends quietly; one
// past report_at x its prediction is reported once on stderr; one past the limit stops
// with an error naming the work and the times; factor 0 or no prediction waits on.
TEST(Watchdog, ReportsThenStops) {
  plan::watchdog wd;
  wd.what = "unfolded solve (f32) on 65536 realizations";
  wd.predicted = 2;
  wd.factor = 20;
  wd.grace = 60;
  double now = 0, scale = 1;
  int polls = 0;
  const auto tick = [&](double s) { now += s * scale; };
  wd.wait([&] { return ++polls == 10; }, [&] { return now; }, tick);
  EXPECT_EQ(polls, 10);
  EXPECT_LT(now, 0.1);
  now = 0;
  scale = 1e4;  // every nap is 10^4 times longer from here
  testing::internal::CaptureStderr();
  try {
    wd.wait([] { return false; }, [&] { return now; }, tick);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_GT(now, 100.0);
    EXPECT_LT(now, 100.0 + 20e-3 * 1e4 + 1e-9);
    for (const char* part : {"unfolded solve (f32) on 65536 realizations", "20x", "2.00 s", "60 s", "--gpu-watchdog 0"})
      EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("its predicted 2.00 s"), std::string::npos) << err;
  for (const double factor : {0.0, 20.0}) {
    plan::watchdog free = wd;
    free.factor = factor;
    free.report_at = 0;
    if (factor > 0) free.predicted = 0;  // no prediction: no limit either
    now = 0;
    polls = 0;
    free.wait([&] { return ++polls == 200; }, [&] { return now; }, tick);
    EXPECT_GT(now, 1000.0);
  }
}

}  // namespace
}  // namespace jcas::test
