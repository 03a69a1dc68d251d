// Processes (issue 5): the few collective operations jcas needs, over MPI when the build
// has it (JCAS_HAVE_MPI) and trivial for one process otherwise. Work is split in
// contiguous blocks by rank; results are gathered back in index order, so any number of
// ranks gives bit-for-bit the statistics and the model of one process (on GPUs, where
// each rank's blocks are summarised on its device, the same sample and the same moments
// up to the rounding of their pairwise merge: host/block_stats.hpp).
#pragma once
#include <utility>
#include <vector>

namespace jcas::mpi {

struct world {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // within this node (one GPU per local rank)
  bool root() const { return rank == 0; }
};

/// Starts MPI (no-op without it); call once from main. Idempotent.
void init(int* argc, char*** argv);
/// Ends MPI; call once before main returns.
void finalize();
/// Aborts every rank (after an error on one of them, so that none waits forever).
[[noreturn]] void abort_all(int code);
const world& get();
bool built_with_mpi();

/// The block [lo, hi) of n items that `rank` of `size` takes (the first n % size ranks
/// take one more).
std::pair<long, long> block(long n, int rank, int size);

/// Every rank passes its block (of block(n, rank, size), each item `stride` doubles);
/// every rank receives all n items in index order.
std::vector<double> allgather_blocks(const std::vector<double>& mine, long n, long stride);

/// Every rank passes values of any number; every rank receives all ranks' values,
/// concatenated in rank order.
std::vector<double> allgather_concat(const std::vector<double>& mine);

}  // namespace jcas::mpi
