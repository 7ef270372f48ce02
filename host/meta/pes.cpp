// Persistent evolution strategies (include/l2o/meta.hpp, docs/generalisation.md): N
// particles, each an Unroller of its own copy of the optimizee, run forward only with
// perturbed phi; the perturbations accumulate per particle across the optimizee's
// truncations.
#include "host/fail.hpp"
#include "host/meta/sums.hpp"
#include "host/nvtx.hpp"
#include "l2o/meta.hpp"
#include "maths/random.hpp"

#include <cmath>
#include <utility>

namespace l2o {

PesUnroller::PesUnroller(const Weights& phi, std::size_t n, int unroll, PesOptions options,
                         Device device, std::vector<float> omega)
    : n_(n), unroll_(unroll), opt_(options), device_(device), phi_(phi), omega_(std::move(omega)) {
  if (opt_.particles < 2 || opt_.particles % 2 != 0)
    fail("PES: ", opt_.particles, " particles, expected an even number >= 2 (antithetic pairs)");
  if (!(opt_.sigma > 0) || !std::isfinite(opt_.sigma))
    fail("PES: sigma = ", opt_.sigma, ", expected a finite value > 0");
  if (!omega_.empty() && omega_.size() != static_cast<std::size_t>(unroll))
    fail("PES: ", omega_.size(), " loss weights for an unroll of ", unroll, " steps");
  // (an LSTM-sub phi's particles are made at start(), for the optimizee's groups)
  if (phi.config().groups == 1) {
    particles_.reserve(opt_.particles);
    for (int i = 0; i < opt_.particles; ++i)
      particles_.emplace_back(phi, n, unroll, device, omega_);
  }
  xi_.assign(opt_.particles / 2, std::vector<float>(phi.size(), 0.0f));
}

PesUnroller::~PesUnroller() = default;
PesUnroller::PesUnroller(PesUnroller&&) noexcept = default;
PesUnroller& PesUnroller::operator=(PesUnroller&&) noexcept = default;

Device PesUnroller::device() const {
  return particles_.empty() ? resolve(device_) : particles_.front().device();
}

void PesUnroller::set_weights(const Weights& phi) {
  if (phi.config() != phi_.config())
    fail("PES: set_weights with '", describe(phi.config()), "', the unroller runs '",
         describe(phi_.config()), "'");
  phi_ = phi;
}

float PesUnroller::start(std::vector<std::unique_ptr<Optimizee>> particles,
                         std::uint64_t noise_seed) {
  if (particles.size() != static_cast<std::size_t>(opt_.particles))
    fail("PES: start with ", particles.size(), " optimizees for ", opt_.particles, " particles");
  for (const auto& f : particles)
    if (!f) fail("PES: start with a null optimizee");
  fs_ = std::move(particles);
  if (phi_.config().groups > 1 &&
      (particles_.empty() || particles_.front().group_sizes() != fs_.front()->groups())) {
    particles_.clear();
    particles_.reserve(opt_.particles);
    for (int i = 0; i < opt_.particles; ++i)
      particles_.emplace_back(phi_, fs_.front()->groups(), unroll_, device_, omega_);
    n_ = particles_.front().size();
  }
  float f0 = 0.0f;
  for (std::size_t i = 0; i < particles_.size(); ++i) {
    const float l = particles_[i].start(*fs_[i]);
    if (i == 0) f0 = l;
  }
  for (auto& xi : xi_) std::fill(xi.begin(), xi.end(), 0.0f);
  noise_ = noise_seed;
  drawn_ = 0;
  return f0;
}

std::vector<float> PesUnroller::unroll(std::vector<float>* dphi) {
  L2O_NVTX_RANGE("l2o PES unroll");
  if (fs_.empty()) fail("PES: unroll() before start()");
  const std::size_t P = phi_.size();
  const int pairs = opt_.particles / 2;
  // This truncation's perturbations: one stream per (optimizee, truncation, pair), so a
  // pair's noise does not depend on how many pairs there are.
  const std::uint64_t truncation = splitmix64(noise_ + 0x7065732D6E6F6973ull * ++drawn_);
  std::vector<double> mean(unroll_, 0.0);
  std::vector<double> diff(pairs);  // L_+ - L_- of each pair
  std::vector<float> eps(P);
  Weights w = phi_;
  for (int k = 0; k < pairs; ++k) {
    Rng rng(splitmix64(truncation + static_cast<std::uint64_t>(k)));
    for (std::size_t j = 0; j < P; ++j) eps[j] = static_cast<float>(rng.normal() * opt_.sigma);
    for (int side = 0; side < 2; ++side) {
      const float sign = side == 0 ? 1.0f : -1.0f;
      for (std::size_t j = 0; j < P; ++j) w.values()[j] = phi_.values()[j] + sign * eps[j];
      Unroller& u = particles_[2 * k + side];
      u.set_weights(w);
      const std::vector<float> losses = u.unroll(*fs_[2 * k + side], nullptr);
      for (int t = 0; t < unroll_; ++t) mean[t] += losses[t];
      diff[k] += sign * detail::unroll_loss(losses, omega_, unroll_);
    }
    for (std::size_t j = 0; j < P; ++j) xi_[k][j] += eps[j];
  }
  // The - particle of each pair has accumulated -xi: sum_i xi_i L_i = sum_k xi_k (L_+ - L_-).
  if (dphi) {
    dphi->assign(P, 0.0f);
    const double scale = 1.0 / (opt_.particles * opt_.sigma * opt_.sigma);
    for (std::size_t j = 0; j < P; ++j) {
      double g = 0.0;
      for (int k = 0; k < pairs; ++k) g += xi_[k][j] * diff[k];
      (*dphi)[j] = static_cast<float>(g * scale);
    }
  }
  std::vector<float> out(unroll_);
  for (int t = 0; t < unroll_; ++t) out[t] = static_cast<float>(mean[t] / opt_.particles);
  return out;
}

}  // namespace l2o
