// CPU kernel of ai.kiln FusedElementwise (runtime/device/fused_program.h): the program runs over
// blocks of up to kBlock output elements, one float array per register, so each instruction is a
// plain loop the compiler vectorises. Inputs broadcast to the output (numpy rules); dims that
// every input walks the same way are merged, so a block is a stretch of the innermost merged
// dim, where each input is either contiguous (read in place) or one repeated value.
//
// Every instruction computes what the reference kernel of its ONNX op computes for float32
// (device::fused::eval_op; Erf through fast::vec_erf when the unfused Erf kernel takes it), so the
// result is bit-equal to running the nodes one by one.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/device/fused_program.h"

namespace kiln::cpu {

namespace {

namespace fz = device::fused;

constexpr int64_t kBlock = 512;

// y[k] = f(a[k], b[k]) where a null array stands for the immediate c.
template <typename F>
void binary_loop(const float* a, const float* b, float c, float* y, int64_t n, F f) {
  if (!a) {
    for (int64_t k = 0; k < n; ++k) y[k] = f(c, b[k]);
  } else if (!b) {
    for (int64_t k = 0; k < n; ++k) y[k] = f(a[k], c);
  } else {
    for (int64_t k = 0; k < n; ++k) y[k] = f(a[k], b[k]);
  }
}

template <typename F>
void unary_loop(const float* a, float* y, int64_t n, F f) {
  for (int64_t k = 0; k < n; ++k) y[k] = f(a[k]);
}

void run_instr(const fz::Instr& in, const float* a, const float* b, float* y, int64_t n,
               bool fast) {
  const float c = in.p0, p1 = in.p1;
  switch (in.op) {
    case fz::Op::kAdd: return binary_loop(a, b, c, y, n, [](float u, float v) { return u + v; });
    case fz::Op::kSub: return binary_loop(a, b, c, y, n, [](float u, float v) { return u - v; });
    case fz::Op::kMul: return binary_loop(a, b, c, y, n, [](float u, float v) { return u * v; });
    case fz::Op::kDiv: return binary_loop(a, b, c, y, n, [](float u, float v) { return u / v; });
    case fz::Op::kPow:
      if (!b && c == 2.0f)  // x * x: bit-equal to the double pow rounded once
        return unary_loop(a, y, n, [](float u) { return u * u; });
      return binary_loop(a, b, c, y, n, [](float u, float v) {
        return fz::eval_op(fz::Op::kPow, u, v, 0, 0);
      });
    case fz::Op::kMax:
      return binary_loop(a, b, c, y, n,
                         [](float u, float v) { return fz::eval_op(fz::Op::kMax, u, v, 0, 0); });
    case fz::Op::kMin:
      return binary_loop(a, b, c, y, n,
                         [](float u, float v) { return fz::eval_op(fz::Op::kMin, u, v, 0, 0); });
    case fz::Op::kRelu: return unary_loop(a, y, n, [](float u) { return u < 0.0f ? 0.0f : u; });
    case fz::Op::kNeg: return unary_loop(a, y, n, [](float u) { return -u; });
    case fz::Op::kAbs: return unary_loop(a, y, n, [](float u) { return std::fabs(u); });
    case fz::Op::kReciprocal: return unary_loop(a, y, n, [](float u) { return 1.0f / u; });
    case fz::Op::kSqrt: return unary_loop(a, y, n, [](float u) { return std::sqrt(u); });
    case fz::Op::kErf:
      if (fast) return fast::vec_erf(a, y, n);
      return unary_loop(a, y, n, [](float u) { return std::erf(u); });
    case fz::Op::kClip:
      return unary_loop(a, y, n, [c, p1](float u) {
        float v = u;
        if (v < c) v = c;
        if (p1 < v) v = p1;
        return v;
      });
    case fz::Op::kLeakyRelu: return unary_loop(a, y, n, [c](float u) { return u < 0.0f ? c * u : u; });
    case fz::Op::kHardSigmoid:
      return unary_loop(a, y, n,
                        [c, p1](float u) { return std::max(0.0f, std::min(1.0f, c * u + p1)); });
    case fz::Op::kHardSwish:
      return unary_loop(a, y, n,
                        [](float u) { return u * std::max(0.0f, std::min(1.0f, u / 6.0f + 0.5f)); });
    case fz::Op::kSigmoid:
      return unary_loop(a, y, n, [](float u) { return fz::eval_op(fz::Op::kSigmoid, u, 0, 0, 0); });
    case fz::Op::kTanh: return unary_loop(a, y, n, [](float u) { return std::tanh(u); });
    case fz::Op::kExp: return unary_loop(a, y, n, [](float u) { return std::exp(u); });
    case fz::Op::kLog: return unary_loop(a, y, n, [](float u) { return std::log(u); });
  }
}

Status fused_elementwise_kernel(OpContext& ctx) {
  KILN_ASSIGN_OR_RETURN(fz::Program prog, fz::decode(ctx.node()));
  const int ni = prog.num_inputs;
  if (static_cast<int>(ctx.num_inputs()) != ni) return ctx.invalid("input count mismatch");
  // Output shape: the inputs broadcast together.
  Shape out;
  for (int i = 0; i < ni; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    const Tensor& t = ctx.input(i);
    if (t.dtype() != DType::kFloat32)
      return ctx.invalid("input " + std::to_string(i) + " has dtype " + dtype_name(t.dtype()) +
                         " (float32 only)");
    const Shape& s = t.shape();
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t& o = out[out.size() - s.size() + k];
      const int64_t d = s[k];
      if (o == d || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      return ctx.invalid("input shapes do not broadcast: input " + std::to_string(i) + " is " +
                         shape_to_string(s) + ", the others give " + shape_to_string(out));
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, out));
  const int64_t total = numel_of(out);
  if (total == 0) return Status::ok();

  // Per-input strides over the output dims (0 where broadcast), then merged dims.
  const size_t rank = out.size();
  std::vector<std::vector<int64_t>> st(ni, std::vector<int64_t>(rank, 0));
  for (int i = 0; i < ni; ++i) {
    const Shape& s = ctx.input(i).shape();
    int64_t stride = 1;
    for (size_t k = s.size(); k-- > 0;) {
      const size_t ok = rank - s.size() + k;
      st[i][ok] = s[k] == 1 ? 0 : stride;
      stride *= s[k];
    }
  }
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> mst(ni);
  for (size_t k = 0; k < rank; ++k) {
    if (out[k] == 1) continue;
    bool merge = !dims.empty();
    for (int i = 0; i < ni && merge; ++i) merge = mst[i].back() == st[i][k] * out[k];
    if (merge) {
      dims.back() *= out[k];
      for (int i = 0; i < ni; ++i) mst[i].back() = st[i][k];
    } else {
      dims.push_back(out[k]);
      for (int i = 0; i < ni; ++i) mst[i].push_back(st[i][k]);
    }
  }
  if (dims.empty()) {  // one element
    dims.push_back(1);
    for (int i = 0; i < ni; ++i) mst[i].push_back(0);
  }
  const int64_t inner = dims.back();
  const int64_t rows = total / inner;
  const int64_t chunks = (inner + kBlock - 1) / kBlock;
  const bool fast = fast::elementwise_fast_enabled();
  const int nr = prog.num_registers();
  std::vector<const float*> base(ni);
  for (int i = 0; i < ni; ++i) base[i] = ctx.input(i).data<float>();
  float* py = y->data<float>();

  const int64_t grain = std::max<int64_t>(1, 16384 / std::min(inner, kBlock));
  ctx.parallel_for(rows * chunks, grain, [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(nr) * kBlock);
    std::vector<const float*> reg(nr);
    std::vector<int64_t> idx(dims.size());
    for (int64_t item = b; item < e; ++item) {
      const int64_t row = item / chunks, c0 = (item % chunks) * kBlock;
      const int64_t n = std::min(kBlock, inner - c0);
      // Row index -> per-input offsets.
      int64_t r = row;
      for (size_t k = dims.size() - 1; k-- > 0;) {
        idx[k] = r % dims[k];
        r /= dims[k];
      }
      for (int i = 0; i < ni; ++i) {
        int64_t off = 0;
        for (size_t k = 0; k + 1 < dims.size(); ++k) off += idx[k] * mst[i][k];
        if (mst[i].back() == 1) {
          reg[i] = base[i] + off + c0;
        } else {
          float* buf = scratch.data() + static_cast<size_t>(i) * kBlock;
          std::fill(buf, buf + n, base[i][off]);
          reg[i] = buf;
        }
      }
      for (size_t j = 0; j < prog.instrs.size(); ++j) {
        const fz::Instr& in = prog.instrs[j];
        const int dst = ni + static_cast<int>(j);
        float* yb = j + 1 == prog.instrs.size()
                        ? py + row * inner + c0
                        : scratch.data() + static_cast<size_t>(dst) * kBlock;
        const float* a = in.a >= 0 ? reg[in.a] : nullptr;
        const float* bb = in.b >= 0 ? reg[in.b] : nullptr;
        run_instr(in, a, bb, yb, n, fast);
        reg[dst] = yb;
      }
    }
  });
  return Status::ok();
}

}  // namespace

void register_fused_kernels(KernelRegistry& r) {
  r.add(fz::kDomain, fz::kOpType, fused_elementwise_kernel);
}

}  // namespace kiln::cpu
