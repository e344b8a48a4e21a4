// Shared by the CPU nn kernels (runtime/cpu/ops/nn_*.cpp): the kernel entry points and the
// spatial geometry of convolutions and pools (kernel, strides, dilations, pads, auto_pad),
// normalised to three spatial axes by prepending unit axes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cpu/kernel.h"

namespace kiln::cpu::nn {

// The most spatial axes the direct loops handle (1-D, 2-D and 3-D inputs).
constexpr int kMaxSpatial = 3;

// Geometry of one convolution or pooling window over up to three spatial axes. Axes beyond
// the input's spatial rank are leading unit axes (size 1, kernel 1, stride 1, no padding).
struct Geom {
  int nsp = 0;  // spatial rank of the input (1..3)
  std::array<int64_t, kMaxSpatial> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1};
  std::array<int64_t, kMaxSpatial> pb{0, 0, 0}, pe{0, 0, 0}, out{1, 1, 1};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

struct GeomOptions {
  bool pool = false;       // pooling: ceil_mode allowed, pads must be smaller than the window
  bool ceil_mode = false;  // round output sizes up (explicit padding only)
};

// Index into a Geom array of spatial axis i (0-based over the input's spatial axes).
inline int geom_axis(const Geom& g, int i) {
  return kMaxSpatial - g.nsp + i;
}

// Validates the rank of an N x C x spatial input (1..3 spatial axes) and the kernel sizes, reads
// strides, dilations, pads and auto_pad from the node and computes output sizes and pads.
Status make_geom(const OpContext& ctx, const Shape& x_shape, const std::vector<int64_t>& kernel,
                 const GeomOptions& opt, Geom* g);

// Checks the rank of an N x C x D1.. input: 1..3 spatial axes; names `what` in the error.
Status check_spatial_rank(const OpContext& ctx, const Shape& x_shape, const std::string& what);

// Output shape N x channels x out spatial axes.
Shape out_shape_of(const Geom& g, int64_t n, int64_t channels);

// The range [lo, hi) of t in [0, count) with lo_bound <= t * a + b < hi_bound (a > 0).
struct Range {
  int64_t lo, hi;
};
Range affine_range(int64_t count, int64_t a, int64_t b, int64_t lo_bound, int64_t hi_bound);

// Kernels.
Status conv_kernel(OpContext& ctx);
Status conv_transpose_kernel(OpContext& ctx);
Status conv_integer_kernel(OpContext& ctx);
Status qlinear_conv_kernel(OpContext& ctx);
Status max_pool_kernel(OpContext& ctx);
Status average_pool_kernel(OpContext& ctx);
Status lp_pool_kernel(OpContext& ctx);
Status global_average_pool_kernel(OpContext& ctx);
Status global_max_pool_kernel(OpContext& ctx);
Status global_lp_pool_kernel(OpContext& ctx);
Status batch_normalization_kernel(OpContext& ctx);
Status lrn_kernel(OpContext& ctx);
Status resize_kernel(OpContext& ctx);
Status upsample_kernel(OpContext& ctx);

}  // namespace kiln::cpu::nn
