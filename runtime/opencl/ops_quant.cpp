// OpenCL int8 kernels (kernels/quant.cl): QuantizeLinear and DequantizeLinear (per tensor and per
// axis, int8 / uint8, float32 data), DynamicQuantizeLinear (partial min/max, one work-item for
// the scale and zero point, then the quantization), MatMulInteger (u8/s8 operands, zero points per
// tensor or per column of B, numpy batch broadcasting) and the com.microsoft ops
// MatMulIntegerToFloat and DynamicQuantizeMatMul, and QLinearMatMul (that GEMM, then a
// requantization kernel; per-tensor a / y parameters, per-tensor or per-column b). Integer results
// are bit-identical to the CPU reference (runtime/cpu/ops/quant*.cpp, contrib_matmul.cpp) and the
// float math follows its order. Everything else the CPU accepts (float16, int16/int32 data, blocked
// quantization, per-row zero points of A) is refused in supports() with the reason.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cpu/ops/common.h"
#include "runtime/device/quant_params.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

int64_t attr_i(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

using device::quant::b_param_stride;
using device::quant::has;
using device::quant::is_8bit;
using device::quant::is_scalar_like;
using device::quant::q_layout;
using device::quant::QLayout;
using device::quant::qmatmul_form;
using device::quant::QMatMulForm;
using device::quant::quantize_out_type;

cl_uchar mask_of(DType t) {
  return t == DType::kInt8 ? 0x80 : 0;
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// A buffer argument of a launch: node input `index`, node output `index`, or a scratch buffer
// owned by the kernel. An absent input (index -1) is bound to a small dummy buffer that the
// kernel is told by a flag not to read.
struct BufArg {
  enum Kind { kInput, kOutput, kScratch } kind;
  int index;
};
BufArg in_arg(int i) {
  return {BufArg::kInput, i};
}
BufArg out_arg(int i) {
  return {BufArg::kOutput, i};
}
BufArg scratch_arg(int i) {
  return {BufArg::kScratch, i};
}

// A scratch buffer shared by the kernels of one OpenCL context (the transposed copies of B):
// the queue is in-order and `mu` keeps each kernel's launches together, so a later kernel never
// overwrites data an earlier one still has to read. Without it every int8 weight would be
// stored twice on the device.
struct SharedScratch {
  cl::Buffer buffer;
  size_t size = 0;
  std::mutex mu;
};

Expected<std::shared_ptr<SharedScratch>> shared_scratch(ClContext& ctx, size_t bytes) {
  static std::mutex mu;
  // Keyed by the cl_context handle: a live entry's buffer retains its context, so the handle
  // cannot be reused by another context while the entry is alive.
  static std::map<cl_context, std::weak_ptr<SharedScratch>> all;
  std::lock_guard<std::mutex> lock(mu);
  bytes = std::max<size_t>(bytes, 64);
  std::weak_ptr<SharedScratch>& w = all[ctx.context()()];
  std::shared_ptr<SharedScratch> s = w.lock();
  if (s && s->size >= bytes) return s;
  // Grow: kernels prepared before keep the smaller buffer (and its own lock).
  cl_int err = CL_SUCCESS;
  cl::Buffer buf(ctx.context(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory(
        "allocating " + std::to_string(bytes) +
        " bytes of int8 GEMM scratch on the OpenCL device failed: " + cl_error_name(err));
  s = std::make_shared<SharedScratch>();
  s->buffer = std::move(buf);
  s->size = bytes;
  w = s;
  return s;
}

// A kernel made of launches in order, with scratch buffers allocated once at prepare time.
class QuantKernel : public DeviceKernel {
 public:
  QuantKernel(ClContext& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}

  Status init(std::vector<TensorDesc> outs) {
    outputs_ = std::move(outs);
    cl_int err = CL_SUCCESS;
    dummy_ = cl::Buffer(ctx_.context(), CL_MEM_READ_WRITE, 64, nullptr, &err);
    if (err != CL_SUCCESS) return out_of_memory(name_ + ": dummy buffer: " + cl_error_name(err));
    return Status::ok();
  }
  Expected<int> add_scratch(size_t bytes) {
    cl_int err = CL_SUCCESS;
    cl::Buffer b(ctx_.context(), CL_MEM_READ_WRITE, std::max<size_t>(bytes, 64), nullptr, &err);
    if (err != CL_SUCCESS)
      return out_of_memory(name_ + ": scratch of " + std::to_string(bytes) +
                           " bytes: " + cl_error_name(err));
    scratch_.push_back(std::move(b));
    return static_cast<int>(scratch_.size() - 1);
  }
  // A scratch index for this context's shared scratch (at most one per kernel).
  Expected<int> add_shared_scratch(size_t bytes) {
    KILN_ASSIGN_OR_RETURN(shared_, shared_scratch(ctx_, bytes));
    scratch_.push_back(shared_->buffer);
    return static_cast<int>(scratch_.size() - 1);
  }
  // Adds a launch (skipped when the global size is 0) and returns its index for set().
  size_t add_launch(cl::Kernel k, std::vector<BufArg> bufs, cl::NDRange g, cl::NDRange l) {
    launches_.push_back({std::move(k), std::move(bufs), g, l});
    return launches_.size() - 1;
  }
  template <typename T>
  void set(size_t launch, cl_uint i, const T& value) {
    Launch& L = launches_[launch];
    cl_int err = L.kernel.setArg(2 * static_cast<cl_uint>(L.bufs.size()) + i, value);
    if (err != CL_SUCCESS && setup_.is_ok())
      setup_ = internal_error(name_ + ": setArg(" + std::to_string(i) +
                              ") failed: " + cl_error_name(err));
  }

  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    KILN_RETURN_IF_ERROR(setup_);
    std::unique_lock<std::mutex> lock;
    if (shared_) lock = std::unique_lock<std::mutex>(shared_->mu);
    for (Launch& L : launches_) {
      if (L.global.dimensions() == 0) continue;
      bool empty = false;
      for (cl_uint d = 0; d < L.global.dimensions(); ++d) empty |= L.global[d] == 0;
      if (empty) continue;
      cl_uint arg = 0;
      for (const BufArg& a : L.bufs) {
        cl::Buffer* buf = &dummy_;
        cl_int off = 0;
        if (a.kind == BufArg::kScratch) {
          buf = &scratch_[static_cast<size_t>(a.index)];
        } else {
          const auto& list = a.kind == BufArg::kInput ? inputs : outputs;
          if (a.index >= 0 && static_cast<size_t>(a.index) < list.size()) {
            const DeviceTensor& t = list[static_cast<size_t>(a.index)];
            if (!t.buffer)
              return internal_error(name_ + ": " +
                                    (a.kind == BufArg::kInput ? "input " : "output ") +
                                    std::to_string(a.index) + " is not on the device");
            buf = &cl_buffer(t);
            off = static_cast<cl_int>(t.offset / std::max<size_t>(dtype_size(t.desc.dtype), 1));
          }
        }
        cl_int e1 = L.kernel.setArg(arg++, *buf);
        cl_int e2 = L.kernel.setArg(arg++, off);
        if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
          return internal_error(name_ + ": setting a buffer argument failed");
      }
      cl_int err = ctx_.queue().enqueueNDRangeKernel(L.kernel, cl::NullRange, L.global, L.local);
      if (err != CL_SUCCESS) {
        if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
            err == CL_OUT_OF_HOST_MEMORY)
          return out_of_memory(name_ +
                               ": the OpenCL device ran out of resources: " + cl_error_name(err));
        return runtime_error(name_ + ": enqueueing the kernel failed: " + cl_error_name(err));
      }
    }
    return Status::ok();
  }
  std::string name() const override { return name_; }

 private:
  struct Launch {
    cl::Kernel kernel;
    std::vector<BufArg> bufs;
    cl::NDRange global, local;
  };
  ClContext& ctx_;
  std::string name_;
  std::vector<Launch> launches_;
  std::vector<cl::Buffer> scratch_;
  std::shared_ptr<SharedScratch> shared_;
  cl::Buffer dummy_;
  Status setup_;
};

constexpr size_t kLocal = 64;

cl::NDRange grid1(int64_t n) {
  return cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(n, 0)), kLocal));
}

Expected<cl::Kernel> quant_kernel(ClContext& ctx, const char* name) {
  return ctx.kernel("quant", "", name);
}

// ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------------

Support quantize_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!has(in, 0) || !has(in, 1)) return Support::no("inputs x and y_scale are required");
  if (in[0].desc.dtype != DType::kFloat32 || in[1].desc.dtype != DType::kFloat32)
    return Support::no("only float32 x and y_scale on OpenCL");
  if (n.opset() >= 23 && attr_i(n, "precision", 0) != 0)
    return Support::no("the precision attribute is not supported on OpenCL");
  auto out = quantize_out_type(n, in);
  if (!out) return Support::no(out.status().message());
  auto q = q_layout(n, in[0].desc.shape, in[1].desc.shape, has(in, 2) ? &in[2] : nullptr, "OpenCL");
  if (!q) return Support::no(q.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> quantize_prepare(ClContext& ctx, const ir::Node& n,
                                                         const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(DType out, quantize_out_type(n, in));
  KILN_ASSIGN_OR_RETURN(QLayout q, q_layout(n, in[0].desc.shape, in[1].desc.shape,
                                            has(in, 2) ? &in[2] : nullptr, "OpenCL"));
  auto k = std::make_unique<QuantKernel>(ctx, "quantize_linear");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{out, in[0].desc.shape}}));
  const int64_t numel = in[0].desc.numel();
  KILN_ASSIGN_OR_RETURN(cl::Kernel ck, quant_kernel(ctx, "quantize_linear"));
  size_t L =
      k->add_launch(std::move(ck), {in_arg(0), in_arg(1), in_arg(has(in, 2) ? 2 : -1), out_arg(0)},
                    grid1(numel), cl::NDRange(kLocal));
  k->set(L, 0, static_cast<cl_int>(numel));
  k->set(L, 1, static_cast<cl_int>(q.axis_dim));
  k->set(L, 2, static_cast<cl_int>(q.inner));
  k->set(L, 3, static_cast<cl_int>(q.per_axis));
  k->set(L, 4, static_cast<cl_int>(has(in, 2)));
  k->set(L, 5, mask_of(out));
  k->set(L, 6, static_cast<cl_int>(out == DType::kInt8 ? -128 : 0));
  k->set(L, 7, static_cast<cl_int>(out == DType::kInt8 ? 127 : 255));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

Support dequantize_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!has(in, 0) || !has(in, 1)) return Support::no("inputs x and x_scale are required");
  if (!is_8bit(in[0].desc.dtype)) return Support::no("only int8 / uint8 x on OpenCL");
  if (in[1].desc.dtype != DType::kFloat32) return Support::no("only float32 x_scale on OpenCL");
  if (has(in, 2) && in[2].desc.dtype != in[0].desc.dtype)
    return Support::no("x_zero_point's dtype differs from x's");
  if (n.opset() >= 23 && attr_i(n, "output_dtype", 0) != 0 &&
      attr_i(n, "output_dtype", 0) != static_cast<int64_t>(DType::kFloat32))
    return Support::no("only float32 output on OpenCL");
  auto q = q_layout(n, in[0].desc.shape, in[1].desc.shape, has(in, 2) ? &in[2] : nullptr, "OpenCL");
  if (!q) return Support::no(q.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> dequantize_prepare(ClContext& ctx, const ir::Node& n,
                                                           const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QLayout q, q_layout(n, in[0].desc.shape, in[1].desc.shape,
                                            has(in, 2) ? &in[2] : nullptr, "OpenCL"));
  auto k = std::make_unique<QuantKernel>(ctx, "dequantize_linear");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{DType::kFloat32, in[0].desc.shape}}));
  const int64_t numel = in[0].desc.numel();
  KILN_ASSIGN_OR_RETURN(cl::Kernel ck, quant_kernel(ctx, "dequantize_linear"));
  size_t L =
      k->add_launch(std::move(ck), {in_arg(0), in_arg(1), in_arg(has(in, 2) ? 2 : -1), out_arg(0)},
                    grid1(numel), cl::NDRange(kLocal));
  k->set(L, 0, static_cast<cl_int>(numel));
  k->set(L, 1, static_cast<cl_int>(q.axis_dim));
  k->set(L, 2, static_cast<cl_int>(q.inner));
  k->set(L, 3, static_cast<cl_int>(q.per_axis));
  k->set(L, 4, static_cast<cl_int>(has(in, 2)));
  k->set(L, 5, mask_of(in[0].desc.dtype));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- DynamicQuantizeLinear ---------------------------------------------------------------------

// Appends the dynamic uint8 quantization of input `x` (numel n): partial min/max into a scratch,
// the scale and zero point into `scale` / `zp`, the codes into `codes`.
Status add_dynamic_quant(ClContext& ctx, QuantKernel& k, BufArg x, int64_t n, BufArg scale,
                         BufArg zp, BufArg codes, bool ort_rule) {
  const int64_t parts = std::clamp<int64_t>(n / 4096, 1, 64);
  KILN_ASSIGN_OR_RETURN(int partial, k.add_scratch(static_cast<size_t>(parts) * 2 * sizeof(float)));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k1, quant_kernel(ctx, "dql_partial"));
  size_t L1 = k.add_launch(std::move(k1), {x, scratch_arg(partial)},
                           cl::NDRange(static_cast<size_t>(parts)), cl::NullRange);
  k.set(L1, 0, static_cast<cl_int>(n));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k2, quant_kernel(ctx, "dql_params"));
  size_t L2 =
      k.add_launch(std::move(k2), {scratch_arg(partial), scale, zp}, cl::NDRange(1), cl::NullRange);
  k.set(L2, 0, static_cast<cl_int>(parts));
  k.set(L2, 1, static_cast<cl_int>(ort_rule));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k3, quant_kernel(ctx, "dql_quantize"));
  size_t L3 = k.add_launch(std::move(k3), {x, scale, zp, codes}, grid1(n), cl::NDRange(kLocal));
  k.set(L3, 0, static_cast<cl_int>(n));
  k.set(L3, 1, static_cast<cl_int>(ort_rule));
  return Status::ok();
}

Support dql_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!has(in, 0) || in[0].desc.dtype != DType::kFloat32)
    return Support::no("DynamicQuantizeLinear needs a float32 x");
  if (n.outputs().size() != 3 || !n.outputs()[1] || !n.outputs()[2])
    return Support::no("DynamicQuantizeLinear without its scale and zero point outputs");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> dql_prepare(ClContext& ctx, const ir::Node&,
                                                    const std::vector<InputInfo>& in) {
  auto k = std::make_unique<QuantKernel>(ctx, "dynamic_quantize_linear");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{DType::kUInt8, in[0].desc.shape},
                                TensorDesc{DType::kFloat32, {}}, TensorDesc{DType::kUInt8, {}}}));
  KILN_RETURN_IF_ERROR(add_dynamic_quant(ctx, *k, in_arg(0), in[0].desc.numel(), out_arg(1),
                                         out_arg(2), out_arg(0), false));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- Integer GEMM ------------------------------------------------------------------------------

struct QGemm {
  int64_t M = 0, N = 0, K = 0;
  Shape batch;
  std::vector<int64_t> a_bs, b_bs;
  Shape out;
  bool b_vec = false;
  int64_t b_mats = 1;  // matrices stored in B
};

Expected<QGemm> qgemm_geometry(const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty()) return invalid_argument("matmul operands must not be scalars");
  Shape a = a_in, b = b_in;
  const bool a_vec = a.size() == 1;
  QGemm g;
  g.b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (g.b_vec) b.push_back(1);
  g.M = a[a.size() - 2];
  g.K = a.back();
  g.N = b.back();
  if (b[b.size() - 2] != g.K)
    return invalid_argument("matmul inner dimensions differ: " + shape_to_string(a_in) + " x " +
                            shape_to_string(b_in));
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  KILN_ASSIGN_OR_RETURN(g.batch, cpu::broadcast_shapes({ab, bb}));
  if (g.batch.size() > 8) return unsupported("more than 8 batch dims");
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
  g.out = g.batch;
  if (!a_vec) g.out.push_back(g.M);
  if (!g.b_vec) g.out.push_back(g.N);
  return g;
}

// How the device computes qgemm_dot's 4 x 8-bit dot products: the build options of kernels/
// quant.cl for it ("-DKILN_DOT4=1": dot(uchar4, uchar4), "=2": dot_4x8packed_uu_uint, "": the
// portable expression) and whether the builtins are there and accelerated. Needs
// cl_khr_integer_dot_product with a 4x8-bit input capability; where the device answers the
// acceleration query, the unsigned form must be reported accelerated (every u8 / s8 mix runs as
// an unsigned dot product).
struct DotSupport {
  bool use = false;
  std::string options;
};

DotSupport dot_support(ClContext& ctx) {
  DotSupport d;
  if (!ctx.info().integer_dot_product) return d;
  cl_device_integer_dot_product_capabilities_khr caps = 0;
  if (clGetDeviceInfo(ctx.device()(), CL_DEVICE_INTEGER_DOT_PRODUCT_CAPABILITIES_KHR, sizeof(caps),
                      &caps, nullptr) != CL_SUCCESS)
    return d;
  cl_device_info accel_query = 0;
  if (caps & CL_DEVICE_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_KHR) {
    d.options = "-DKILN_DOT4=1";
    accel_query = CL_DEVICE_INTEGER_DOT_PRODUCT_ACCELERATION_PROPERTIES_8BIT_KHR;
  } else if (caps & CL_DEVICE_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_PACKED_KHR) {
    d.options = "-DKILN_DOT4=2";
    accel_query = CL_DEVICE_INTEGER_DOT_PRODUCT_ACCELERATION_PROPERTIES_4x8BIT_PACKED_KHR;
  } else {
    return d;
  }
  cl_device_integer_dot_product_acceleration_properties_khr props{};
  const cl_int err = clGetDeviceInfo(ctx.device()(), accel_query, sizeof(props), &props, nullptr);
  d.use = err != CL_SUCCESS || props.unsigned_accelerated == CL_TRUE;
  return d;
}

// Which GEMM kernel runs: qgemm_dot (4 x 8-bit dot products on a transposed copy of B) where the
// device has accelerated cl_khr_integer_dot_product and K >= 4; otherwise qgemm_nt on a
// transposed copy of B (dot products along K with exact float FMA, the fast one on PoCL) when
// K >= 16, else qgemm_nn (16 columns per work-item) when N >= 16, else the general 4 x 4 qgemm.
// KILN_CL_QGEMM=dot|nt|nn|gen forces one (for tests and measurements; "dot" without the
// extension runs qgemm_dot's portable expression).
enum class QVariant { kGeneral, kNN, kNT, kDot };

QVariant choose_variant(const QGemm& g, const DotSupport& dot) {
  if (const char* e = std::getenv("KILN_CL_QGEMM")) {
    const std::string s = e;
    if (s == "gen") return QVariant::kGeneral;
    if (s == "nn" && g.N >= 16) return QVariant::kNN;
    if (s == "nt") return QVariant::kNT;
    if (s == "dot") return QVariant::kDot;
  }
  if (dot.use && g.K >= 4) return QVariant::kDot;
  if (g.K >= 16) return QVariant::kNT;
  return g.N >= 16 ? QVariant::kNN : QVariant::kGeneral;
}

bool transposes_b(QVariant v) {
  return v == QVariant::kNT || v == QVariant::kDot;
}

const char* variant_kernel(QVariant v) {
  return v == QVariant::kDot  ? "qgemm_dot"
         : v == QVariant::kNT ? "qgemm_nt"
         : v == QVariant::kNN ? "qgemm_nn"
                              : "qgemm";
}

const char* variant_name(QVariant v) {
  return v == QVariant::kDot  ? "qtranspose_b+qgemm_dot_4x4"
         : v == QVariant::kNT ? "qtranspose_b+qgemm_nt_4x4_k16"
         : v == QVariant::kNN ? "qgemm_nn_4x16"
                              : "qgemm_4x4";
}

// The GEMM kernel of variant v (qgemm_dot with the device's dot-product options).
Expected<cl::Kernel> gemm_kernel(ClContext& ctx, QVariant v, const DotSupport& dot) {
  if (v == QVariant::kDot) return ctx.kernel("quant", dot.options, variant_kernel(v));
  return quant_kernel(ctx, variant_kernel(v));
}

// b's per-tensor / per-column parameter stride for this GEMM (device::quant::b_param_stride).
Expected<int> b_stride(const Shape& ps, const QGemm& g, const char* what) {
  return b_param_stride(ps, g.N, g.b_vec, g.batch.size(), what);
}

Support qmatmul_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto f = qmatmul_form(n, in);
  if (!f) return Support::no(f.status().message());
  auto g = qgemm_geometry(in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  if (f->b_zp >= 0) {
    auto s = b_stride(in[f->b_zp].desc.shape, *g, "b_zero_point");
    if (!s) return Support::no(s.status().message());
  }
  if (n.op_type() != "MatMulInteger") {
    // The contrib ops take b_scale / b_zero_point as a scalar or [N], bias as [N].
    for (int i : {f->b_scale, f->b_zp}) {
      if (i < 0) continue;
      const Shape& s = in[i].desc.shape;
      if (!is_scalar_like(s) && !(s.size() == 1 && s[0] == g->N))
        return Support::no("b_scale / b_zero_point must be a scalar or [N]");
    }
    if (f->bias >= 0 && !(in[f->bias].desc.shape == Shape{g->N}))
      return Support::no("bias must be [N]");
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> qmatmul_prepare(ClContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QMatMulForm f, qmatmul_form(n, in));
  KILN_ASSIGN_OR_RETURN(QGemm g, qgemm_geometry(in[0].desc.shape, in[1].desc.shape));
  const bool float_out = n.op_type() != "MatMulInteger";
  const DotSupport dot = dot_support(ctx);
  const QVariant v = choose_variant(g, dot);
  auto k = std::make_unique<QuantKernel>(
      ctx, std::string(f.dynamic ? "dql+" : "") + variant_name(v) + (float_out ? "_f32" : "_i32"));
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{float_out ? DType::kFloat32 : DType::kInt32, g.out}}));
  const int64_t nb = numel_of(g.batch);
  if (g.M == 0 || g.N == 0 || nb == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  BufArg a = in_arg(f.a), az = in_arg(f.a_zp), as = in_arg(f.a_scale);
  DType at = in[0].desc.dtype;
  if (f.dynamic) {
    const int64_t n_a = in[0].desc.numel();
    KILN_ASSIGN_OR_RETURN(int sc, k->add_scratch(sizeof(float)));
    KILN_ASSIGN_OR_RETURN(int zp, k->add_scratch(1));
    KILN_ASSIGN_OR_RETURN(int codes, k->add_scratch(static_cast<size_t>(n_a)));
    KILN_RETURN_IF_ERROR(add_dynamic_quant(ctx, *k, in_arg(0), n_a, scratch_arg(sc),
                                           scratch_arg(zp), scratch_arg(codes), true));
    a = scratch_arg(codes);
    az = scratch_arg(zp);
    as = scratch_arg(sc);
    at = DType::kUInt8;
  }
  int bzp_stride = 0, bs_stride = 0;
  if (f.b_zp >= 0) {
    KILN_ASSIGN_OR_RETURN(bzp_stride, b_stride(in[f.b_zp].desc.shape, g, "b_zero_point"));
  }
  if (f.b_scale >= 0) bs_stride = numel_of(in[f.b_scale].desc.shape) == 1 ? 0 : 1;
  BufArg b = in_arg(f.b);
  if (transposes_b(v)) {
    KILN_ASSIGN_OR_RETURN(int bt, k->add_shared_scratch(static_cast<size_t>(g.b_mats * g.K * g.N)));
    KILN_ASSIGN_OR_RETURN(cl::Kernel tk, quant_kernel(ctx, "qtranspose_b"));
    size_t T = k->add_launch(
        std::move(tk), {in_arg(f.b), scratch_arg(bt)},
        cl::NDRange(static_cast<size_t>((g.N + 15) / 16), static_cast<size_t>((g.K + 15) / 16),
                    static_cast<size_t>(g.b_mats)),
        cl::NullRange);
    k->set(T, 0, static_cast<cl_int>(g.K));
    k->set(T, 1, static_cast<cl_int>(g.N));
    b = scratch_arg(bt);
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel ck, gemm_kernel(ctx, v, dot));
  const size_t bx = v == QVariant::kNN ? 16 : 4, by = 4, lx = 4, ly = 4;
  const size_t wx = (static_cast<size_t>(g.N) + bx - 1) / bx;
  const size_t wy = (static_cast<size_t>(g.M) + by - 1) / by;
  size_t L = k->add_launch(
      std::move(ck), {a, b, az, in_arg(f.b_zp), as, in_arg(f.b_scale), in_arg(f.bias), out_arg(0)},
      cl::NDRange(round_up(wx, lx), round_up(wy, ly), static_cast<size_t>(nb)),
      cl::NDRange(lx, ly, 1));
  cl_uint i = 0;
  k->set(L, i++, static_cast<cl_int>(g.M));
  k->set(L, i++, static_cast<cl_int>(g.N));
  k->set(L, i++, static_cast<cl_int>(g.K));
  k->set(L, i++, static_cast<cl_int>(g.batch.size()));
  k->set(L, i++, to_int8(g.batch));
  k->set(L, i++, to_int8(g.a_bs));
  k->set(L, i++, to_int8(g.b_bs));
  k->set(L, i++, mask_of(at));
  k->set(L, i++, mask_of(in[1].desc.dtype));
  k->set(L, i++, static_cast<cl_int>(f.a_zp >= 0 || f.dynamic));
  k->set(L, i++, static_cast<cl_int>(f.b_zp >= 0));
  k->set(L, i++, static_cast<cl_int>(bzp_stride));
  k->set(L, i++, static_cast<cl_int>(float_out));
  k->set(L, i++, static_cast<cl_int>(bs_stride));
  k->set(L, i++, static_cast<cl_int>(f.bias >= 0));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- QLinearMatMul -----------------------------------------------------------------------------

// The forms run on the device: 8-bit a / b / y, float32 scales, a's scale and zero point per
// tensor, b's per tensor or per column, y's per tensor; the MatMulInteger GEMM into an int32
// scratch, then qlinear_requant. Anything else (per-row a, per-element y, float16 scales) runs on
// the CPU.
Status qlinear_check(const std::vector<InputInfo>& in, const QGemm* g) {
  KILN_RETURN_IF_ERROR(device::quant::qlinear_inputs(in));
  const Shape& bs = in[4].desc.shape;
  if (g) {
    KILN_RETURN_IF_ERROR(b_stride(bs, *g, "b_scale").status());
  }
  return Status::ok();
}

Support qlinear_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  Status st = qlinear_check(in, nullptr);
  if (!st.is_ok()) return Support::no(st.message());
  auto g = qgemm_geometry(in[0].desc.shape, in[3].desc.shape);
  if (!g) return Support::no(g.status().message());
  st = qlinear_check(in, &*g);
  if (!st.is_ok()) return Support::no(st.message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> qlinear_prepare(ClContext& ctx, const ir::Node&,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QGemm g, qgemm_geometry(in[0].desc.shape, in[3].desc.shape));
  KILN_RETURN_IF_ERROR(qlinear_check(in, &g));
  const DType yt = in[7].desc.dtype;
  const DotSupport dot = dot_support(ctx);
  const QVariant v = choose_variant(g, dot);
  auto k = std::make_unique<QuantKernel>(ctx, std::string(variant_name(v)) + "+qlinear_requant");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{yt, g.out}}));
  const int64_t nb = numel_of(g.batch);
  const int64_t total = nb * g.M * g.N;
  if (total == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  KILN_ASSIGN_OR_RETURN(const int bs_stride, b_stride(in[4].desc.shape, g, "b_scale"));
  KILN_ASSIGN_OR_RETURN(int acc, k->add_scratch(static_cast<size_t>(total) * sizeof(cl_int)));
  BufArg b = in_arg(3);
  if (transposes_b(v)) {
    KILN_ASSIGN_OR_RETURN(int bt, k->add_shared_scratch(static_cast<size_t>(g.b_mats * g.K * g.N)));
    KILN_ASSIGN_OR_RETURN(cl::Kernel tk, quant_kernel(ctx, "qtranspose_b"));
    size_t T = k->add_launch(
        std::move(tk), {in_arg(3), scratch_arg(bt)},
        cl::NDRange(static_cast<size_t>((g.N + 15) / 16), static_cast<size_t>((g.K + 15) / 16),
                    static_cast<size_t>(g.b_mats)),
        cl::NullRange);
    k->set(T, 0, static_cast<cl_int>(g.K));
    k->set(T, 1, static_cast<cl_int>(g.N));
    b = scratch_arg(bt);
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel ck, gemm_kernel(ctx, v, dot));
  const size_t bx = v == QVariant::kNN ? 16 : 4, by = 4, lx = 4, ly = 4;
  const size_t wx = (static_cast<size_t>(g.N) + bx - 1) / bx;
  const size_t wy = (static_cast<size_t>(g.M) + by - 1) / by;
  size_t L = k->add_launch(
      std::move(ck),
      {in_arg(0), b, in_arg(2), in_arg(5), in_arg(-1), in_arg(-1), in_arg(-1), scratch_arg(acc)},
      cl::NDRange(round_up(wx, lx), round_up(wy, ly), static_cast<size_t>(nb)),
      cl::NDRange(lx, ly, 1));
  cl_uint i = 0;
  k->set(L, i++, static_cast<cl_int>(g.M));
  k->set(L, i++, static_cast<cl_int>(g.N));
  k->set(L, i++, static_cast<cl_int>(g.K));
  k->set(L, i++, static_cast<cl_int>(g.batch.size()));
  k->set(L, i++, to_int8(g.batch));
  k->set(L, i++, to_int8(g.a_bs));
  k->set(L, i++, to_int8(g.b_bs));
  k->set(L, i++, mask_of(in[0].desc.dtype));
  k->set(L, i++, mask_of(in[3].desc.dtype));
  k->set(L, i++, static_cast<cl_int>(1));
  k->set(L, i++, static_cast<cl_int>(1));
  k->set(L, i++, static_cast<cl_int>(bs_stride));
  k->set(L, i++, static_cast<cl_int>(0));
  k->set(L, i++, static_cast<cl_int>(0));
  k->set(L, i++, static_cast<cl_int>(0));
  // The multipliers, once per column (the division correctly rounded, as on the host), then the
  // requantization.
  const int64_t n_mu = bs_stride ? g.N : 1;
  KILN_ASSIGN_OR_RETURN(int mu, k->add_scratch(static_cast<size_t>(n_mu) * sizeof(float)));
  KILN_ASSIGN_OR_RETURN(cl::Kernel mk, ctx.kernel("quant", "-cl-fp32-correctly-rounded-divide-sqrt",
                                                  "qlinear_multipliers"));
  size_t MU = k->add_launch(std::move(mk), {in_arg(1), in_arg(4), in_arg(6), scratch_arg(mu)},
                            grid1(n_mu), cl::NDRange(kLocal));
  k->set(MU, 0, static_cast<cl_int>(n_mu));
  KILN_ASSIGN_OR_RETURN(cl::Kernel rk, quant_kernel(ctx, "qlinear_requant"));
  const int64_t rows = nb * g.M;
  size_t R = k->add_launch(
      std::move(rk), {scratch_arg(acc), scratch_arg(mu), in_arg(7), out_arg(0)},
      cl::NDRange(round_up(static_cast<size_t>(g.N), 16), round_up(static_cast<size_t>(rows), 4)),
      cl::NDRange(16, 4));
  k->set(R, 0, static_cast<cl_int>(rows));
  k->set(R, 1, static_cast<cl_int>(g.N));
  k->set(R, 2, static_cast<cl_int>(bs_stride));
  k->set(R, 3, mask_of(yt));
  k->set(R, 4, static_cast<cl_int>(yt == DType::kInt8 ? -128 : 0));
  k->set(R, 5, static_cast<cl_int>(yt == DType::kInt8 ? 127 : 255));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

}  // namespace

void register_cl_quant(ClOpRegistry& r) {
  r.add("QuantizeLinear", {{}, quantize_supports, quantize_prepare});
  r.add("DequantizeLinear", {{}, dequantize_supports, dequantize_prepare});
  r.add("DynamicQuantizeLinear", {{}, dql_supports, dql_prepare});
  r.add("MatMulInteger", {{}, qmatmul_supports, qmatmul_prepare});
  r.add("QLinearMatMul", {{}, qlinear_supports, qlinear_prepare});
  r.add("com.microsoft.MatMulIntegerToFloat", {{}, qmatmul_supports, qmatmul_prepare});
  r.add("com.microsoft.DynamicQuantizeMatMul", {{}, qmatmul_supports, qmatmul_prepare});
}

}  // namespace kiln::opencl
