// OpenCL nn ops (kernels/conv.cl): MaxPool / AveragePool, GlobalAveragePool / GlobalMaxPool,
// BatchNormalization (inference) and Resize / Upsample, float32 over 1 to 3 spatial axes. Output
// shapes, window geometry and Resize's parameters and taps come from the CPU reference's own
// functions (runtime/cpu/ops/nn_internal.h); anything the kernels do not cover (other dtypes,
// MaxPool's Indices, training mode) is refused in supports() so the node runs on the CPU, which
// also reports invalid attributes. Conv lives in ops_conv.cpp (registered from here).
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <set>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/opencl/ops_nn_internal.h"

namespace kiln::opencl {

namespace {

using namespace nn_detail;  // NOLINT(build/namespaces): the helpers shared with ops_conv.cpp

// --- MaxPool / AveragePool -------------------------------------------------------------------

using PoolPlan = device::PoolShape;

Expected<PoolPlan> pool_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  return device::pool_shape(node, in, kClTarget);
}

class PoolKernel : public SkipEmptyKernel {
 public:
  PoolKernel(ClContext& ctx, cl::Kernel k, const PoolPlan& p)
      : SkipEmptyKernel(std::move(k), p.mode == 0 ? "max_pool" : "average_pool", {0}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, p.out}};
    const int64_t total = numel_of(p.out);
    const Geom& g = p.g;
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(total));
    set_fixed(a++, static_cast<cl_int>(p.mode));
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.pe));
    set_fixed(a++, to_int4(g.out));
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }
};

Support pool_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(pool_plan(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> pool_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, pool_plan(n, in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "pool"));
  return std::unique_ptr<DeviceKernel>(std::make_unique<PoolKernel>(ctx, std::move(k), p));
}

// --- GlobalAveragePool / GlobalMaxPool -------------------------------------------------------

Status global_pool_check(const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 global pools on OpenCL");
  if (in[0].desc.shape.size() < 3) return invalid_argument("input X must have rank >= 3");
  return Status::ok();
}

class GlobalPoolKernel : public SkipEmptyKernel {
 public:
  GlobalPoolKernel(ClContext& ctx, cl::Kernel k, const Shape& x, bool is_max)
      : SkipEmptyKernel(std::move(k), is_max ? "global_max_pool" : "global_average_pool", {0}, 1,
                        ctx) {
    Shape out = x;
    for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
    outputs_ = {TensorDesc{DType::kFloat32, out}};
    const int64_t planes = x[0] * x[1];
    const int64_t size = planes > 0 ? numel_of(x) / planes : 0;
    set_fixed(0, static_cast<cl_int>(planes));
    set_fixed(1, static_cast<cl_int>(size));
    set_fixed(2, static_cast<cl_int>(is_max ? 1 : 0));
    const size_t l = pick_local(planes);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(planes, 1)), l));
    local_ = cl::NDRange(l);
    empty_ = planes == 0;
  }
};

Support global_pool_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  return to_support(global_pool_check(in));
}

Expected<std::unique_ptr<DeviceKernel>> global_pool_prepare(ClContext& ctx, const ir::Node& n,
                                                            const std::vector<InputInfo>& in) {
  KILN_RETURN_IF_ERROR(global_pool_check(in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "global_pool"));
  return std::unique_ptr<DeviceKernel>(std::make_unique<GlobalPoolKernel>(
      ctx, std::move(k), in[0].desc.shape, n.op_type() == "GlobalMaxPool"));
}

// --- BatchNormalization ----------------------------------------------------------------------

Expected<float> batch_norm_check(const ir::Node& node, const std::vector<InputInfo>& in) {
  return device::batch_norm_epsilon(node, in, kClTarget);
}

class BatchNormKernel : public SkipEmptyKernel {
 public:
  BatchNormKernel(ClContext& ctx, cl::Kernel k, const Shape& x, float eps)
      : SkipEmptyKernel(std::move(k), "batch_norm", {0, 1, 2, 3, 4}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, x}};
    const int64_t total = numel_of(x);
    const int64_t c = x[1];
    const int64_t size = c > 0 && x[0] > 0 ? total / (x[0] * c) : 0;
    set_fixed(0, static_cast<cl_int>(total));
    set_fixed(1, static_cast<cl_int>(c));
    set_fixed(2, static_cast<cl_int>(std::max<int64_t>(size, 1)));
    set_fixed(3, eps);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }
};

Support batch_norm_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(batch_norm_check(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> batch_norm_prepare(ClContext& ctx, const ir::Node& n,
                                                           const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(float eps, batch_norm_check(n, in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "batch_norm"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<BatchNormKernel>(ctx, std::move(k), in[0].desc.shape, eps));
}

// --- Resize / Upsample (parameters and taps from runtime/cpu/ops/nn_resize.cpp) -------------

using cpu::nn::ResizeParams;
using cpu::nn::taps_per_coord;

// Taps per output coordinate (as the CPU builds them), appended to the shared tables:
// begin (absolute tap index per coordinate, plus one end entry), idx (-1 = outside), w.
struct TapTables {
  std::vector<cl_int> begin, idx;
  std::vector<float> w;
};

// Appends the CPU's taps of one axis (cpu::nn::build_taps) to the tables: an outside coordinate
// becomes one tap with index -1, a coordinate whose weights are all zero one tap (0, 0), which
// sums nothing like the CPU.
void append_taps(const ResizeParams& p, int axis, int64_t in, int64_t out, TapTables* t) {
  cpu::nn::AxisTaps a;
  cpu::nn::build_taps(p, axis, in, out, &a);
  for (int64_t o = 0; o < out; ++o) {
    t->begin.push_back(static_cast<cl_int>(t->idx.size()));
    if (a.outside[o]) {
      t->idx.push_back(-1);
      t->w.push_back(0);
      continue;
    }
    for (int64_t e = a.begin[o]; e < a.begin[o + 1]; ++e) {
      t->idx.push_back(static_cast<cl_int>(a.idx[e]));
      t->w.push_back(static_cast<float>(a.w[e]));
    }
    if (a.begin[o] == a.begin[o + 1]) {
      t->idx.push_back(0);
      t->w.push_back(0);
    }
  }
  t->begin.push_back(static_cast<cl_int>(t->idx.size()));
}

// Resize or Upsample's parameters plus the checks that keep the kernel within its limits.
Expected<ResizeParams> resample_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ResizeParams p, device::resample_params(node, in, kClTarget));
  const Shape& x = in[0].desc.shape;
  int64_t taps = 0;
  for (size_t a = 0; a < x.size(); ++a) {
    taps += p.out[a] * std::max<int64_t>(taps_per_coord(p, static_cast<int>(a)), 1) + 1;
    if (taps > (int64_t{1} << 24)) return unsupported("Resize tap tables too large for OpenCL");
  }
  return p;
}

class ResizeKernel : public SkipEmptyKernel {
 public:
  ResizeKernel(ClContext& ctx, cl::Kernel k, const Shape& x, const ResizeParams& p,
               std::vector<cl::Buffer> tables, const std::vector<int64_t>& tb_off)
      : SkipEmptyKernel(std::move(k), "resize", {0}, 1, ctx), tables_(std::move(tables)) {
    outputs_ = {TensorDesc{DType::kFloat32, p.out}};
    const int64_t total = numel_of(p.out);
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(total));
    set_fixed(a++, static_cast<cl_int>(x.size()));
    set_fixed(a++, to_int8(p.out));
    set_fixed(a++, to_int8(cpu::strides_of(x)));
    set_fixed(a++, to_int8(tb_off));
    for (cl::Buffer& b : tables_) set_fixed(a++, b);
    set_fixed(a++, static_cast<float>(p.extrapolation));
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }

 private:
  std::vector<cl::Buffer> tables_;  // tap_begin, tap_idx, tap_w
};

Support resize_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(resample_plan(n, in).status());
}

template <typename T>
Expected<cl::Buffer> table_buffer(ClContext& ctx, const std::vector<T>& v) {
  std::vector<T> data = v;
  if (data.empty()) data.push_back(T{});
  cl_int err = CL_SUCCESS;
  cl::Buffer b(ctx.context(), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, data.size() * sizeof(T),
               data.data(), &err);
  if (err != CL_SUCCESS) return out_of_memory("Resize tap table: " + cl_error_name(err));
  return b;
}

Expected<std::unique_ptr<DeviceKernel>> resize_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ResizeParams p, resample_plan(n, in));
  const Shape& x = in[0].desc.shape;
  TapTables t;
  std::vector<int64_t> tb_off;
  for (size_t a = 0; a < x.size(); ++a) {
    tb_off.push_back(static_cast<int64_t>(t.begin.size()));
    append_taps(p, static_cast<int>(a), x[a], p.out[a], &t);
  }
  std::vector<cl::Buffer> tables;
  KILN_ASSIGN_OR_RETURN(cl::Buffer b0, table_buffer(ctx, t.begin));
  KILN_ASSIGN_OR_RETURN(cl::Buffer b1, table_buffer(ctx, t.idx));
  KILN_ASSIGN_OR_RETURN(cl::Buffer b2, table_buffer(ctx, t.w));
  tables = {std::move(b0), std::move(b1), std::move(b2)};
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "resize"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ResizeKernel>(ctx, std::move(k), x, p, std::move(tables), tb_off));
}

}  // namespace

void register_cl_nn(ClOpRegistry& r) {
  register_cl_conv(r);
  r.add("MaxPool", {{}, pool_supports, pool_prepare});
  r.add("AveragePool", {{}, pool_supports, pool_prepare});
  r.add("GlobalAveragePool", {{}, global_pool_supports, global_pool_prepare});
  r.add("GlobalMaxPool", {{}, global_pool_supports, global_pool_prepare});
  r.add("BatchNormalization", {{}, batch_norm_supports, batch_norm_prepare});
  r.add("Resize", {{1, 2, 3}, resize_supports, resize_prepare});
  r.add("Upsample", {{1}, resize_supports, resize_prepare});
}

}  // namespace kiln::opencl
