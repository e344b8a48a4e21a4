// OpenCL Conv (kernels/conv.cl, kernels/matmul.cl): 1 to 3 spatial axes, groups, strides,
// dilations, pads, auto_pad and bias, float32 and float16 storage. Output shape and window
// geometry come from the CPU reference's own functions (runtime/cpu/ops/nn_internal.h). Paths,
// chosen per shape in prepare():
//
//  gemm     group 1, float32, 1x1 kernel, stride 1, no pads: Y[n] = W [M, C] x X[n] [C, H*W] +
//           bias, through the register-blocked gemm_nn of kernels/matmul.cl (tiles from
//           gemm_tuning.cpp), with X read in place.
//  im2col   other group-1 float32 convs: the input unfolded into a scratch matrix and
//           multiplied by gemm_nn (im2col_kp: [C*kernel, pixels]) or, for long C*kernel (see
//           kNnMaxK) or fewer pixels than a gemm_nn tile, by gemm_nt (im2col_pk: [pixels,
//           C*kernel], dot products along C*kernel with float16 vector loads). The unfolded
//           matrix lives in the kernel's scratch (DeviceKernel::scratch_bytes), which the
//           executor plans in its arena for this one step.
//  depthwise  group == C == M, float32, output rows of 8 pixels or more: conv_dw, one output
//           row per work-item, 8 pixels at a time in a float8 where every tap is inside the
//           input, single pixels at the borders.
//  direct   everything else (grouped convs, float16, outputs too narrow for the GEMM tiles,
//           scratch over kMaxScratch): conv_m4p4 / conv_m1p8, several output channels x pixels
//           per work-item.
//
// KILN_CL_CONV=direct|gemm|im2col_nn|im2col_nt|depthwise forces a path where the shape allows it
// (for bench/conv_bench.cpp and tests; "direct" is the kernel that ran every conv before the
// GEMM paths existed). Every path accumulates in float; results differ from the CPU reference
// only in summation order and fma rounding (see the OpCase tolerances in tests/opcases).
#include <cstdlib>

#include "runtime/opencl/gemm_tuning.h"
#include "runtime/opencl/ops_nn_internal.h"

namespace kiln::opencl {

namespace {

using namespace nn_detail;  // NOLINT(build/namespaces)

// The largest im2col scratch (elements) a conv may use; bigger ones run the direct kernel.
constexpr int64_t kMaxScratch = int64_t{1} << 26;
// The longest K (C * kernel size) that runs im2col + gemm_nn; longer ones run gemm_nt.
constexpr int64_t kNnMaxK = 768;

bool is_conv_storage(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16;
}

struct ConvPlan : device::ConvShape {
  DType dtype = DType::kFloat32;
};

Status bias_of_x_dtype(const InputInfo& bias, DType x_dtype) {
  if (bias.desc.dtype != x_dtype) return invalid_argument("bias must have the dtype of X");
  return Status::ok();
}

Expected<ConvPlan> conv_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return invalid_argument("needs X and W");
  const DType dt = in[0].desc.dtype;
  if (!is_conv_storage(dt) || in[1].desc.dtype != dt)
    return unsupported("only float32 or float16 Conv (X and W alike) on OpenCL");
  KILN_ASSIGN_OR_RETURN(device::ConvShape shape,
                        device::conv_shape(node, in, kClTarget, bias_of_x_dtype));
  return ConvPlan{std::move(shape), dt};
}

// --- direct ----------------------------------------------------------------------------------

class ConvDirectKernel : public SkipEmptyKernel {
 public:
  ConvDirectKernel(ClContext& ctx, cl::Kernel k, std::string name, const ConvPlan& p, int tm,
                   int tp)
      : SkipEmptyKernel(std::move(k), std::move(name),
                        p.bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1, 0}, 1, ctx) {
    outputs_ = {TensorDesc{p.dtype, p.out}};
    const Geom& g = p.g;
    const int64_t rows = g.out[0] * g.out[1];
    const int64_t pblocks = (g.out[2] + tp - 1) / tp;
    const int64_t mblocks = (p.mg + tm - 1) / tm;
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(p.c));
    set_fixed(a++, static_cast<cl_int>(p.m));
    set_fixed(a++, static_cast<cl_int>(p.cg));
    set_fixed(a++, static_cast<cl_int>(p.mg));
    set_fixed(a++, static_cast<cl_int>(p.group));
    set_fixed(a++, static_cast<cl_int>(mblocks));
    set_fixed(a++, static_cast<cl_int>(pblocks));
    set_fixed(a++, static_cast<cl_int>(p.bias ? 1 : 0));
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.out));
    const int64_t n0 = rows * pblocks;
    const size_t l0 = pick_local(n0);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(n0, 1)), l0),
                          static_cast<size_t>(std::max<int64_t>(p.group * mblocks, 1)),
                          static_cast<size_t>(std::max<int64_t>(p.n, 1)));
    local_ = cl::NDRange(l0, 1, 1);
    empty_ = numel_of(p.out) == 0;
  }
};

Expected<std::unique_ptr<DeviceKernel>> make_direct(ClContext& ctx, const ConvPlan& p) {
  // Few output channels per group (depthwise): one channel x 8 pixels per work-item.
  const bool narrow = p.mg < 4;
  const char* kname = narrow ? "conv_m1p8" : "conv_m4p4";
  const bool half = p.dtype == DType::kFloat16;
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", half ? "-DKILN_HALF" : "", kname));
  return std::unique_ptr<DeviceKernel>(std::make_unique<ConvDirectKernel>(
      ctx, std::move(k), std::string(kname) + (half ? "_f16" : ""), p, narrow ? 1 : 4,
      narrow ? 8 : 4));
}

// --- depthwise -------------------------------------------------------------------------------

class ConvDepthwiseKernel : public SkipEmptyKernel {
 public:
  ConvDepthwiseKernel(ClContext& ctx, cl::Kernel k, const ConvPlan& p)
      : SkipEmptyKernel(std::move(k), "conv_dw_row",
                        p.bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1, 0}, 1, ctx) {
    outputs_ = {TensorDesc{p.dtype, p.out}};
    const Geom& g = p.g;
    const int64_t rows = g.out[0] * g.out[1];
    const int64_t planes = p.n * p.c;
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(p.c));
    set_fixed(a++, static_cast<cl_int>(planes));
    set_fixed(a++, static_cast<cl_int>(p.bias ? 1 : 0));
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.out));
    const size_t l0 = std::min<size_t>(pick_local(rows), 16);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(rows, 1)), l0),
                          static_cast<size_t>(std::max<int64_t>(planes, 1)));
    local_ = cl::NDRange(l0, 1);
    empty_ = numel_of(p.out) == 0;
  }
};

// --- GEMM paths ------------------------------------------------------------------------------

enum class GemmPath { kGemm, kIm2colNN, kIm2colNT };

// One group-1 conv as (optional im2col) + one batched GEMM launch of kernels/matmul.cl:
// C[n] [M, P] = W [M, Kc] x B[n] + bias, B[n] = X[n] [C, P] (kGemm), col[n] [Kc, P] (kIm2colNN)
// or col[n] stored [P, Kc] (kIm2colNT).
class ConvGemmKernel : public DeviceKernel {
 public:
  ConvGemmKernel(ClContext& ctx, const ConvPlan& p, GemmPath path, const GemmTuning& t,
                 cl::Kernel gemm, cl::Kernel im2col)
      : ctx_(ctx), gemm_(std::move(gemm)), im2col_(std::move(im2col)), path_(path), bias_(p.bias) {
    outputs_ = {TensorDesc{p.dtype, p.out}};
    const Geom& g = p.g;
    const int64_t P = g.out_size(), Kc = p.c * g.k_size(), M = p.m;
    const bool nt = path == GemmPath::kIm2colNT;
    name_ = path == GemmPath::kGemm ? "conv1x1_gemm_nn"
            : nt                    ? "conv_im2col_gemm_nt"
                                    : "conv_im2col_gemm_nn";
    empty_ = numel_of(p.out) == 0;
    // gemm_nn / gemm_nt arguments from 8 on (0..7: A, B, bias, C buffer + offset pairs).
    cl_uint a = 8;
    auto set = [&](cl::Kernel& k, cl_uint i, const auto& v) {
      cl_int e = k.setArg(i, v);
      if (e != CL_SUCCESS && setup_error_.is_ok())
        setup_error_ = internal_error(name_ + ": setArg(" + std::to_string(i) +
                                      ") failed: " + cl_error_name(e));
    };
    set(gemm_, a++, static_cast<cl_int>(M));
    set(gemm_, a++, static_cast<cl_int>(P));
    set(gemm_, a++, static_cast<cl_int>(Kc));
    set(gemm_, a++, static_cast<cl_int>(Kc));           // lda: W is [M, Kc]
    set(gemm_, a++, static_cast<cl_int>(nt ? Kc : P));  // ldb
    set(gemm_, a++, static_cast<cl_int>(1));            // one batch dim: n
    set(gemm_, a++, to_int8({p.n}));                    // batch dims
    set(gemm_, a++, to_int8({0}));                      // W is shared by the images
    set(gemm_, a++, to_int8({path == GemmPath::kGemm ? p.c * P : Kc * P}));  // B per image
    set(gemm_, a++, 1.0f);                                                   // alpha
    set(gemm_, a++, 1.0f);                                                   // beta
    set(gemm_, a++, static_cast<cl_int>(p.bias ? 1 : 0));
    set(gemm_, a++, static_cast<cl_int>(1));  // bias_sm: one value per output channel (row)
    set(gemm_, a++, static_cast<cl_int>(0));  // bias_sn
    size_t bx, by, lx, ly;
    if (nt) {
      bx = t.nt_tn, by = t.nt_tm, lx = t.nt_lx, ly = t.nt_ly;
    } else {
      bx = t.nn_cols(), by = t.nn_tm, lx = t.nn_lx, ly = t.nn_ly;
    }
    const size_t wx = (static_cast<size_t>(P) + bx - 1) / bx;
    const size_t wy = (static_cast<size_t>(M) + by - 1) / by;
    gemm_global_ =
        cl::NDRange(round_up(std::max<size_t>(wx, 1), lx), round_up(std::max<size_t>(wy, 1), ly),
                    static_cast<size_t>(std::max<int64_t>(p.n, 1)));
    gemm_local_ = cl::NDRange(lx, ly, 1);
    if (path != GemmPath::kGemm) {
      // im2col_kp / im2col_pk (X, x_off, col, col_off, C, P, Kc, in, k, s, d, pb, out).
      scratch_bytes_ = static_cast<size_t>(p.n * P * Kc) * sizeof(float);
      set(im2col_, 4, static_cast<cl_int>(p.c));
      set(im2col_, 5, static_cast<cl_int>(P));
      set(im2col_, 6, static_cast<cl_int>(Kc));
      set(im2col_, 7, to_int4(g.in));
      set(im2col_, 8, to_int4(g.k));
      set(im2col_, 9, to_int4(g.s));
      set(im2col_, 10, to_int4(g.d));
      set(im2col_, 11, to_int4(g.pb));
      set(im2col_, 12, to_int4(g.out));
      const size_t images = static_cast<size_t>(std::max<int64_t>(p.n, 1));
      if (nt) {  // one work-item per pixel
        const size_t l = std::min<size_t>(pick_local(P), 16);
        im2col_global_ =
            cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(P, 1)), l), images);
        im2col_local_ = cl::NDRange(l, 1);
      } else {  // one work-item per (output row, row of col)
        const int64_t rows = g.out[0] * g.out[1];
        const size_t l = pick_local(rows);
        im2col_global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(rows, 1)), l),
                                     static_cast<size_t>(std::max<int64_t>(Kc, 1)), images);
        im2col_local_ = cl::NDRange(l, 1, 1);
      }
    }
  }

  std::string name() const override { return name_; }
  size_t scratch_bytes() const override { return scratch_bytes_; }

  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    KILN_RETURN_IF_ERROR(setup_error_);
    if (in.size() < 2 || !in[0].buffer || !in[1].buffer ||
        (bias_ && (in.size() < 3 || !in[2].buffer)))
      return internal_error(name_ + ": an input is not on the device");
    auto off = [](const DeviceTensor& t) { return static_cast<cl_int>(t.offset / sizeof(float)); };
    cl_int err = CL_SUCCESS;
    auto arg = [&](cl::Kernel& k, cl_uint i, const auto& v) {
      if (err == CL_SUCCESS) err = k.setArg(i, v);
    };
    if (path_ != GemmPath::kGemm) {
      const DeviceTensor* col = scratch(out);
      if (!col || col->desc.nbytes() < scratch_bytes_)
        return internal_error(name_ + ": needs " + std::to_string(scratch_bytes_) +
                              " bytes of scratch after its output");
      arg(im2col_, 0, cl_buffer(in[0]));
      arg(im2col_, 1, off(in[0]));
      arg(im2col_, 2, cl_buffer(*col));
      arg(im2col_, 3, off(*col));
      if (err == CL_SUCCESS)
        err = ctx_.queue().enqueueNDRangeKernel(im2col_, cl::NullRange, im2col_global_,
                                                im2col_local_);
      if (err != CL_SUCCESS) return launch_error("im2col", err);
      arg(gemm_, 2, cl_buffer(*col));
      arg(gemm_, 3, off(*col));
    } else {
      arg(gemm_, 2, cl_buffer(in[0]));
      arg(gemm_, 3, off(in[0]));
    }
    const DeviceTensor& bias = bias_ ? in[2] : in[1];
    arg(gemm_, 0, cl_buffer(in[1]));
    arg(gemm_, 1, off(in[1]));
    arg(gemm_, 4, cl_buffer(bias));
    arg(gemm_, 5, off(bias));
    arg(gemm_, 6, cl_buffer(out[0]));
    arg(gemm_, 7, off(out[0]));
    if (err == CL_SUCCESS)
      err = ctx_.queue().enqueueNDRangeKernel(gemm_, cl::NullRange, gemm_global_, gemm_local_);
    if (err != CL_SUCCESS) return launch_error("GEMM", err);
    return Status::ok();
  }

 private:
  Status launch_error(const char* what, cl_int err) const {
    if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
        err == CL_OUT_OF_HOST_MEMORY)
      return out_of_memory(name_ + ": the OpenCL device ran out of resources (" + what +
                           "): " + cl_error_name(err));
    return runtime_error(name_ + ": enqueueing the " + what + " failed: " + cl_error_name(err));
  }

  ClContext& ctx_;
  cl::Kernel gemm_, im2col_;
  size_t scratch_bytes_ = 0;
  GemmPath path_;
  bool bias_;
  bool empty_ = false;
  std::string name_;
  Status setup_error_;
  cl::NDRange gemm_global_, gemm_local_, im2col_global_, im2col_local_;
};

// --- path choice -----------------------------------------------------------------------------

enum class Path { kDirect, kGemm, kIm2colNN, kIm2colNT, kDepthwise };

bool is_pointwise(const ConvPlan& p) {
  const Geom& g = p.g;
  for (int a = 0; a < kMaxSpatial; ++a)
    if (g.k[a] != 1 || g.s[a] != 1 || g.pb[a] != 0 || g.pe[a] != 0) return false;
  return true;
}

// The paths a plan can take (direct always).
struct Eligible {
  bool gemm = false, im2col_nn = false, im2col_nt = false, depthwise = false;
};

Eligible eligible(const ConvPlan& p, const GemmTuning& t) {
  Eligible e;
  if (p.dtype != DType::kFloat32 || numel_of(p.out) == 0) return e;
  const int64_t P = p.g.out_size(), Kc = p.c * p.g.k_size();
  if (p.group == 1) {
    e.gemm = is_pointwise(p) && P >= t.nn_cols();
    const int64_t scratch = p.n * P * Kc;
    e.im2col_nt = scratch <= kMaxScratch;
    e.im2col_nn = e.im2col_nt && P >= t.nn_cols();
  }
  e.depthwise = p.group == p.c && p.mg == 1 && p.cg == 1;
  return e;
}

// conv_dw gains from whole 8-pixel blocks inside the row: narrower rows (the 7x7 MobileNet
// layers) have none and run the direct kernel as fast.
bool prefer_depthwise(const ConvPlan& p) {
  return p.g.out[2] >= 8;
}

Path choose_path(const ConvPlan& p, const GemmTuning& t) {
  const Eligible e = eligible(p, t);
  if (const char* env = std::getenv("KILN_CL_CONV"); env && *env) {
    const std::string f = env;
    if (f == "direct") return Path::kDirect;
    if (f == "gemm" && e.gemm) return Path::kGemm;
    if (f == "im2col_nn" && e.im2col_nn) return Path::kIm2colNN;
    if (f == "im2col_nt" && e.im2col_nt) return Path::kIm2colNT;
    if (f == "depthwise" && e.depthwise) return Path::kDepthwise;
  }
  if (e.depthwise) return prefer_depthwise(p) ? Path::kDepthwise : Path::kDirect;
  if (e.gemm) return Path::kGemm;
  // gemm_nn walks a strip of Kc rows x 16 columns of col per work-item: past ~768 rows (48 KiB)
  // the strip leaves the L1 cache and gemm_nt's contiguous loads along K win (measured on the
  // ResNet-18 shapes with bench/conv_bench: Kc = 147..576 favour nn, 1152..4608 nt).
  if (e.im2col_nn && p.c * p.g.k_size() <= kNnMaxK) return Path::kIm2colNN;
  if (e.im2col_nt) return Path::kIm2colNT;
  return Path::kDirect;
}

Support conv_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(conv_plan(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> conv_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(n, in));
  const GemmTuning t = gemm_tuning_for(ctx.info());
  const Path path = choose_path(p, t);
  switch (path) {
    case Path::kDirect:
      return make_direct(ctx, p);
    case Path::kDepthwise: {
      KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "conv_dw"));
      return std::unique_ptr<DeviceKernel>(
          std::make_unique<ConvDepthwiseKernel>(ctx, std::move(k), p));
    }
    default:
      break;
  }
  const GemmPath gp = path == Path::kGemm       ? GemmPath::kGemm
                      : path == Path::kIm2colNN ? GemmPath::kIm2colNN
                                                : GemmPath::kIm2colNT;
  KILN_ASSIGN_OR_RETURN(
      cl::Kernel gemm,
      ctx.kernel("matmul", t.build_options(), gp == GemmPath::kIm2colNT ? "gemm_nt" : "gemm_nn"));
  cl::Kernel im2col;
  if (gp != GemmPath::kGemm) {
    KILN_ASSIGN_OR_RETURN(
        im2col, ctx.kernel("conv", "", gp == GemmPath::kIm2colNT ? "im2col_pk" : "im2col_kp"));
  }
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ConvGemmKernel>(ctx, p, gp, t, std::move(gemm), std::move(im2col)));
}

}  // namespace

void register_cl_conv(ClOpRegistry& r) {
  r.add("Conv", {{}, conv_supports, conv_prepare});
}

}  // namespace kiln::opencl
