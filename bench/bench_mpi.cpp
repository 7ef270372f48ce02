// The exchange of data-parallel meta-training (docs/scaling.md), timed alone:
// MPI_Allgather of k member slots per rank (a slot: 16 bytes of header and the 5,141
// floats of the default optimizer's dL/dphi, as host/meta/train.cpp sends them), and, for
// comparison, MPI_Allreduce of one gradient (what a non-deterministic reduction would send).
//   mpirun -np 2 build/bench/l2o_bench_mpi
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::size_t slot = 16 + 5141 * sizeof(float);
  auto timed = [](auto&& op) {  // median of 9 means of 50 calls, seconds per call
    std::vector<double> t;
    for (int r = 0; r < 9; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = MPI_Wtime();
      for (int i = 0; i < 50; ++i) op();
      double dt = (MPI_Wtime() - t0) / 50, worst = 0;
      MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      t.push_back(worst);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  if (rank == 0) std::printf("ranks %d, slot %zu bytes\n", size, slot);
  for (int k : {1, 2, 4, 8, 16, 64}) {
    std::vector<char> in(k * slot, 1), out(static_cast<std::size_t>(size) * k * slot);
    const double s = timed([&] {
      MPI_Allgather(in.data(), static_cast<int>(in.size()), MPI_BYTE, out.data(),
                    static_cast<int>(in.size()), MPI_BYTE, MPI_COMM_WORLD);
    });
    if (rank == 0)
      std::printf("allgather  %3d slots/rank  %9zu bytes/rank  %8.1f us\n", k, in.size(), s * 1e6);
  }
  std::vector<float> g(5141, 1.0f), r(5141);
  const double s =
      timed([&] { MPI_Allreduce(g.data(), r.data(), 5141, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
  if (rank == 0) std::printf("allreduce  5141 floats                       %8.1f us\n", s * 1e6);
  MPI_Finalize();
}
