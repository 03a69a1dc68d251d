// Linked instead of kernels/ when the build has no CUDA compiler.
#include <stdexcept>

#include "block_stats.hpp"
#include "jcas/cuda_backend.hpp"

namespace jcas::cuda {
namespace {
[[noreturn]] void not_compiled() {
  throw std::runtime_error("device = cuda: the CUDA backend was not compiled (no CUDA compiler at build time)");
}
}  // namespace
int device_count(std::string* why) {
  if (why) *why = "the CUDA backend was not compiled";
  return 0;
}
device_peaks peaks(int) { not_compiled(); }
void* device_alloc(std::size_t, int) { not_compiled(); }
void device_free(void*, int) noexcept {}
void copy_to_host(void*, const void*, std::size_t, int) { not_compiled(); }
void copy_to_device(void*, const void*, std::size_t, int) { not_compiled(); }
void order_after(std::uintptr_t stream, int) {
  if (stream > 1) not_compiled();
}
channel_set generate_batch(const scenario&, std::uint64_t, long, long, int, bool) { not_compiled(); }
solve_output solve_batch(const channel_view&, const solve_options&, int) { not_compiled(); }
solve_output solve_drawn(const scenario&, std::uint64_t, long, long, const solve_options&, int) { not_compiled(); }
double loss_and_gradient(const channel_view&, const std::vector<zd>&, const std::vector<zd>&, const std::vector<long>&,
                         const unfolded_model&, const system_params<double>&, std::vector<double>&, int, train_kernel) {
  not_compiled();
}
std::vector<mc::block_summary> summarize_drawn(const scenario&, std::uint64_t, long, long, const solve_options&, long,
                                               std::uint64_t, int) {
  not_compiled();
}
namespace detail {
void train_state_deleter::operator()(train_state*) const noexcept {}
}  // namespace detail
trainer::trainer(const channel_view&, const std::vector<zd>&, const std::vector<zd>&, const unfolded_model&,
                 const system_params<double>&, long, int, train_kernel) {
  not_compiled();
}
trainer::~trainer() = default;
void trainer::load(const channel_view&, const std::vector<zd>&, const std::vector<zd>&) { not_compiled(); }
void trainer::draw(const scenario&, std::uint64_t, long, long, bool) { not_compiled(); }
void trainer::set_state(const std::vector<double>&, const std::vector<double>&, const std::vector<double>&) {
  not_compiled();
}
void trainer::order(const std::vector<long>&) { not_compiled(); }
void trainer::step(long, long, const core::adam_coeffs&) { not_compiled(); }
std::vector<double> trainer::done() { not_compiled(); }
std::vector<double> trainer::losses() { not_compiled(); }
void trainer::state(std::vector<double>&, std::vector<double>&, std::vector<double>&) { not_compiled(); }
}  // namespace jcas::cuda
