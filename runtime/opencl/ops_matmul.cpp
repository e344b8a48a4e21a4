// OpenCL MatMul and Gemm (kernels/matmul.cl): numpy batch broadcasting, transposed operands and
// Gemm's alpha / beta / broadcast bias, all through element strides.
#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

constexpr int kTM = 4, kTN = 4;

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

struct GemmGeometry {
  int64_t M = 0, N = 0, K = 0;
  int64_t sam = 0, sak = 0, sbk = 0, sbn = 0;
  Shape batch;                      // output batch dims
  std::vector<int64_t> a_bs, b_bs;  // batch strides (0 where broadcast)
  bool has_bias = false;
  int64_t bias_sm = 0, bias_sn = 0;
  float alpha = 1, beta = 1;
  Shape out;
};

class GemmKernel : public ClLaunchKernel {
 public:
  GemmKernel(ClContext& ctx, cl::Kernel k, const GemmGeometry& g, bool has_bias_input)
      : ClLaunchKernel(std::move(k), "gemm",
                       has_bias_input ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1, 0}, 1,
                       ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, g.out}};
    int64_t nb = numel_of(g.batch);
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(g.M));
    set_fixed(a++, static_cast<cl_int>(g.N));
    set_fixed(a++, static_cast<cl_int>(g.K));
    set_fixed(a++, static_cast<cl_int>(g.sam));
    set_fixed(a++, static_cast<cl_int>(g.sak));
    set_fixed(a++, static_cast<cl_int>(g.sbk));
    set_fixed(a++, static_cast<cl_int>(g.sbn));
    set_fixed(a++, static_cast<cl_int>(g.batch.size()));
    set_fixed(a++, to_int8(g.batch));
    set_fixed(a++, to_int8(g.a_bs));
    set_fixed(a++, to_int8(g.b_bs));
    set_fixed(a++, g.alpha);
    set_fixed(a++, g.beta);
    set_fixed(a++, static_cast<cl_int>(g.has_bias ? 1 : 0));
    set_fixed(a++, static_cast<cl_int>(g.bias_sm));
    set_fixed(a++, static_cast<cl_int>(g.bias_sn));
    size_t gx = round_up(static_cast<size_t>((g.N + kTN - 1) / kTN), 8);
    size_t gy = round_up(static_cast<size_t>((g.M + kTM - 1) / kTM), 8);
    global_ = cl::NDRange(gx, gy, static_cast<size_t>(std::max<int64_t>(nb, 1)));
    local_ = cl::NDRange(8, 8, 1);
    empty_ = g.M == 0 || g.N == 0 || nb == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

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
  if (in[0].desc.dtype != DType::kFloat32 || in[1].desc.dtype != DType::kFloat32)
    return Support::no("only float32 MatMul on OpenCL");
  auto g = matmul_geometry(in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> matmul_prepare(ClContext& ctx, const ir::Node&,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(GemmGeometry g, matmul_geometry(in[0].desc.shape, in[1].desc.shape));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("matmul", "-DTM=4 -DTN=4", "gemm"));
  return std::unique_ptr<DeviceKernel>(std::make_unique<GemmKernel>(ctx, std::move(k), g, false));
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
  for (const auto& i : in)
    if (i.present && i.desc.dtype != DType::kFloat32)
      return Support::no("only float32 Gemm on OpenCL");
  auto g = gemm_geometry(n, in);
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gemm_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(GemmGeometry g, gemm_geometry(n, in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("matmul", "-DTM=4 -DTN=4", "gemm"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<GemmKernel>(ctx, std::move(k), g, g.has_bias));
}

}  // namespace

void register_cl_matmul(ClOpRegistry& r) {
  r.add("MatMul", {{}, matmul_supports, matmul_prepare});
  r.add("Gemm", {{}, gemm_supports, gemm_prepare});
}

}  // namespace kiln::opencl
