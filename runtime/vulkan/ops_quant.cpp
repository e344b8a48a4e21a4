// Vulkan int8 kernels (shaders/quant.comp, shaders/quant_gemm.comp): QuantizeLinear and
// DequantizeLinear (per tensor and per axis, int8 / uint8, float32 data), DynamicQuantizeLinear
// (partial min/max, one invocation for the scale and zero point, then the quantization),
// MatMulInteger (u8/s8, zero points per tensor or per column of B, numpy batch broadcasting) and
// the com.microsoft ops MatMulIntegerToFloat and DynamicQuantizeMatMul, and QLinearMatMul (that
// GEMM, then shaders/quant_requant.comp; per-tensor a / y, per-tensor or per-column b). Integer
// results are bit-identical to the CPU reference (runtime/cpu/ops/quant*.cpp, contrib_matmul.cpp).
//
// 8-bit tensors are uint8_t storage buffers: the device needs storageBuffer8BitAccess and
// shaderInt8 (VkFeatures::bytes()); without them every op here says no and runs on the CPU.
// The GEMM binds up to 8 tensors, so these kernels build their own dispatches: push words 0..7
// are the bindings' element offsets, the parameters follow.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/cpu/ops/common.h"
#include "runtime/device/quant_params.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using ops::attr_i;

using device::quant::b_param_stride;
using device::quant::has;
using device::quant::is_8bit;
using device::quant::is_scalar_like;
using device::quant::q_layout;
using device::quant::QLayout;
using device::quant::qmatmul_form;
using device::quant::QMatMulForm;
using device::quant::quantize_out_type;

uint32_t mask_of(DType t) {
  return t == DType::kInt8 ? 0x80u : 0u;
}

constexpr uint32_t kOffsets = 8;  // push words 0..7: element offsets of bindings 0..7

// Which tensor a binding reads or writes.
struct Ref {
  enum Kind { kInput, kOutput, kScratch, kDummy } kind = kDummy;
  int index = 0;
  uint32_t elem_size = 4;
};
Ref in_ref(int i, uint32_t es) {
  return i < 0 ? Ref{Ref::kDummy, 0, es} : Ref{Ref::kInput, i, es};
}
Ref out_ref(int i, uint32_t es) {
  return {Ref::kOutput, i, es};
}
Ref scratch_ref(int i, uint32_t es) {
  return {Ref::kScratch, i, es};
}

// Push-constant parameters after the 8 offsets.
class Params {
 public:
  Params& u(int64_t v) {
    if (next_ < kPushWords) words_[next_] = static_cast<uint32_t>(v);
    ++next_;
    return *this;
  }
  Params& arr(const std::vector<int64_t>& v, size_t count) {
    for (size_t i = 0; i < count; ++i) u(i < v.size() ? v[i] : 0);
    return *this;
  }
  bool overflow() const { return next_ > kPushWords; }
  const PushWords& words() const { return words_; }

 private:
  PushWords words_{};
  uint32_t next_ = kOffsets;
};

// A kernel made of dispatches in order over node inputs, outputs and scratch buffers allocated
// at prepare time. Absent optional inputs bind a small dummy buffer the shader does not read.
class QuantKernel : public DeviceKernel {
 public:
  QuantKernel(VkContext& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}

  Status init(std::vector<TensorDesc> outs) {
    outputs_ = std::move(outs);
    KILN_ASSIGN_OR_RETURN(int d, add_scratch(64));
    dummy_ = d;
    return Status::ok();
  }
  Expected<int> add_scratch(size_t bytes) {
    bytes = std::max<size_t>((bytes + 3) / 4 * 4, 16);
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<device::DeviceBuffer> b, ctx_.allocate(bytes));
    DeviceTensor t;
    t.desc = {DType::kUInt8, {static_cast<int64_t>(bytes)}};
    t.buffer = std::move(b);
    scratch_.push_back(std::move(t));
    return static_cast<int>(scratch_.size() - 1);
  }
  Status add_step(const std::string& variant, std::vector<Ref> refs, std::vector<bool> writes,
                  const Params& p, const uint32_t groups[3], uint32_t lx, uint32_t ly = 1) {
    if (p.overflow()) return internal_error(variant + ": too many push constants");
    Step s;
    KILN_ASSIGN_OR_RETURN(s.pipe,
                          ctx_.pipeline(variant, static_cast<uint32_t>(refs.size()), lx, ly));
    s.refs = std::move(refs);
    s.writes = std::move(writes);
    s.push = p.words();
    for (int g = 0; g < 3; ++g) s.groups[g] = groups[g];
    steps_.push_back(std::move(s));
    return Status::ok();
  }

  // The last step may instead run `variant` when bindings `refs` start at element offsets that
  // are multiples of 4 (word-aligned bytes).
  Status set_word_variant(const std::string& variant, std::vector<int> refs, uint32_t lx,
                          uint32_t ly, const uint32_t groups[3]) {
    Step& s = steps_.back();
    for (int g = 0; g < 3; ++g) s.groups_words[g] = groups[g];
    KILN_ASSIGN_OR_RETURN(s.pipe_words,
                          ctx_.pipeline(variant, static_cast<uint32_t>(s.refs.size()), lx, ly));
    s.word_refs = std::move(refs);
    return Status::ok();
  }

  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    for (const Step& s : steps_) {
      VkDispatch d;
      d.pipe = s.pipe;
      bool words = s.pipe_words != nullptr;
      d.push = s.push;
      for (int g = 0; g < 3; ++g) d.groups[g] = s.groups[g];
      for (size_t k = 0; k < s.refs.size(); ++k) {
        const Ref& r = s.refs[k];
        const DeviceTensor* t = nullptr;
        switch (r.kind) {
          case Ref::kInput:
          case Ref::kOutput: {
            const auto& list = r.kind == Ref::kInput ? inputs : outputs;
            if (r.index >= static_cast<int>(list.size()) || !list[r.index].buffer)
              return internal_error(name_ + ": " + (r.kind == Ref::kOutput ? "output " : "input ") +
                                    std::to_string(r.index) + " is not on the device");
            t = &list[r.index];
            break;
          }
          case Ref::kScratch:
            t = &scratch_[static_cast<size_t>(r.index)];
            break;
          case Ref::kDummy:
            t = &scratch_[static_cast<size_t>(dummy_)];
            break;
        }
        uint32_t off = 0;
        KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(*t, r.elem_size, s.writes[k], &off));
        d.push[k] = off;
        d.bindings.push_back(std::move(b));
        if (off % 4 != 0 && std::find(s.word_refs.begin(), s.word_refs.end(),
                                      static_cast<int>(k)) != s.word_refs.end())
          words = false;
      }
      if (words) {
        d.pipe = s.pipe_words;
        for (int g = 0; g < 3; ++g) d.groups[g] = s.groups_words[g];
      }
      ctx_.enqueue(std::move(d));
    }
    return Status::ok();
  }
  std::string name() const override { return name_; }

 private:
  struct Step {
    const VkPipelineEntry* pipe = nullptr;
    const VkPipelineEntry* pipe_words = nullptr;  // see set_word_variant
    std::vector<int> word_refs;
    uint32_t groups_words[3] = {1, 1, 1};
    std::vector<Ref> refs;
    std::vector<bool> writes;
    PushWords push{};
    uint32_t groups[3] = {1, 1, 1};
  };
  VkContext& ctx_;
  std::string name_;
  std::vector<Step> steps_;
  std::vector<DeviceTensor> scratch_;
  int dummy_ = 0;
};

constexpr uint32_t kLocal = 64;
// llvmpipe (lavapipe) stops a shader invocation's loops after 65535 iterations in all: every
// loop here stays below this many iterations per invocation.
constexpr int64_t kMaxLoop = 60000;

Support need_bytes(const VkContext& ctx) {
  if (!ctx.features().bytes())
    return Support::no(
        "int8 kernels need 8-bit storage and shaderInt8 on the Vulkan device (the packed-word "
        "path is not implemented)");
  return Support::yes();
}

// ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------------

Support quantize_supports(const VkContext& ctx, const ir::Node& n,
                          const std::vector<InputInfo>& in) {
  if (Support s = need_bytes(ctx); !s.ok) return s;
  if (!has(in, 0) || !has(in, 1)) return Support::no("inputs x and y_scale are required");
  if (in[0].desc.dtype != DType::kFloat32 || in[1].desc.dtype != DType::kFloat32)
    return Support::no("only float32 x and y_scale on Vulkan");
  if (n.opset() >= 23 && attr_i(n, "precision", 0) != 0)
    return Support::no("the precision attribute is not supported on Vulkan");
  auto out = quantize_out_type(n, in);
  if (!out) return Support::no(out.status().message());
  auto q = q_layout(n, in[0].desc.shape, in[1].desc.shape, has(in, 2) ? &in[2] : nullptr, "Vulkan");
  if (!q) return Support::no(q.status().message());
  return Support::yes();
}

Support dequantize_supports(const VkContext& ctx, const ir::Node& n,
                            const std::vector<InputInfo>& in) {
  if (Support s = need_bytes(ctx); !s.ok) return s;
  if (!has(in, 0) || !has(in, 1)) return Support::no("inputs x and x_scale are required");
  if (!is_8bit(in[0].desc.dtype)) return Support::no("only int8 / uint8 x on Vulkan");
  if (in[1].desc.dtype != DType::kFloat32) return Support::no("only float32 x_scale on Vulkan");
  if (has(in, 2) && in[2].desc.dtype != in[0].desc.dtype)
    return Support::no("x_zero_point's dtype differs from x's");
  const int64_t od = n.opset() >= 23 ? attr_i(n, "output_dtype", 0) : 0;
  if (od != 0 && od != static_cast<int64_t>(DType::kFloat32))
    return Support::no("only float32 output on Vulkan");
  auto q = q_layout(n, in[0].desc.shape, in[1].desc.shape, has(in, 2) ? &in[2] : nullptr, "Vulkan");
  if (!q) return Support::no(q.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> qdq_prepare(VkContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const bool quant = n.op_type() == "QuantizeLinear";
  KILN_ASSIGN_OR_RETURN(QLayout q, q_layout(n, in[0].desc.shape, in[1].desc.shape,
                                            has(in, 2) ? &in[2] : nullptr, "Vulkan"));
  DType qt = in[0].desc.dtype;
  if (quant) {
    KILN_ASSIGN_OR_RETURN(qt, quantize_out_type(n, in));
  }
  const int64_t numel = in[0].desc.numel();
  for (int64_t v : {numel, q.axis_dim, q.inner})
    if (!ops::fits_u32(v)) return unsupported("a dimension is too large for the shader");
  auto k = std::make_unique<QuantKernel>(ctx, quant ? "quantize_linear" : "dequantize_linear");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{quant ? qt : DType::kFloat32, in[0].desc.shape}}));
  if (numel == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  Params p;
  p.u(numel).u(q.axis_dim).u(q.inner).u(q.per_axis).u(has(in, 2)).u(mask_of(qt));
  p.u(qt == DType::kInt8 ? -128 : 0).u(qt == DType::kInt8 ? 127 : 255);
  const uint32_t groups[3] = {grid_groups(numel, kLocal), 1, 1};
  const int zp = has(in, 2) ? 2 : -1;
  KILN_RETURN_IF_ERROR(k->add_step(
      quant ? "quantize_linear" : "dequantize_linear",
      {in_ref(0, quant ? 4 : 1), in_ref(1, 4), in_ref(zp, 1), out_ref(0, quant ? 1 : 4)},
      {false, false, false, true}, p, groups, kLocal));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- DynamicQuantizeLinear ---------------------------------------------------------------------

// Appends the dynamic uint8 quantization of `x` (numel n): partial min/max into a scratch, the
// scale and zero point into `scale` / `zp`, the codes into `codes`.
Status add_dynamic_quant(QuantKernel& k, Ref x, int64_t n, Ref scale, Ref zp, Ref codes,
                         bool ort_rule) {
  if (!ops::fits_u32(n)) return unsupported("the input is too large for the shader");
  // Partial ranges: one per invocation, at most 16384 elements each (llvmpipe ends an
  // invocation's loops after 65535 iterations).
  if (n > kMaxLoop * 64 * 64) return unsupported("the input is too large for the shader");
  const int64_t groups = std::clamp<int64_t>((n + 16384 * 64 - 1) / (16384 * 64), 1, 64);
  const uint32_t parts = static_cast<uint32_t>(groups * 64);
  KILN_ASSIGN_OR_RETURN(int partial, k.add_scratch(parts * 2 * sizeof(float)));
  const uint32_t one[3] = {1, 1, 1};
  const uint32_t pg[3] = {static_cast<uint32_t>(groups), 1, 1};
  Params p1;
  p1.u(n);
  KILN_RETURN_IF_ERROR(
      k.add_step("dql_partial", {x, scratch_ref(partial, 4)}, {false, true}, p1, pg, 64));
  Params p2;
  p2.u(parts).u(ort_rule);
  KILN_RETURN_IF_ERROR(k.add_step("dql_params", {scratch_ref(partial, 4), scale, zp},
                                  {false, true, true}, p2, one, 1));
  if (n > 0) {
    Params p3;
    p3.u(n).u(ort_rule);
    const uint32_t groups[3] = {grid_groups(n, kLocal), 1, 1};
    KILN_RETURN_IF_ERROR(k.add_step("dql_quantize", {x, scale, zp, codes},
                                    {false, false, false, true}, p3, groups, kLocal));
  }
  return Status::ok();
}

Support dql_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (Support s = need_bytes(ctx); !s.ok) return s;
  if (!has(in, 0) || in[0].desc.dtype != DType::kFloat32)
    return Support::no("DynamicQuantizeLinear needs a float32 x");
  if (n.outputs().size() != 3 || !n.outputs()[1] || !n.outputs()[2])
    return Support::no("DynamicQuantizeLinear without its scale and zero point outputs");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> dql_prepare(VkContext& ctx, const ir::Node&,
                                                    const std::vector<InputInfo>& in) {
  auto k = std::make_unique<QuantKernel>(ctx, "dynamic_quantize_linear");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{DType::kUInt8, in[0].desc.shape},
                                TensorDesc{DType::kFloat32, {}}, TensorDesc{DType::kUInt8, {}}}));
  KILN_RETURN_IF_ERROR(add_dynamic_quant(*k, in_ref(0, 4), in[0].desc.numel(), out_ref(1, 4),
                                         out_ref(2, 1), out_ref(0, 1), false));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- Integer GEMM ------------------------------------------------------------------------------

struct QGemm {
  int64_t M = 0, N = 0, K = 0;
  Shape batch;  // at most 3 dims after dropping 1s and merging contiguous ones
  std::vector<int64_t> a_bs, b_bs;
  Shape out;
  bool b_vec = false;
  size_t out_batch_rank = 0;  // batch dims of the broadcast output (for b_zero_point's rank)
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
  KILN_ASSIGN_OR_RETURN(Shape batch, cpu::broadcast_shapes({ab, bb}));
  g.out_batch_rank = batch.size();
  g.out = batch;
  if (!a_vec) g.out.push_back(g.M);
  if (!g.b_vec) g.out.push_back(g.N);
  auto bstrides = [&](const Shape& bd, int64_t mat) {
    std::vector<int64_t> s(batch.size(), 0);
    int64_t stride = mat;
    for (int64_t i = static_cast<int64_t>(bd.size()) - 1,
                 o = static_cast<int64_t>(batch.size()) - 1;
         i >= 0; --i, --o) {
      s[o] = bd[i] == 1 ? 0 : stride;
      stride *= bd[i];
    }
    return s;
  };
  const auto as = bstrides(ab, g.M * g.K), bs = bstrides(bb, g.K * g.N);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i] == 1) continue;
    if (!g.batch.empty() && g.a_bs.back() == as[i] * batch[i] &&
        g.b_bs.back() == bs[i] * batch[i]) {
      g.batch.back() *= batch[i];
      g.a_bs.back() = as[i];
      g.b_bs.back() = bs[i];
      continue;
    }
    g.batch.push_back(batch[i]);
    g.a_bs.push_back(as[i]);
    g.b_bs.push_back(bs[i]);
  }
  if (g.batch.size() > 3) return unsupported("more than 3 independent batch dims");
  return g;
}

// b's per-tensor / per-column parameter stride for this GEMM (device::quant::b_param_stride).
Expected<int> b_stride(const Shape& ps, const QGemm& g, const char* what) {
  return b_param_stride(ps, g.N, g.b_vec, g.out_batch_rank, what);
}

// The GEMM step's packed-word variant, run when the rows of A and B are whole words (the
// offsets are checked at enqueue); the loop then takes 4 values of k per iteration. With
// shaderIntegerDotProduct enabled: qgemm_4x4_dot (packed 4 x 8-bit OpUDot); else 4 x 8 blocks of
// unpacked words. KILN_VK_QGEMM=4x4 or 4x8 picks the unpacked-word variant (for measurements and
// tests).
Status add_word_variant(const VkContext& ctx, QuantKernel& k, const QGemm& g, uint32_t lx,
                        uint32_t ly, int64_t gx, int64_t gy, int64_t nb) {
  if (g.K % 4 != 0 || g.N % 4 != 0 || g.K > 4 * kMaxLoop) return Status::ok();
  const char* e = std::getenv("KILN_VK_QGEMM");
  const std::string forced = e ? e : "";
  const bool dot = ctx.features().integer_dot_product && forced != "4x4" && forced != "4x8";
  const bool tn8 = !dot && forced != "4x4";
  const uint32_t wg[3] = {static_cast<uint32_t>(tn8 ? (g.N + 8 * lx - 1) / (8 * lx) : gx),
                          static_cast<uint32_t>(gy), static_cast<uint32_t>(nb)};
  const char* variant = dot ? "qgemm_4x4_dot" : (tn8 ? "qgemm_4x8_words" : "qgemm_4x4_words");
  return k.set_word_variant(variant, {0, 1}, lx, ly, wg);
}

Support qmatmul_supports(const VkContext& ctx, const ir::Node& n,
                         const std::vector<InputInfo>& in) {
  if (Support s = need_bytes(ctx); !s.ok) return s;
  auto f = qmatmul_form(n, in);
  if (!f) return Support::no(f.status().message());
  auto g = qgemm_geometry(in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  if (g->K > 8 * kMaxLoop)
    return Support::no("K = " + std::to_string(g->K) + " is above the shader's limit of " +
                       std::to_string(8 * kMaxLoop) + " (lavapipe's loop limit)");
  if (f->b_zp >= 0) {
    auto s = b_stride(in[f->b_zp].desc.shape, *g, "b_zero_point");
    if (!s) return Support::no(s.status().message());
  }
  if (n.op_type() != "MatMulInteger") {
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

Expected<std::unique_ptr<DeviceKernel>> qmatmul_prepare(VkContext& ctx, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QMatMulForm f, qmatmul_form(n, in));
  KILN_ASSIGN_OR_RETURN(QGemm g, qgemm_geometry(in[0].desc.shape, in[1].desc.shape));
  const bool float_out = n.op_type() != "MatMulInteger";
  auto k = std::make_unique<QuantKernel>(
      ctx, std::string(f.dynamic ? "dql+" : "") + "qgemm" + (float_out ? "_f32" : "_i32"));
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{float_out ? DType::kFloat32 : DType::kInt32, g.out}}));
  const int64_t nb = numel_of(g.batch);
  if (g.M == 0 || g.N == 0 || nb == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  for (int64_t v : {g.M, g.N, g.K, g.M * g.N * nb, in[0].desc.numel(), in[1].desc.numel()})
    if (!ops::fits_u32(v)) return unsupported("a GEMM dimension is too large for the shader");
  if (g.K > 8 * kMaxLoop)
    return unsupported("K = " + std::to_string(g.K) + " is above the shader's limit of " +
                       std::to_string(8 * kMaxLoop));
  constexpr uint32_t lx = 8, ly = 8;
  const int64_t gx = (g.N + 4 * lx - 1) / (4 * lx), gy = (g.M + 4 * ly - 1) / (4 * ly);
  if (gx > 65535 || gy > 65535 || nb > 65535)
    return unsupported("the GEMM needs more than 65535 workgroups in one dimension");
  Ref a = in_ref(f.a, 1), az = in_ref(f.a_zp, 1), as = in_ref(f.a_scale, 4);
  DType at = in[0].desc.dtype;
  if (f.dynamic) {
    const int64_t n_a = in[0].desc.numel();
    KILN_ASSIGN_OR_RETURN(int sc, k->add_scratch(sizeof(float)));
    KILN_ASSIGN_OR_RETURN(int zp, k->add_scratch(1));
    KILN_ASSIGN_OR_RETURN(int codes, k->add_scratch(static_cast<size_t>(n_a)));
    KILN_RETURN_IF_ERROR(add_dynamic_quant(*k, in_ref(0, 4), n_a, scratch_ref(sc, 4),
                                           scratch_ref(zp, 1), scratch_ref(codes, 1), true));
    a = scratch_ref(codes, 1);
    az = scratch_ref(zp, 1);
    as = scratch_ref(sc, 4);
    at = DType::kUInt8;
  }
  int bzp_stride = 0, bs_stride = 0;
  if (f.b_zp >= 0) {
    KILN_ASSIGN_OR_RETURN(bzp_stride, b_stride(in[f.b_zp].desc.shape, g, "b_zero_point"));
  }
  if (f.b_scale >= 0) bs_stride = numel_of(in[f.b_scale].desc.shape) == 1 ? 0 : 1;
  Params p;
  p.u(g.M).u(g.N).u(g.K).u(static_cast<int64_t>(g.batch.size()));
  p.arr(g.batch, 3).arr(g.a_bs, 3).arr(g.b_bs, 3);
  p.u(mask_of(at)).u(mask_of(in[1].desc.dtype));
  p.u((f.a_zp >= 0 || f.dynamic ? 1 : 0) | (f.b_zp >= 0 ? 2 : 0) | (float_out ? 4 : 0) |
      (f.bias >= 0 ? 8 : 0));
  p.u(bzp_stride).u(bs_stride);
  const uint32_t groups[3] = {static_cast<uint32_t>(gx), static_cast<uint32_t>(gy),
                              static_cast<uint32_t>(nb)};
  KILN_RETURN_IF_ERROR(k->add_step("qgemm_4x4",
                                   {a, in_ref(f.b, 1), az, in_ref(f.b_zp, 1), as,
                                    in_ref(f.b_scale, 4), in_ref(f.bias, 4), out_ref(0, 4)},
                                   {false, false, false, false, false, false, false, true}, p,
                                   groups, lx, ly));
  KILN_RETURN_IF_ERROR(add_word_variant(ctx, *k, g, lx, ly, gx, gy, nb));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// ---- QLinearMatMul -----------------------------------------------------------------------------

// The forms run on the device: 8-bit a / b / y, float32 scales, a's scale and zero point per
// tensor, b's per tensor or per column, y's per tensor: the MatMulInteger GEMM into an int32
// scratch, then qlinear_requant (quant_requant.comp). Anything else (per-row a, per-element y,
// float16 scales) runs on the CPU.
Status qlinear_check(const std::vector<InputInfo>& in, const QGemm* g) {
  KILN_RETURN_IF_ERROR(device::quant::qlinear_inputs(in));
  const Shape& bs = in[4].desc.shape;
  if (g) {
    KILN_RETURN_IF_ERROR(b_stride(bs, *g, "b_scale").status());
    if (g->K > 8 * kMaxLoop)
      return unsupported("K = " + std::to_string(g->K) + " is above the shader's limit of " +
                         std::to_string(8 * kMaxLoop) + " (lavapipe's loop limit)");
  }
  return Status::ok();
}

Support qlinear_supports(const VkContext& ctx, const ir::Node&, const std::vector<InputInfo>& in) {
  if (Support s = need_bytes(ctx); !s.ok) return s;
  Status st = qlinear_check(in, nullptr);
  if (!st.is_ok()) return Support::no(st.message());
  auto g = qgemm_geometry(in[0].desc.shape, in[3].desc.shape);
  if (!g) return Support::no(g.status().message());
  st = qlinear_check(in, &*g);
  if (!st.is_ok()) return Support::no(st.message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> qlinear_prepare(VkContext& ctx, const ir::Node&,
                                                        const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QGemm g, qgemm_geometry(in[0].desc.shape, in[3].desc.shape));
  KILN_RETURN_IF_ERROR(qlinear_check(in, &g));
  const DType yt = in[7].desc.dtype;
  auto k = std::make_unique<QuantKernel>(ctx, "qgemm_i32+qlinear_requant");
  KILN_RETURN_IF_ERROR(k->init({TensorDesc{yt, g.out}}));
  const int64_t nb = numel_of(g.batch);
  const int64_t total = nb * g.M * g.N;
  if (total == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  for (int64_t v : {g.M, g.N, g.K, total, in[0].desc.numel(), in[3].desc.numel()})
    if (!ops::fits_u32(v)) return unsupported("a GEMM dimension is too large for the shader");
  constexpr uint32_t lx = 8, ly = 8;
  const int64_t gx = (g.N + 4 * lx - 1) / (4 * lx), gy = (g.M + 4 * ly - 1) / (4 * ly);
  if (gx > 65535 || gy > 65535 || nb > 65535)
    return unsupported("the GEMM needs more than 65535 workgroups in one dimension");
  if (total / (65535 * static_cast<int64_t>(kLocal)) >= kMaxLoop)
    return unsupported("the output is too large for the requantization shader");
  KILN_ASSIGN_OR_RETURN(const int bs_stride, b_stride(in[4].desc.shape, g, "b_scale"));
  KILN_ASSIGN_OR_RETURN(int acc, k->add_scratch(static_cast<size_t>(total) * sizeof(int32_t)));
  Params p;
  p.u(g.M).u(g.N).u(g.K).u(static_cast<int64_t>(g.batch.size()));
  p.arr(g.batch, 3).arr(g.a_bs, 3).arr(g.b_bs, 3);
  p.u(mask_of(in[0].desc.dtype)).u(mask_of(in[3].desc.dtype));
  p.u(1 | 2);  // both zero points, int32 out
  p.u(bs_stride).u(0);
  const uint32_t groups[3] = {static_cast<uint32_t>(gx), static_cast<uint32_t>(gy),
                              static_cast<uint32_t>(nb)};
  KILN_RETURN_IF_ERROR(
      k->add_step("qgemm_4x4",
                  {in_ref(0, 1), in_ref(3, 1), in_ref(2, 1), in_ref(5, 1), in_ref(-1, 4),
                   in_ref(-1, 4), in_ref(-1, 4), scratch_ref(acc, 4)},
                  {false, false, false, false, false, false, false, true}, p, groups, lx, ly));
  KILN_RETURN_IF_ERROR(add_word_variant(ctx, *k, g, lx, ly, gx, gy, nb));
  Params r;
  r.u(total).u(g.N).u(bs_stride).u(mask_of(yt));
  r.u(yt == DType::kInt8 ? -128 : 0).u(yt == DType::kInt8 ? 127 : 255);
  const uint32_t rgroups[3] = {grid_groups(total, kLocal), 1, 1};
  KILN_RETURN_IF_ERROR(k->add_step(
      "qlinear_requant",
      {scratch_ref(acc, 4), in_ref(1, 4), in_ref(4, 4), in_ref(6, 4), in_ref(7, 1), out_ref(0, 1)},
      {false, false, false, false, false, true}, r, rgroups, kLocal));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

}  // namespace

void register_vk_quant(VkOpRegistry& r) {
  r.add("QuantizeLinear", {{}, quantize_supports, qdq_prepare});
  r.add("DequantizeLinear", {{}, dequantize_supports, qdq_prepare});
  r.add("DynamicQuantizeLinear", {{}, dql_supports, dql_prepare});
  r.add("MatMulInteger", {{}, qmatmul_supports, qmatmul_prepare});
  r.add("QLinearMatMul", {{}, qlinear_supports, qlinear_prepare});
  r.add("com.microsoft.MatMulIntegerToFloat", {{}, qmatmul_supports, qmatmul_prepare});
  r.add("com.microsoft.DynamicQuantizeMatMul", {{}, qmatmul_supports, qmatmul_prepare});
}

}  // namespace kiln::vulkan
