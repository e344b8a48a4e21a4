// OpenCL MatMul and Gemm (kernels/matmul.cl): numpy batch broadcasting, transposed operands and
// Gemm's alpha / beta / broadcast bias. Row-major A with B [K, N] ("NN") or B [N, K] ("NT", as
// exported Linear layers store weights) run register-blocked vector kernels whose tiles come
// from the per-device table in gemm_tuning.cpp; other layouts run the general strided kernel.
#include <map>
#include <mutex>
#include <optional>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/gemm_tuning.h"
#include "runtime/opencl/ops_matmul_internal.h"

namespace kiln::opencl {

namespace {

constexpr int kTM = 4, kTN = 4;  // the general kernel's block (-DTM / -DTN)

// The storage types the kernels take; float16 runs gemm_half (float accumulation).
bool is_float_storage(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16;
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// Which kernel of kernels/matmul.cl runs a geometry.
enum class GemmVariant { kGeneral, kNN, kNT };

GemmVariant choose_variant(const GemmGeometry& g, const GemmTuning& t) {
  if (g.dtype != DType::kFloat32) return GemmVariant::kGeneral;  // gemm_half
  if (g.sak != 1) return GemmVariant::kGeneral;                  // A transposed
  if (g.sbn == 1 && g.N >= t.nn_cols()) return GemmVariant::kNN;
  if (g.sbk == 1) return GemmVariant::kNT;  // B stored [N, K] (or N == 1)
  return GemmVariant::kGeneral;
}

const char* variant_kernel(GemmVariant v) {
  switch (v) {
    case GemmVariant::kNN:
      return "gemm_nn";
    case GemmVariant::kNT:
      return "gemm_nt";
    default:
      return "gemm";
  }
}

std::string variant_name(GemmVariant v, const GemmTuning& t) {
  switch (v) {
    case GemmVariant::kNN:
      return "gemm_nn_" + std::to_string(t.nn_tm) + "x" + std::to_string(t.nn_cols());
    case GemmVariant::kNT:
      return "gemm_nt_" + std::to_string(t.nt_tm) + "x" + std::to_string(t.nt_tn) + "_k" +
             std::to_string(t.nt_vw);
    default:
      return "gemm_strided_4x4";
  }
}

// Scratch memory for a transposed B, shared by every GEMM kernel of one OpenCL context: the
// queue is in-order, and `mu` keeps each kernel's transpose + multiply pair together, so a
// later kernel's transpose never overwrites data a multiply still has to read.
struct GemmScratch {
  std::shared_ptr<ClBuffer> buffer;
  std::mutex mu;
};

Expected<std::shared_ptr<GemmScratch>> shared_scratch(ClContext& ctx, size_t bytes) {
  static std::mutex mu;
  // Keyed by the cl_context handle: a live entry's buffer retains its context, so the handle
  // cannot be reused by another context while the entry is alive.
  static std::map<cl_context, std::weak_ptr<GemmScratch>> scratch;
  std::lock_guard<std::mutex> lock(mu);
  bytes = std::max<size_t>(bytes, 4);
  std::weak_ptr<GemmScratch>& w = scratch[ctx.context()()];
  std::shared_ptr<GemmScratch> s = w.lock();
  if (s && s->buffer->size() >= bytes) return s;
  // Grow: kernels prepared before keep the smaller buffer they hold.
  cl_int err = CL_SUCCESS;
  cl::Buffer buf(ctx.context(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory(
        "allocating " + std::to_string(bytes) +
        " bytes of GEMM scratch on the OpenCL device failed: " + cl_error_name(err));
  s = std::make_shared<GemmScratch>();
  s->buffer = std::make_shared<ClBuffer>(std::move(buf), bytes);
  w = s;
  return s;
}

// A row-major B copied to [N, K] before gemm_nt runs (see choose_transpose).
struct BTranspose {
  cl::Kernel kernel;
  std::shared_ptr<GemmScratch> scratch;
  cl::NDRange global;
};

class GemmKernel : public ClLaunchKernel {
 public:
  GemmKernel(ClContext& ctx, cl::Kernel k, const GemmGeometry& g, bool has_bias_input,
             GemmVariant variant, const GemmTuning& t, std::optional<BTranspose> transpose)
      : ClLaunchKernel(std::move(k), (transpose ? "transpose_b+" : "") + variant_name(variant, t),
                       has_bias_input ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1, 0}, 1,
                       ctx) {
    outputs_ = {TensorDesc{g.dtype, g.out}};
    if (g.dtype == DType::kFloat16) name_ += "_f16";
    int64_t nb = numel_of(g.batch);
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(g.M));
    set_fixed(a++, static_cast<cl_int>(g.N));
    set_fixed(a++, static_cast<cl_int>(g.K));
    size_t bx = kTN, by = kTM, lx = t.gen_lx, ly = t.gen_ly;
    if (variant == GemmVariant::kGeneral) {
      set_fixed(a++, static_cast<cl_int>(g.sam));
      set_fixed(a++, static_cast<cl_int>(g.sak));
      set_fixed(a++, static_cast<cl_int>(g.sbk));
      set_fixed(a++, static_cast<cl_int>(g.sbn));
    } else {
      set_fixed(a++, static_cast<cl_int>(g.sam));                                        // lda
      set_fixed(a++, static_cast<cl_int>(variant == GemmVariant::kNN ? g.sbk : g.sbn));  // ldb
      if (variant == GemmVariant::kNN) {
        bx = t.nn_cols(), by = t.nn_tm, lx = t.nn_lx, ly = t.nn_ly;
      } else {
        bx = t.nt_tn, by = t.nt_tm, lx = t.nt_lx, ly = t.nt_ly;
      }
    }
    set_fixed(a++, static_cast<cl_int>(g.batch.size()));
    set_fixed(a++, to_int8(g.batch));
    set_fixed(a++, to_int8(g.a_bs));
    set_fixed(a++, to_int8(g.b_bs));
    set_fixed(a++, g.alpha);
    set_fixed(a++, g.beta);
    set_fixed(a++, static_cast<cl_int>(g.has_bias ? 1 : 0));
    set_fixed(a++, static_cast<cl_int>(g.bias_sm));
    set_fixed(a++, static_cast<cl_int>(g.bias_sn));
    // A fixed work-group size per kernel (PoCL compiles each new local size once).
    size_t wx = (static_cast<size_t>(g.N) + bx - 1) / bx;
    size_t wy = (static_cast<size_t>(g.M) + by - 1) / by;
    global_ = cl::NDRange(round_up(wx, lx), round_up(wy, ly),
                          static_cast<size_t>(std::max<int64_t>(nb, 1)));
    local_ = cl::NDRange(lx, ly, 1);
    empty_ = g.M == 0 || g.N == 0 || nb == 0;
    transpose_ = std::move(transpose);
    if (transpose_) {
      cl_int e = CL_SUCCESS;
      cl::Kernel& tk = transpose_->kernel;
      if (e == CL_SUCCESS) e = tk.setArg(2, transpose_->scratch->buffer->buffer());
      if (e == CL_SUCCESS) e = tk.setArg(3, static_cast<cl_int>(g.K));
      if (e == CL_SUCCESS) e = tk.setArg(4, static_cast<cl_int>(g.N));
      if (e != CL_SUCCESS && setup_error_.is_ok())
        setup_error_ = internal_error(name_ + ": setArg failed: " + cl_error_name(e));
    }
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    if (!transpose_) return ClLaunchKernel::enqueue(in, out);
    KILN_RETURN_IF_ERROR(setup_error_);
    if (in.size() < 2 || !in[1].buffer) return internal_error(name_ + ": B is not on the device");
    std::lock_guard<std::mutex> lock(transpose_->scratch->mu);
    cl::Kernel& tk = transpose_->kernel;
    cl_int err = tk.setArg(0, cl_buffer(in[1]));
    if (err == CL_SUCCESS) err = tk.setArg(1, static_cast<cl_int>(in[1].offset / sizeof(float)));
    if (err == CL_SUCCESS)
      err = ctx_.queue().enqueueNDRangeKernel(tk, cl::NullRange, transpose_->global, cl::NullRange);
    if (err != CL_SUCCESS)
      return runtime_error(name_ + ": enqueueing the transpose of B failed: " + cl_error_name(err));
    std::vector<DeviceTensor> in2 = in;
    in2[1].buffer = transpose_->scratch->buffer;
    in2[1].offset = 0;
    return ClLaunchKernel::enqueue(in2, out);
  }

 private:
  bool empty_ = false;
  std::optional<BTranspose> transpose_;
};

}  // namespace

Expected<std::unique_ptr<DeviceKernel>> make_gemm_kernel(ClContext& ctx, const GemmGeometry& g,
                                                         bool has_bias_input) {
  GemmTuning t = gemm_tuning_for(ctx.info());
  GemmVariant v = choose_variant(g, t);
  std::optional<BTranspose> transpose;
  GemmGeometry run = g;
  // A row-major B large enough (and reused by enough rows of A) runs through gemm_nt after a
  // transpose: gemm_nn's strided column strips of a wide B miss the cache.
  const int64_t kn = g.K * g.N;
  bool transpose_b =
      (t.nn_transpose_min_kn > 0 && g.M >= t.nn_transpose_min_m && kn >= t.nn_transpose_min_kn) ||
      (t.nn_transpose_big_kn > 0 && kn >= t.nn_transpose_big_kn);
  if (g.dtype == DType::kFloat16) {
    KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("matmul", t.build_options(), "gemm_half"));
    return std::unique_ptr<DeviceKernel>(std::make_unique<GemmKernel>(
        ctx, std::move(k), g, has_bias_input, GemmVariant::kGeneral, t, std::nullopt));
  }
  if (v == GemmVariant::kNN && transpose_b) {
    BTranspose bt;
    KILN_ASSIGN_OR_RETURN(bt.kernel, ctx.kernel("matmul", t.build_options(), "transpose_b"));
    KILN_ASSIGN_OR_RETURN(
        bt.scratch, shared_scratch(ctx, static_cast<size_t>(g.b_mats * g.K * g.N) * sizeof(float)));
    bt.global = cl::NDRange(static_cast<size_t>((g.N + 15) / 16),
                            static_cast<size_t>((g.K + 15) / 16), static_cast<size_t>(g.b_mats));
    transpose = std::move(bt);
    v = GemmVariant::kNT;
    run.sbk = 1;
    run.sbn = g.K;  // each matrix of B keeps its offset: [K, N] and [N, K] have the same size
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("matmul", t.build_options(), variant_kernel(v)));
  return std::unique_ptr<DeviceKernel>(std::make_unique<GemmKernel>(
      ctx, std::move(k), run, has_bias_input, v, t, std::move(transpose)));
}

namespace {

Expected<GemmGeometry> matmul_geometry(const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty()) return invalid_argument("MatMul operands must not be scalars");
  Shape a = a_in, b = b_in;
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  GemmGeometry g;
  g.M = a[a.size() - 2];
  g.K = a.back();
  g.N = b.back();
  if (b[b.size() - 2] != g.K)
    return invalid_argument("MatMul inner dimensions differ: " + shape_to_string(a_in) + " x " +
                            shape_to_string(b_in));
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  KILN_ASSIGN_OR_RETURN(g.batch, cpu::broadcast_shapes({ab, bb}));
  if (g.batch.size() > 8) return unsupported("more than 8 batch dims");
  // Batch strides in elements, right-aligned, 0 on broadcast dims.
  auto bstrides = [&](const Shape& bd, int64_t mat) {
    std::vector<int64_t> s(g.batch.size(), 0);
    int64_t stride = mat;
    for (int64_t i = static_cast<int64_t>(bd.size()) - 1,
                 o = static_cast<int64_t>(g.batch.size()) - 1;
         i >= 0; --i, --o) {
      s[o] = bd[i] == 1 ? 0 : stride;
      stride *= bd[i];
    }
    return s;
  };
  g.b_mats = numel_of(bb);
  g.a_bs = bstrides(ab, g.M * g.K);
  g.b_bs = bstrides(bb, g.K * g.N);
  g.sam = g.K;
  g.sak = 1;
  g.sbk = g.N;
  g.sbn = 1;
  g.out = g.batch;
  if (!a_vec) g.out.push_back(g.M);
  if (!b_vec) g.out.push_back(g.N);
  return g;
}

Support matmul_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return Support::no("missing input");
  if (!is_float_storage(in[0].desc.dtype) || in[1].desc.dtype != in[0].desc.dtype)
    return Support::no("only float32 or float16 MatMul (both operands alike) on OpenCL");
  auto g = matmul_geometry(in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> matmul_prepare(ClContext& ctx, const ir::Node&,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(GemmGeometry g, matmul_geometry(in[0].desc.shape, in[1].desc.shape));
  g.dtype = in[0].desc.dtype;
  return make_gemm_kernel(ctx, g, false);
}

int64_t attr_i(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}
float attr_f(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kFloat ? a->f : def;
}

Expected<GemmGeometry> gemm_geometry(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& a = in[0].desc.shape;
  const Shape& b = in[1].desc.shape;
  if (a.size() != 2 || b.size() != 2) return invalid_argument("Gemm operands must be 2-D");
  bool ta = attr_i(n, "transA", 0) != 0, tb = attr_i(n, "transB", 0) != 0;
  GemmGeometry g;
  g.M = ta ? a[1] : a[0];
  g.K = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0];
  g.N = tb ? b[0] : b[1];
  if (kb != g.K)
    return invalid_argument("Gemm inner dimensions differ: " + shape_to_string(a) + " x " +
                            shape_to_string(b));
  g.sam = ta ? 1 : a[1];
  g.sak = ta ? a[1] : 1;
  g.sbk = tb ? 1 : b[1];
  g.sbn = tb ? b[1] : 1;
  g.alpha = attr_f(n, "alpha", 1.0f);
  g.beta = attr_f(n, "beta", 1.0f);
  g.out = {g.M, g.N};
  if (in.size() > 2 && in[2].present) {
    const Shape& c = in[2].desc.shape;
    if (c.size() > 2) return invalid_argument("Gemm C has rank above 2");
    Shape c2 = c;
    while (c2.size() < 2) c2.insert(c2.begin(), 1);
    if ((c2[0] != 1 && c2[0] != g.M) || (c2[1] != 1 && c2[1] != g.N))
      return invalid_argument("Gemm C " + shape_to_string(c) + " does not broadcast to " +
                              shape_to_string(g.out));
    g.has_bias = true;
    g.bias_sm = c2[0] == 1 ? 0 : c2[1];
    g.bias_sn = c2[1] == 1 ? 0 : 1;
  }
  return g;
}

Support gemm_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return Support::no("missing input");
  if (!is_float_storage(in[0].desc.dtype)) return Support::no("only float32 or float16 Gemm");
  for (const auto& i : in)
    if (i.present && i.desc.dtype != in[0].desc.dtype)
      return Support::no("Gemm operands must be all float32 or all float16 on OpenCL");
  auto g = gemm_geometry(n, in);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gemm_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(GemmGeometry g, gemm_geometry(n, in));
  g.dtype = in[0].desc.dtype;
  return make_gemm_kernel(ctx, g, g.has_bias);
}

}  // namespace

void register_cl_matmul(ClOpRegistry& r) {
  r.add("MatMul", {{}, matmul_supports, matmul_prepare});
  r.add("Gemm", {{}, gemm_supports, gemm_prepare});
}

}  // namespace kiln::opencl
