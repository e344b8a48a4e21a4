// Vulkan MatMul and Gemm (shaders/matmul.comp): numpy batch broadcasting (up to 3 batch dims after
// folding), transposed operands through strides, Gemm's alpha / beta / broadcast bias. A MatMul
// whose B has no batch dims folds A's batch dims into M (one big GEMM). Row-major operands with K
// and N multiples of 4 use the vec4 variant when the tensors' offsets allow it at enqueue.
// float16 operands (all of the same type) use the matmul_f16* variants: 16-bit storage, float
// accumulation, one rounding per output; refused without storageBuffer16BitAccess.
#include <cstdio>
#include <cstdlib>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

struct Geometry {
  int64_t M = 0, N = 0, K = 0;
  Shape batch;
  std::vector<int64_t> a_bs, b_bs;  // batch strides (0 where broadcast)
  int64_t sam = 0, sak = 0, sbk = 0, sbn = 0;
  float alpha = 1.0f, beta = 0.0f;
  bool has_bias = false;
  int64_t bias_sm = 0, bias_sn = 0;
  Shape out;
};

// The vec4 GEMM configuration: shader variant, rows per invocation, workgroup size.
// KILN_VK_GEMM=variant,tm,lx,ly overrides it (for tuning).
// Measured on lavapipe (2 Zen 4 cores): 4x8 outputs per invocation reading vec4 is the fastest
// of 4x4, 8x4 and 4x8 (about 1.6x 4x4 per CPU second).
struct GemmTuning {
  std::string variant = "matmul_f32_vec4_tn8";
  uint32_t tm = 4, lx = 8, ly = 8;
  uint32_t tn = 8;  // columns per invocation (8 for the _tn8 variant)
};

const GemmTuning& gemm_tuning() {
  static const GemmTuning t = [] {
    GemmTuning g;
    if (const char* e = std::getenv("KILN_VK_GEMM")) {
      char name[64] = {};
      unsigned tm = 0, lx = 0, ly = 0;
      if (std::sscanf(e, "%63[^,],%u,%u,%u", name, &tm, &lx, &ly) == 4 && tm && lx && ly) {
        g.variant = name;
        g.tm = tm;
        g.lx = lx;
        g.ly = ly;
        g.tn = g.variant.find("_tn8") != std::string::npos ? 8 : 4;
      }
    }
    return g;
  }();
  return t;
}

constexpr uint32_t kLx = 8, kLy = 8, kTm = 4;  // the scalar variant

Expected<Geometry> matmul_geometry(const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty()) return invalid_argument("MatMul operands must not be scalars");
  Shape a = a_in, b = b_in;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  Geometry g;
  g.M = a[a.size() - 2];
  g.K = a.back();
  g.N = b.back();
  if (b[b.size() - 2] != g.K)
    return invalid_argument("MatMul inner dimensions differ: " + shape_to_string(a_in) + " x " +
                            shape_to_string(b_in));
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape batch, cpu::broadcast_shapes({ab, bb}));
  g.out = batch;
  if (!a_vec) g.out.push_back(g.M);
  if (!b_vec) g.out.push_back(g.N);
  g.sam = g.K;
  g.sak = 1;
  g.sbk = g.N;
  g.sbn = 1;
  if (numel_of(bb) == 1 && ab == batch) {
    // B is one matrix: A's batch dims are more rows.
    g.M *= numel_of(ab);
    return g;
  }
  // Drop size-1 output batch dims; the rest keep right-aligned strides.
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
  auto as = bstrides(ab, g.M * g.K), bs = bstrides(bb, g.K * g.N);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i] == 1) continue;
    // Merge with the previous dim when both operands are contiguous across them.
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

Expected<Geometry> gemm_geometry(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& a = in[0].desc.shape;
  const Shape& b = in[1].desc.shape;
  if (a.size() != 2 || b.size() != 2) return invalid_argument("Gemm operands must be 2-D");
  const bool ta = attr_i(n, "transA", 0) != 0, tb = attr_i(n, "transB", 0) != 0;
  Geometry g;
  g.M = ta ? a[1] : a[0];
  g.K = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0];
  g.N = tb ? b[0] : b[1];
  if (kb != g.K)
    return invalid_argument("Gemm inner dimensions differ: " + shape_to_string(a) + " x " +
                            shape_to_string(b));
  g.sam = ta ? 1 : a[1];
  g.sak = ta ? a[1] : 1;
  g.sbk = tb ? 1 : b[1];
  g.sbn = tb ? b[1] : 1;
  const ir::Attribute* al = n.attr("alpha");
  const ir::Attribute* be = n.attr("beta");
  g.alpha = al && al->type == ir::AttrType::kFloat ? al->f : 1.0f;
  g.beta = be && be->type == ir::AttrType::kFloat ? be->f : 1.0f;
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

// Operands all float32, or all float16 on a device with 16-bit storage.
Support float_operands(const VkContext& ctx, const std::vector<InputInfo>& in, const char* op) {
  const DType dt = in[0].desc.dtype;
  for (const auto& i : in) {
    if (!i.present) continue;
    if (i.desc.dtype != DType::kFloat32 && i.desc.dtype != DType::kFloat16)
      return Support::no(std::string("only float32 and float16 ") + op + " on Vulkan");
    if (i.desc.dtype != dt) return Support::no(std::string(op) + " operands of different types");
  }
  if (dt == DType::kFloat16 && !ctx.features().halves())
    return Support::no(std::string("float16 ") + op +
                       " needs 16-bit storage (storageBuffer16BitAccess) on the Vulkan device");
  return Support::yes();
}

// "matmul_f32..." -> "matmul_f16..." for float16 operands.
std::string typed_variant(const std::string& v, DType dt) {
  if (dt != DType::kFloat16) return v;
  std::string out = v;
  const size_t at = out.find("_f32");
  if (at != std::string::npos) out.replace(at, 4, "_f16");
  return out;
}

Expected<std::unique_ptr<DeviceKernel>> make_gemm(VkContext& ctx, const Geometry& g,
                                                  const std::string& name, DType dt) {
  std::vector<VkStep> steps;
  const int64_t nb = numel_of(g.batch);
  if (g.M > 0 && g.N > 0 && nb > 0) {
    for (int64_t v : {g.M, g.N, g.K, g.M * g.N * nb})
      if (!fits_u32(v)) return unsupported("a GEMM dimension is too large for the shader");
    const GemmTuning& t = gemm_tuning();
    bool vec4 = g.sak == 1 && g.sbn == 1 && g.K % 4 == 0 && g.N % 4 == 0 && g.sam % 4 == 0 &&
                g.sbk % 4 == 0;
    for (size_t i = 0; i < g.batch.size(); ++i)
      vec4 = vec4 && g.a_bs[i] % 4 == 0 && g.b_bs[i] % 4 == 0;
    // Workgroups of the scalar variant, and of the vec4 one (its own tile), which enqueue
    // picks when the tensors' offsets are 16-byte aligned.
    const int64_t gx = (g.N + 4 * kLx - 1) / (4 * kLx), gy = (g.M + kTm * kLy - 1) / (kTm * kLy);
    const int64_t vx = (g.N + t.tn * t.lx - 1) / (t.tn * t.lx),
                  vy = (g.M + t.tm * t.ly - 1) / (t.tm * t.ly);
    if (gx > 65535 || gy > 65535 || vx > 65535 || vy > 65535 || nb > 65535)
      return unsupported("the GEMM needs more than 65535 workgroups in one dimension");
    Push p;
    p.u(g.M).u(g.N).u(g.K).u(static_cast<int64_t>(g.batch.size()));
    p.arr(g.batch, 3).arr(g.a_bs, 3).arr(g.b_bs, 3);
    p.u(g.sam).u(g.sak).u(g.sbk).u(g.sbn).f(g.alpha).f(g.beta).u(g.bias_sm).u(g.bias_sn);
    p.u(g.has_bias ? 1 : 0);
    if (p.overflow()) return internal_error("matmul: too many push constants");
    VkStep s;
    // Shapes and strides are known here: specialization constants of both pipelines.
    const std::vector<uint32_t> spec = gemm_spec(ctx, g.M, g.N, g.K, g.sam, g.sak, g.sbk, g.sbn);
    KILN_ASSIGN_OR_RETURN(s.pipe,
                          ctx.pipeline(typed_variant("matmul_f32", dt), 4, kLx, kLy, spec));
    if (vec4) {
      KILN_ASSIGN_OR_RETURN(s.pipe_vec4,
                            ctx.pipeline(typed_variant(t.variant, dt), 4, t.lx, t.ly, spec));
      s.vec4_refs = {0, 1};
      s.groups_vec4[0] = static_cast<uint32_t>(vx);
      s.groups_vec4[1] = static_cast<uint32_t>(vy);
      s.groups_vec4[2] = static_cast<uint32_t>(nb);
    }
    const uint32_t es = dt == DType::kFloat16 ? 2 : 4;
    s.refs = {in_ref(0, es), in_ref(1, es), in_ref(g.has_bias ? 2 : 0, es), out_ref(0, es)};
    s.push = p.words();
    s.groups[0] = static_cast<uint32_t>(gx);
    s.groups[1] = static_cast<uint32_t>(gy);
    s.groups[2] = static_cast<uint32_t>(nb);
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, name, {{dt, g.out}}, std::move(steps));
}

Support matmul_supports(const VkContext& ctx, const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return Support::no("missing input");
  Support fs = float_operands(ctx, in, "MatMul");
  if (!fs.ok) return fs;
  auto g = matmul_geometry(in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> matmul_prepare(VkContext& ctx, const ir::Node&,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(Geometry g, matmul_geometry(in[0].desc.shape, in[1].desc.shape));
  return make_gemm(ctx, g, "matmul", in[0].desc.dtype);
}

Support gemm_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return Support::no("missing input");
  Support fs = float_operands(ctx, in, "Gemm");
  if (!fs.ok) return fs;
  if (n.opset() < 7) return Support::no("Gemm before opset 7 (broadcast attribute)");
  auto g = gemm_geometry(n, in);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gemm_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(Geometry g, gemm_geometry(n, in));
  return make_gemm(ctx, g, "gemm", in[0].desc.dtype);
}

}  // namespace

void register_vk_matmul(VkOpRegistry& r) {
  r.add("MatMul", {{}, matmul_supports, matmul_prepare});
  r.add("Gemm", {{}, gemm_supports, gemm_prepare});
}

}  // namespace kiln::vulkan
