// CPU reference kernels: Resize (opsets 10-19+) and Upsample (opsets 7-9). Each resized axis gets
// a table of (input index, weight) taps per output coordinate; an output element is the nested
// weighted sum over the taps of every axis (outermost axis outermost), computed in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/nn_internal.h"

namespace kiln::cpu::nn {

namespace {

using Mode = ResizeMode;
using Coord = ResizeCoord;
using Nearest = ResizeNearest;
using Params = ResizeParams;

double original_coord(const Params& p, int axis, int64_t x, int64_t in, int64_t out) {
  const double scale = p.scales[axis];
  const double xd = static_cast<double>(x);
  const double len = scale * static_cast<double>(in);  // the resized length before flooring
  switch (p.coord) {
    case Coord::kHalfPixel:
      return (xd + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / len;
      const double center = static_cast<double>(in) / 2;
      return center * (1 - adjustment) + (xd + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return out > 1 ? (xd + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return len == 1 ? 0.0 : xd * static_cast<double>(in - 1) / (len - 1);
    case Coord::kAsymmetric:
      return xd / scale;
    case Coord::kTfHalfPixelForNn:
      return (xd + 0.5) / scale;
    case Coord::kTfCropAndResize: {
      const int rank = static_cast<int>(p.scales.size());
      const double s = p.roi[axis], e = p.roi[rank + axis];
      const double span = static_cast<double>(in - 1);
      if (len > 1) return s * span + xd * (e - s) * span / (len - 1);
      return 0.5 * (s + e) * span;
    }
  }
  return 0;
}

int64_t nearest_index(const Params& p, int axis, double x) {
  const double fl = std::floor(x);
  const double frac = x - fl;
  double r = fl;
  switch (p.nearest) {
    case Nearest::kRoundPreferFloor:
      r = frac <= 0.5 ? fl : fl + 1;
      break;
    case Nearest::kRoundPreferCeil:
      r = frac < 0.5 ? fl : fl + 1;
      break;
    case Nearest::kFloor:
      r = fl;
      break;
    case Nearest::kCeil:
      r = std::ceil(x);
      break;
    case Nearest::kSimple:
      r = p.scales[axis] < 1 ? std::ceil(x) : std::trunc(x);
      break;
  }
  if (!(r >= -1e18 && r <= 1e18)) return 0;
  return static_cast<int64_t>(r);
}

double cubic_weight(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

template <typename T>
T cast_result(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T(0);
    v = std::trunc(v);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return from_compute<T>(static_cast<compute_t<T>>(v));
  }
}

template <typename T>
struct Resampler {
  const Params& p;
  const std::vector<AxisTaps>& taps;
  const std::vector<int64_t>& in_strides;
  const T* x;
  int rank;

  double interp(int axis, int64_t off, const int64_t* coord) const {
    const AxisTaps& t = taps[axis];
    const int64_t o = coord[axis];
    double s = 0;
    for (int64_t e = t.begin[o]; e < t.begin[o + 1]; ++e) {
      const int64_t next = off + t.idx[e] * in_strides[axis];
      const double v = axis + 1 == rank ? static_cast<double>(to_compute<T>(x[next]))
                                        : interp(axis + 1, next, coord);
      s += t.w[e] * v;
    }
    return s;
  }

  void run(const OpContext& ctx, const Shape& in_shape, Tensor* y) const {
    T* yd = y->data<T>();
    const Shape& out = p.out;
    const int64_t last = out[rank - 1];
    const int64_t rows = last > 0 ? y->numel() / last : 0;
    const T extrap = cast_result<T>(p.extrapolation);
    (void)in_shape;
    ctx.parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> coord(rank, 0);
      for (int64_t row = begin; row < end; ++row) {
        int64_t r = row;
        bool outer_outside = false;
        for (int a = rank - 2; a >= 0; --a) {
          coord[a] = r % out[a];
          r /= out[a];
          outer_outside = outer_outside || taps[a].outside[coord[a]];
        }
        for (int64_t o = 0; o < last; ++o) {
          coord[rank - 1] = o;
          T* dst = yd + row * last + o;
          if (outer_outside || taps[rank - 1].outside[o]) {
            *dst = extrap;
          } else if (p.mode == Mode::kNearest) {
            int64_t off = 0;
            for (int a = 0; a < rank; ++a)
              off += taps[a].idx[taps[a].begin[coord[a]]] * in_strides[a];
            *dst = x[off];
          } else {
            *dst = cast_result<T>(interp(0, 0, coord.data()));
          }
        }
      }
    });
  }
};

Status run_resize(OpContext& ctx, const Params& p) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  std::vector<AxisTaps> taps(rank);
  for (int a = 0; a < rank; ++a) build_taps(p, a, x.dim(a), p.out[a], &taps[a]);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), p.out));
  if (y->numel() == 0) return Status::ok();
  const std::vector<int64_t> strides = strides_of(x.shape());
  bool ok = visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Resampler<T>{p, taps, strides, x.data<T>(), rank}.run(ctx, x.shape(), y);
  });
  if (!ok) return ctx.unsupported_here(std::string("dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

// Output sizes from per-axis scales: floor(in * scale).
Status sizes_from_scales(const Shape& x, Params* p) {
  p->out.assign(x.size(), 0);
  for (size_t a = 0; a < x.size(); ++a) {
    const double s = p->scales[a];
    if (!(s > 0) || !std::isfinite(s))
      return invalid_argument("scale " + std::to_string(s) + " for axis " + std::to_string(a) +
                              " must be positive and finite");
    const double o = std::floor(s * static_cast<double>(x[a]));
    if (o > 4e18)
      return invalid_argument("output size along axis " + std::to_string(a) + " overflows");
    p->out[a] = static_cast<int64_t>(o);
  }
  return Status::ok();
}

Status check_rank(const OpContext& ctx, const Tensor& x) {
  if (x.rank() < 1) return ctx.invalid("input X must have rank >= 1");
  if (x.dtype() == DType::kString) return ctx.unsupported_here("string tensors");
  return Status::ok();
}

Status parse_mode(const std::string& mode, bool cubic_ok, Mode* out) {
  if (mode == "nearest") {
    *out = Mode::kNearest;
  } else if (mode == "linear") {
    *out = Mode::kLinear;
  } else if (mode == "cubic" && cubic_ok) {
    *out = Mode::kCubic;
  } else {
    return invalid_argument("mode '" + mode + "' is not one of nearest, linear" +
                            (cubic_ok ? ", cubic" : ""));
  }
  return Status::ok();
}

// A float vector from a float tensor of any precision.
std::vector<double> read_doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_as_double(i);
  return v;
}

// The scales input of Resize before opset 11 and of Upsample 9: one float per axis of X.
Status read_scales_input(const Tensor* s, int rank, Params* p) {
  if (!s) return invalid_argument("needs input scales");
  if (!is_float(s->dtype()) || s->rank() != 1 || s->numel() != rank)
    return invalid_argument("scales " + std::string(dtype_name(s->dtype())) +
                            shape_to_string(s->shape()) + " must be a float 1-D tensor of " +
                            std::to_string(rank) + " values");
  p->scales = read_doubles(*s);
  return Status::ok();
}

Status parse_coord(const std::string& coord, int opset, Coord* out) {
  if (coord == "half_pixel")
    *out = Coord::kHalfPixel;
  else if (coord == "half_pixel_symmetric" && opset >= 19)
    *out = Coord::kHalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel")
    *out = Coord::kPytorchHalfPixel;
  else if (coord == "align_corners")
    *out = Coord::kAlignCorners;
  else if (coord == "asymmetric")
    *out = Coord::kAsymmetric;
  else if (coord == "tf_half_pixel_for_nn" && opset < 13)
    *out = Coord::kTfHalfPixelForNn;
  else if (coord == "tf_crop_and_resize")
    *out = Coord::kTfCropAndResize;
  else
    return invalid_argument("coordinate_transformation_mode '" + coord +
                            "' is not valid at opset " + std::to_string(opset));
  return Status::ok();
}

Status parse_nearest(const std::string& nearest, Nearest* out) {
  if (nearest == "round_prefer_floor")
    *out = Nearest::kRoundPreferFloor;
  else if (nearest == "round_prefer_ceil")
    *out = Nearest::kRoundPreferCeil;
  else if (nearest == "floor")
    *out = Nearest::kFloor;
  else if (nearest == "ceil")
    *out = Nearest::kCeil;
  else
    return invalid_argument("nearest_mode '" + nearest + "' is not valid");
  return Status::ok();
}

// Resize's attributes; only those of the node's opset are read.
ResizeAttrs read_resize_attrs(const OpContext& ctx) {
  ResizeAttrs a;
  const int opset = ctx.opset();
  a.mode = ctx.attr_string("mode", "nearest");
  if (opset < 11) return a;
  a.coord = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  a.nearest = ctx.attr_string("nearest_mode", "round_prefer_floor");
  a.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = ctx.attr_int("exclude_outside", 0);
  a.extrapolation = ctx.attr_float("extrapolation_value", 0.0f);
  if (opset < 18) return a;
  a.antialias = ctx.attr_int("antialias", 0);
  a.policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
  a.axes = ctx.attr_ints("axes");
  return a;
}

// A present input with at least one element, or nullptr.
const Tensor* non_empty_input(const OpContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).numel() > 0 ? &ctx.input(i) : nullptr;
}

// The common end of Resize and Upsample: checks the parameters against X and runs.
Status finish_resize(OpContext& ctx, const Tensor& x, const std::string& mode,
                     const Expected<Params>& p) {
  if (!p) return name_node(ctx, p.status());
  KILN_RETURN_IF_ERROR(name_node(ctx, check_resize_source(x.shape(), p->out)));
  if (x.dtype() == DType::kBool && p->mode != Mode::kNearest)
    return ctx.invalid("mode '" + mode + "' does not apply to bool tensors");
  return run_resize(ctx, *p);
}

}  // namespace

int64_t taps_per_coord(const Params& p, int axis) {
  if (p.mode == Mode::kNearest) return 1;
  const double sc = p.antialias ? std::min(p.scales[axis], 1.0) : 1.0;
  const double start = p.mode == Mode::kLinear ? (p.antialias ? std::floor(-1 / sc) + 1 : 0)
                                               : (p.antialias ? std::floor(-2 / sc) + 1 : -1);
  return static_cast<int64_t>(std::min(2 - 2 * start, 1e18));
}

void build_taps(const Params& p, int axis, int64_t in, int64_t out, AxisTaps* t) {
  t->begin.assign(1, 0);
  t->outside.assign(out, 0);
  const double scale = p.scales[axis];
  for (int64_t o = 0; o < out; ++o) {
    const double x = original_coord(p, axis, o, in, out);
    if (p.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(in - 1)))
      t->outside[o] = 1;
    if (!std::isfinite(x)) t->outside[o] = 1;
    if (t->outside[o]) {
      t->idx.push_back(0);
      t->w.push_back(0);
      t->begin.push_back(static_cast<int64_t>(t->idx.size()));
      continue;
    }
    if (p.mode == Mode::kNearest) {
      t->idx.push_back(std::clamp<int64_t>(nearest_index(p, axis, x), 0, in - 1));
      t->w.push_back(1);
      t->begin.push_back(static_cast<int64_t>(t->idx.size()));
      continue;
    }
    // Taps base + start + k with ratio in (0, 1], as in the ONNX reference.
    double base = std::floor(x);
    double ratio = x - base;
    if (ratio == 0) {
      ratio = 1;
      base -= 1;
    }
    const double sc = p.antialias ? std::min(scale, 1.0) : 1.0;
    const int64_t start = p.mode == Mode::kLinear
                              ? (p.antialias ? static_cast<int64_t>(std::floor(-1 / sc)) + 1 : 0)
                              : (p.antialias ? static_cast<int64_t>(std::floor(-2 / sc)) + 1 : -1);
    const int64_t n = 2 - 2 * start;
    std::vector<double> w(n);
    std::vector<int64_t> idx(n);
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double arg = (static_cast<double>(start + k) - ratio) * sc;
      w[k] = p.mode == Mode::kLinear ? std::clamp(1 - std::fabs(arg), 0.0, 1.0)
                                     : cubic_weight(arg, p.cubic_a);
      idx[k] = static_cast<int64_t>(base) + start + k;
      sum += w[k];
    }
    if (p.antialias && sum != 0)
      for (double& v : w) v /= sum;
    if (p.exclude_outside) {
      sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        if (idx[k] < 0 || idx[k] >= in) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0)
        for (double& v : w) v /= sum;
    }
    for (int64_t k = 0; k < n; ++k) {
      if (w[k] == 0) continue;
      t->idx.push_back(std::clamp<int64_t>(idx[k], 0, in - 1));
      t->w.push_back(w[k]);
    }
    t->begin.push_back(static_cast<int64_t>(t->idx.size()));
  }
}

Status check_resize_source(const Shape& x_shape, const Shape& out) {
  for (size_t a = 0; a < x_shape.size(); ++a)
    if (x_shape[a] == 0 && out[a] > 0)
      return invalid_argument("cannot resize axis " + std::to_string(a) + " of size 0 to " +
                              std::to_string(out[a]));
  return Status::ok();
}

Expected<Params> resize_params(const ResizeAttrs& attrs, int opset, const Shape& x,
                               const Tensor* roi, const Tensor* scales, const Tensor* sizes) {
  const int rank = static_cast<int>(x.size());
  Params p;
  KILN_RETURN_IF_ERROR(parse_mode(attrs.mode, opset >= 11, &p.mode));

  if (opset < 11) {
    KILN_RETURN_IF_ERROR(read_scales_input(scales, rank, &p));
    KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
    return p;
  }

  // Opset 11+.
  KILN_RETURN_IF_ERROR(parse_coord(attrs.coord, opset, &p.coord));
  KILN_RETURN_IF_ERROR(parse_nearest(attrs.nearest, &p.nearest));
  p.cubic_a = attrs.cubic_a;
  if (attrs.exclude_outside != 0 && attrs.exclude_outside != 1)
    return invalid_argument("exclude_outside " + std::to_string(attrs.exclude_outside) +
                            " must be 0 or 1");
  p.exclude_outside = attrs.exclude_outside == 1;
  p.extrapolation = attrs.extrapolation;
  const std::string& policy = attrs.policy;
  std::vector<int64_t> axes = attrs.axes;
  if (opset >= 18) {
    if (attrs.antialias != 0 && attrs.antialias != 1)
      return invalid_argument("antialias " + std::to_string(attrs.antialias) + " must be 0 or 1");
    p.antialias = attrs.antialias == 1 && p.mode != Mode::kNearest;
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      return invalid_argument("keep_aspect_ratio_policy '" + policy +
                              "' is not stretch, not_larger or not_smaller");
  }
  if (axes.empty()) {
    for (int a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    std::set<int64_t> seen;
    for (int64_t& a : axes) {
      auto na = normalize_axis(a, rank, "axis");
      if (!na) return invalid_argument(na.status().message());
      a = *na;
      if (!seen.insert(a).second)
        return invalid_argument("axes contains " + std::to_string(a) + " twice");
    }
  }
  const size_t naxes = axes.size();

  if ((scales == nullptr) == (sizes == nullptr))
    return invalid_argument("exactly one of scales and sizes must be given (non-empty)");

  // roi: starts then ends for the listed axes; defaults 0 and 1.
  p.roi.assign(2 * rank, 0.0);
  for (int a = 0; a < rank; ++a) p.roi[rank + a] = 1.0;
  if (p.coord == Coord::kTfCropAndResize) {
    if (!roi) return invalid_argument("tf_crop_and_resize needs input roi");
    if (!is_float(roi->dtype()) || roi->rank() != 1 ||
        roi->numel() != static_cast<int64_t>(2 * naxes))
      return invalid_argument("roi " + std::string(dtype_name(roi->dtype())) +
                              shape_to_string(roi->shape()) + " must be a float 1-D tensor of " +
                              std::to_string(2 * naxes) + " values");
    std::vector<double> r = read_doubles(*roi);
    for (size_t i = 0; i < naxes; ++i) {
      if (!std::isfinite(r[i]) || !std::isfinite(r[naxes + i]))
        return invalid_argument("roi values must be finite");
      p.roi[axes[i]] = r[i];
      p.roi[rank + axes[i]] = r[naxes + i];
    }
  }

  p.scales.assign(rank, 1.0);
  if (scales) {
    if (!is_float(scales->dtype()) || scales->rank() != 1 ||
        scales->numel() != static_cast<int64_t>(naxes))
      return invalid_argument("scales " + std::string(dtype_name(scales->dtype())) +
                              shape_to_string(scales->shape()) + " must be a float 1-D tensor of " +
                              std::to_string(naxes) + " values");
    std::vector<double> s = read_doubles(*scales);
    for (size_t i = 0; i < naxes; ++i) p.scales[axes[i]] = s[i];
    KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
  } else {
    if (sizes->dtype() != DType::kInt64 || sizes->rank() != 1 ||
        sizes->numel() != static_cast<int64_t>(naxes))
      return invalid_argument("sizes " + std::string(dtype_name(sizes->dtype())) +
                              shape_to_string(sizes->shape()) + " must be an int64 1-D tensor of " +
                              std::to_string(naxes) + " values");
    std::vector<int64_t> sz = sizes->to_int64_vector();
    p.out = x;
    for (size_t i = 0; i < naxes; ++i) {
      const int64_t a = axes[i];
      if (sz[i] < 0 || sz[i] > (int64_t{1} << 40))
        return invalid_argument("sizes value " + std::to_string(sz[i]) + " for axis " +
                                std::to_string(a) + " is out of range");
      if (x[a] == 0) {
        if (sz[i] != 0)
          return invalid_argument("cannot resize axis " + std::to_string(a) + " of size 0");
        continue;
      }
      p.scales[a] = static_cast<double>(sz[i]) / static_cast<double>(x[a]);
      p.out[a] = sz[i];
    }
    if (policy != "stretch") {
      double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t a : axes) {
        if (x[a] == 0) continue;
        scale =
            policy == "not_larger" ? std::min(scale, p.scales[a]) : std::max(scale, p.scales[a]);
      }
      if (!std::isfinite(scale) || scale <= 0)
        return invalid_argument("keep_aspect_ratio_policy leaves no positive scale");
      for (int64_t a : axes) {
        p.scales[a] = scale;
        p.out[a] = static_cast<int64_t>(scale * static_cast<double>(x[a]) + 0.5);
      }
    }
    for (int a = 0; a < rank; ++a)
      if (p.out[a] == 0 && p.scales[a] == 0) p.scales[a] = 1.0;  // empty output: never used
  }
  return p;
}

Expected<Params> upsample_params(const std::string& mode, int opset, const Shape& x,
                                 const Tensor* scales_input,
                                 const std::vector<float>* scales_attr) {
  const int rank = static_cast<int>(x.size());
  Params p;
  KILN_RETURN_IF_ERROR(parse_mode(mode, false, &p.mode));
  if (opset >= 9) {
    KILN_RETURN_IF_ERROR(read_scales_input(scales_input, rank, &p));
  } else {
    if (!scales_attr) return invalid_argument("attribute scales is required");
    if (static_cast<int>(scales_attr->size()) != rank)
      return invalid_argument("scales has " + std::to_string(scales_attr->size()) +
                              " values for rank " + std::to_string(rank));
    p.scales.assign(scales_attr->begin(), scales_attr->end());
  }
  for (int a = 0; a < rank; ++a)
    if (!(p.scales[a] >= 1))
      return invalid_argument("scale " + std::to_string(p.scales[a]) + " for axis " +
                              std::to_string(a) + " must be >= 1");
  KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
  return p;
}

Status resize_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_rank(ctx, x));
  const ResizeAttrs attrs = read_resize_attrs(ctx);
  const int opset = ctx.opset();
  const Tensor* roi = opset < 11 ? nullptr : non_empty_input(ctx, 1);
  const Tensor* scales =
      opset < 11 ? (ctx.has_input(1) ? &ctx.input(1) : nullptr) : non_empty_input(ctx, 2);
  const Tensor* sizes = opset < 11 ? nullptr : non_empty_input(ctx, 3);
  return finish_resize(ctx, x, attrs.mode,
                       resize_params(attrs, opset, x.shape(), roi, scales, sizes));
}

Status upsample_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  KILN_RETURN_IF_ERROR(check_rank(ctx, x));
  const std::string mode = ctx.attr_string("mode", "nearest");
  const Tensor* scales_input = nullptr;
  std::vector<float> scales_attr;
  const bool has_scales_attr = ctx.opset() < 9 && ctx.has_attr("scales");
  if (ctx.opset() >= 9 && ctx.has_input(1)) scales_input = &ctx.input(1);
  if (has_scales_attr) scales_attr = ctx.attr_floats("scales");
  return finish_resize(ctx, x, mode,
                       upsample_params(mode, ctx.opset(), x.shape(), scales_input,
                                       has_scales_attr ? &scales_attr : nullptr));
}

}  // namespace kiln::cpu::nn
