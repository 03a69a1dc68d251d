#include "mpi.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#ifdef JCAS_HAVE_MPI
#include <mpi.h>
#endif

namespace jcas::mpi {

namespace {
world g_world;
bool g_started = false;
[[maybe_unused]] bool g_mpi = false;  // MPI_Init was called (only ever set in MPI builds)
}  // namespace

bool built_with_mpi() {
#ifdef JCAS_HAVE_MPI
  return true;
#else
  return false;
#endif
}

void init(int* argc, char*** argv) {
  if (g_started) return;
  g_started = true;
#ifdef JCAS_HAVE_MPI
  // Only under a launcher: a singleton MPI_Init costs about half a second per command.
  bool launched = false;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    launched |= std::getenv(v) != nullptr;
  if (!launched) return;
  MPI_Init(argc, argv);
  g_mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &g_world.local_rank);
  MPI_Comm_size(node, &g_world.local_size);
  MPI_Comm_free(&node);
#else
  (void)argc;
  (void)argv;
#endif
}

void finalize() {
#ifdef JCAS_HAVE_MPI
  if (g_mpi) MPI_Finalize();
  g_mpi = false;
#endif
  g_started = false;
}

void abort_all(int code) {
#ifdef JCAS_HAVE_MPI
  if (g_mpi && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

const world& get() { return g_world; }

std::pair<long, long> block(long n, int rank, int size) {
  const long base = n / size, extra = n % size;
  const long lo = rank * base + std::min<long>(rank, extra);
  return {lo, lo + base + (rank < extra ? 1 : 0)};
}

std::vector<double> allgather_blocks(const std::vector<double>& mine, long n, long stride) {
  const world& w = g_world;
  const auto [lo, hi] = block(n, w.rank, w.size);
  if (long(mine.size()) != (hi - lo) * stride)
    throw std::logic_error("allgather_blocks: " + std::to_string(mine.size()) + " values for a block of " +
                           std::to_string(hi - lo) + " items");
  if (w.size == 1) return mine;
#ifdef JCAS_HAVE_MPI
  std::vector<int> counts(size_t(w.size)), displs(size_t(w.size));
  for (int r = 0; r < w.size; ++r) {
    const auto [a, b] = block(n, r, w.size);
    counts[r] = int((b - a) * stride);
    displs[r] = int(a * stride);
  }
  std::vector<double> all(size_t(n * stride));
  MPI_Allgatherv(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE,
                 MPI_COMM_WORLD);
  return all;
#else
  return mine;
#endif
}

std::vector<double> allgather_concat(const std::vector<double>& mine) {
  const world& w = g_world;
  if (w.size == 1) return mine;
#ifdef JCAS_HAVE_MPI
  const int count = int(mine.size());
  std::vector<int> counts(size_t(w.size)), displs(size_t(w.size));
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  long total = 0;
  for (int r = 0; r < w.size; ++r) {
    displs[size_t(r)] = int(total);
    total += counts[size_t(r)];
  }
  std::vector<double> all(static_cast<size_t>(total));
  MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
#else
  return mine;
#endif
}

}  // namespace jcas::mpi
