// MpiJob over MPI_COMM_WORLD when l2o's command line is built with MPI (L2O_WITH_MPI,
// CMakeLists.txt: find_package(MPI)); without it, a refusal under an MPI launcher.
#include "host/cli/mpi.hpp"

#include "host/fail.hpp"

#include <cstdlib>
#include <iostream>

#if defined(L2O_WITH_MPI)
#include <mpi.h>
#endif

namespace l2o::cli {
namespace {

// The launcher's variable that says this process is a rank of a job, or null.
const char* launcher_variable() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return v;
  return nullptr;
}

#if defined(L2O_WITH_MPI)
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(what, " failed: ", std::string(text, len));
}

class WorldJob final : public MpiJob {
 public:
  WorldJob() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) check(MPI_Init(nullptr, nullptr), "MPI_Init");
    // Errors come back as codes (turned into l2o::Error, then abort) rather than MPI's
    // default of ending the job without a word about which call failed.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ranks sharing this host's memory: this rank's place among them.
    MPI_Comm host;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host),
          "MPI_Comm_split_type");
    MPI_Comm_rank(host, &local_rank_);
    MPI_Comm_free(&host);
  }
  ~WorldJob() override {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int local_rank() const override { return local_rank_; }
  int size() const override { return size_; }
  void allgather(const void* in, std::size_t bytes, void* out) override {
    if (bytes > static_cast<std::size_t>(INT32_MAX)) fail("MPI_Allgather of ", bytes, " bytes");
    check(MPI_Allgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes),
                        MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgather");
  }
  [[noreturn]] void abort(int code, const std::string& message) override {
    std::cerr << "l2o (rank " << rank_ << " of " << size_ << "): " << message
              << "\nl2o: ending every rank of the job\n"
              << std::flush;
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};
#endif

}  // namespace

std::unique_ptr<MpiJob> join_mpi_job() {
  const char* v = launcher_variable();
  if (!v) return nullptr;
#if defined(L2O_WITH_MPI)
  return std::make_unique<WorldJob>();
#else
  fail("this l2o was built without MPI but runs under an MPI launcher (", v, "=", std::getenv(v),
       "): rebuild it with MPI (Debian: libopenmpi-dev) to train on several "
       "ranks");
#endif
}

}  // namespace l2o::cli
