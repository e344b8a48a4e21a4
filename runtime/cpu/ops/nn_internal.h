// Shared by the CPU nn kernels (runtime/cpu/ops/nn_*.cpp) and the OpenCL nn ops
// (runtime/opencl/ops_nn.cpp): the kernel entry points, the spatial geometry of convolutions and
// pools (kernel, strides, dilations, pads, auto_pad) normalised to three spatial axes by
// prepending unit axes, and Resize's parameters and per-axis (input index, weight) taps. The
// plain-value helpers return errors that do not name a node; the CPU kernels name it with
// name_node().
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

// `st` with the node named in front of its message (same code); ok stays ok.
Status name_node(const OpContext& ctx, const Status& st);

// Window attributes of a convolution or pool as read from the node; empty vectors stand for
// the defaults (strides and dilations 1, pads 0).
struct WindowAttrs {
  std::vector<int64_t> strides, dilations, pads;
  std::string auto_pad = "NOTSET";
};

// Reads strides, dilations, pads and auto_pad from the node.
WindowAttrs read_window_attrs(const OpContext& ctx);

// Checks that auto_pad is NOTSET, SAME_UPPER, SAME_LOWER or VALID.
Status check_auto_pad(const std::string& auto_pad);

// Range checks of kernel, stride, dilation and pads of spatial axis i of nsp (the vectors have
// nsp, nsp, nsp and 2 * nsp values).
Status check_window_axis(int i, int nsp, const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                         const std::vector<int64_t>& pads);

// Validates the rank of an N x C x spatial input (1..3 spatial axes), the kernel sizes and the
// window attributes, and computes output sizes and pads.
Expected<Geom> compute_geom(const Shape& x_shape, const std::vector<int64_t>& kernel,
                            WindowAttrs attrs, const GeomOptions& opt);

// compute_geom with the attributes read from the node and errors naming it.
Status make_geom(const OpContext& ctx, const Shape& x_shape, const std::vector<int64_t>& kernel,
                 const GeomOptions& opt, Geom* g);

// Checks the rank of an N x C x D1.. input: 1..3 spatial axes; names `what` in the error.
Status check_spatial_rank(const Shape& x_shape, const std::string& what);
Status check_spatial_rank(const OpContext& ctx, const Shape& x_shape, const std::string& what);

// Output shape N x channels x out spatial axes.
Shape out_shape_of(const Geom& g, int64_t n, int64_t channels);

// The range [lo, hi) of t in [0, count) with lo_bound <= t * a + b < hi_bound (a > 0).
struct Range {
  int64_t lo, hi;
};
Range affine_range(int64_t count, int64_t a, int64_t b, int64_t lo_bound, int64_t hi_bound);

// --- Resize / Upsample ------------------------------------------------------------------------

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class ResizeCoord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
// kSimple: the behaviour before opset 11 (floor when upsampling, ceil when downsampling).
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

// Resize's attributes as read from the node; only those of the node's opset are read.
struct ResizeAttrs {
  std::string mode = "nearest";
  std::string coord = "half_pixel";            // opset 11+
  std::string nearest = "round_prefer_floor";  // opset 11+
  double cubic_a = -0.75;                      // opset 11+
  int64_t exclude_outside = 0;                 // opset 11+
  double extrapolation = 0;                    // opset 11+
  int64_t antialias = 0;                       // opset 18+
  std::string policy = "stretch";              // opset 18+: keep_aspect_ratio_policy
  std::vector<int64_t> axes;                   // opset 18+
};

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoord coord = ResizeCoord::kAsymmetric;
  ResizeNearest nearest = ResizeNearest::kSimple;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
  std::vector<double> scales;  // per axis of X
  std::vector<double> roi;     // 2 * rank: starts then ends
  Shape out;
};

// Resize's parameters and output shape. Before opset 11 `scales` is input 1 (nullptr when
// absent); from opset 11 `roi`, `scales` and `sizes` are inputs 1 to 3, nullptr when absent or
// empty.
Expected<ResizeParams> resize_params(const ResizeAttrs& attrs, int opset, const Shape& x_shape,
                                     const Tensor* roi, const Tensor* scales, const Tensor* sizes);

// Upsample's parameters and output shape: scales from input 1 (opset 9, nullptr when absent) or
// from the attribute (opsets 7-8, nullptr when absent).
Expected<ResizeParams> upsample_params(const std::string& mode, int opset, const Shape& x_shape,
                                       const Tensor* scales_input,
                                       const std::vector<float>* scales_attr);

// Checks that no axis of size 0 is resized to a non-empty one.
Status check_resize_source(const Shape& x_shape, const Shape& out);

// The taps of one axis: for output coordinate o, entries [begin[o], begin[o + 1]) of idx (input
// index, clamped into the input) and w (weight, never 0 for linear and cubic modes). outside[o]
// marks a coordinate whose value is the extrapolation value (tf_crop_and_resize) or that is not
// finite; such a coordinate has one entry (0, 0).
struct AxisTaps {
  std::vector<int64_t> begin, idx;
  std::vector<double> w;
  std::vector<uint8_t> outside;
};

// The most taps one coordinate of `axis` may get (1 for nearest, 2 linear, 4 cubic, more with
// antialias when downsampling).
int64_t taps_per_coord(const ResizeParams& p, int axis);

void build_taps(const ResizeParams& p, int axis, int64_t in, int64_t out, AxisTaps* t);

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
