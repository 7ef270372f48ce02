// The MPI job an `l2o train` process is a rank of (docs/scaling.md): mpirun -np R l2o train
// ... runs R ranks that split every meta-batch (TrainOptions::collective).
#pragma once

#include "l2o/train.hpp"

#include <memory>
#include <string>

namespace l2o::cli {

class MpiJob : public Collective {
 public:
  virtual ~MpiJob() = default;
  // This rank among the ranks on its host (0 .. ranks on the host - 1): which GPU it takes.
  virtual int local_rank() const = 0;
  // Ends every rank of the job with `code` after printing `message` (on this rank): an
  // error on one rank must not leave the others waiting in a collective call.
  [[noreturn]] virtual void abort(int code, const std::string& message) = 0;
};

// When this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
// PMIX_RANK in the environment): MPI initialised and the world communicator, or, in a
// build without MPI, an l2o::Error saying so (R copies of a lone trainer would each write
// the same files). Otherwise null.
std::unique_ptr<MpiJob> join_mpi_job();

}  // namespace l2o::cli
