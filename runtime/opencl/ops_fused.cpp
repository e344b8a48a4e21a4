// OpenCL kernel of ai.kiln FusedElementwise (runtime/device/fused_program.h). OpenCL compiles at
// run time, so the kernel is generated per program at prepare time: one work-item per output
// element loads its inputs (broadcast offsets from collapsed dims, as the binary kernels of
// ops_elementwise.cpp do), runs the instructions as straight-line code with the immediates as
// exact hex-float literals, and stores the last register. Shapes are kernel arguments, so one
// program serves every shape; programs are cached by their source text (ClContext).
//
// The ops are spelled as kernels/elementwise.cl spells the unfused ones (same OpenCL built-ins),
// except Clip, Max and Min, which follow the CPU reference's NaN and lo > hi rules exactly.
#include <climits>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "runtime/cpu/ops/common.h"
#include "runtime/device/fused_program.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

namespace fz = device::fused;

constexpr int kMaxRank = 8;

std::string literal(float f) {
  if (std::isnan(f)) return "NAN";
  if (std::isinf(f)) return f > 0 ? "INFINITY" : "(-INFINITY)";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "(%af)", static_cast<double>(f));
  return buf;
}

std::string reg(int r) {
  std::string s = "r";
  s += std::to_string(r);
  return s;
}

// The OpenCL C expression of one instruction.
std::string expr(const fz::Instr& in) {
  const std::string a = in.a == fz::kConst ? literal(in.p0) : reg(in.a);
  const std::string b = in.b == fz::kConst ? literal(in.p0) : in.b >= 0 ? reg(in.b) : "";
  const std::string p0 = literal(in.p0), p1 = literal(in.p1);
  switch (in.op) {
    case fz::Op::kAdd:
      return a + " + " + b;
    case fz::Op::kSub:
      return a + " - " + b;
    case fz::Op::kMul:
      return a + " * " + b;
    case fz::Op::kDiv:
      return a + " / " + b;
    case fz::Op::kPow:
      if (in.b == fz::kConst && in.p0 == 2.0f) return a + " * " + a;
      return "pow(" + a + ", " + b + ")";
    case fz::Op::kMax:
      return "k_max(" + a + ", " + b + ")";
    case fz::Op::kMin:
      return "k_min(" + a + ", " + b + ")";
    case fz::Op::kRelu:
      return a + " < 0.0f ? 0.0f : " + a;
    case fz::Op::kSigmoid:
      return "k_sigmoid(" + a + ")";
    case fz::Op::kTanh:
      return "tanh(" + a + ")";
    case fz::Op::kExp:
      return "exp(" + a + ")";
    case fz::Op::kLog:
      return "log(" + a + ")";
    case fz::Op::kSqrt:
      return "sqrt(" + a + ")";
    case fz::Op::kNeg:
      return "-" + a;
    case fz::Op::kAbs:
      return "fabs(" + a + ")";
    case fz::Op::kErf:
      return "erf(" + a + ")";
    case fz::Op::kReciprocal:
      return "1.0f / " + a;
    case fz::Op::kClip:
      return "k_clip(" + a + ", " + p0 + ", " + p1 + ")";
    case fz::Op::kLeakyRelu:
      return a + " >= 0.0f ? " + a + " : " + p0 + " * " + a;
    case fz::Op::kHardSigmoid:
      return "fmax(0.0f, fmin(1.0f, " + p0 + " * " + a + " + " + p1 + "))";
    case fz::Op::kHardSwish:
      return a + " * fmax(0.0f, fmin(1.0f, " + a + " / 6.0f + 0.5f))";
  }
  return a;
}

// The kernel source for `p` (inputs x0.., output y; shapes as arguments).
std::string kernel_source(const fz::Program& p) {
  std::ostringstream s;
  s << "inline float k_sigmoid(float x) {\n"
       "  return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));\n"
       "}\n"
       "inline float k_clip(float x, float lo, float hi) {\n"
       "  float y = x;\n"
       "  if (y < lo) y = lo;\n"
       "  if (hi < y) y = hi;\n"
       "  return y;\n"
       "}\n"
       "inline float k_max(float a, float b) {\n"
       "  return isnan(a) ? a : isnan(b) ? b : (a < b ? b : a);\n"
       "}\n"
       "inline float k_min(float a, float b) {\n"
       "  return isnan(a) ? a : isnan(b) ? b : (b < a ? b : a);\n"
       "}\n"
       "__kernel void fused_elementwise(";
  for (int i = 0; i < p.num_inputs; ++i)
    s << "__global const float* x" << i << ", int x" << i << "_off, ";
  s << "__global float* y, int y_off, int n, int mode, int rank, int8 dims";
  for (int i = 0; i < p.num_inputs; ++i) s << ", int8 s" << i;
  s << ") {\n  int i = get_global_id(0);\n  if (i >= n) return;\n";
  for (int i = 0; i < p.num_inputs; ++i) s << "  int o" << i << " = i;\n";
  s << "  if (mode != 0) {\n"
       "    int d[8] = {dims.s0, dims.s1, dims.s2, dims.s3, dims.s4, dims.s5, dims.s6, dims.s7};\n";
  for (int i = 0; i < p.num_inputs; ++i) {
    s << "    int t" << i << "[8] = {";
    for (int k = 0; k < 8; ++k) s << (k ? ", " : "") << "s" << i << ".s" << k;
    s << "};\n    o" << i << " = 0;\n";
  }
  s << "    int r = i;\n    for (int k = rank - 1; k >= 0; --k) {\n      int q = r % d[k];\n"
       "      r /= d[k];\n";
  for (int i = 0; i < p.num_inputs; ++i) s << "      o" << i << " += q * t" << i << "[k];\n";
  s << "    }\n  }\n";
  for (int i = 0; i < p.num_inputs; ++i)
    s << "  float " << reg(i) << " = x" << i << "[x" << i << "_off + o" << i << "];\n";
  for (size_t j = 0; j < p.instrs.size(); ++j)
    s << "  float " << reg(p.num_inputs + static_cast<int>(j)) << " = " << expr(p.instrs[j])
      << ";\n";
  s << "  y[y_off + i] = " << reg(p.num_registers() - 1) << ";\n}\n";
  return s.str();
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

class FusedKernel : public ClLaunchKernel {
 public:
  FusedKernel(ClContext& ctx, cl::Kernel k, int num_inputs, const Shape& out, const fz::Geometry& c)
      : ClLaunchKernel(std::move(k), "fused_elementwise", inputs_list(num_inputs), 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, out}};
    const int n = static_cast<int>(numel_of(out));
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(n));
    set_fixed(a++, static_cast<cl_int>(c.dense ? 0 : 1));
    set_fixed(a++, static_cast<cl_int>(c.dims.size()));
    set_fixed(a++, to_int8(c.dims));
    for (const auto& st : c.strides) set_fixed(a++, to_int8(st));
    global_ = cl::NDRange(round_up(std::max(n, 1), 64));
    local_ = cl::NDRange(64);
  }

 private:
  static std::vector<int> inputs_list(int n) {
    std::vector<int> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
    return v;
  }
};

Support fused_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto g = fz::device_geometry(n, in, kMaxRank, "OpenCL");
  if (!g) return Support::no(g.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> fused_prepare(ClContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(fz::Program prog, fz::decode(n));
  KILN_ASSIGN_OR_RETURN(fz::Geometry c, fz::device_geometry(n, in, kMaxRank, "OpenCL"));
  const Shape& out = c.out;
  const std::string src = kernel_source(prog);
  // Cached by the whole source: the same program in another node or model reuses the build.
  KILN_ASSIGN_OR_RETURN(cl::Program p, ctx.program_from_text("fused_elementwise:" + src, src, ""));
  cl_int err = CL_SUCCESS;
  cl::Kernel k(p, "fused_elementwise", &err);
  if (err != CL_SUCCESS)
    return internal_error(n.describe() + ": kernel fused_elementwise: " + cl_error_name(err));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<FusedKernel>(ctx, std::move(k), prog.num_inputs, out, c));
}

}  // namespace

void register_cl_fused(ClOpRegistry& r) {
  r.add(std::string(fz::kDomain) + "." + fz::kOpType, {{}, fused_supports, fused_prepare});
}

}  // namespace kiln::opencl
