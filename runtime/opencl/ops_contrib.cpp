// OpenCL kernels for ONNX Runtime contrib ops (com.microsoft, float32): the Gelu family and
// BiasAdd, SkipLayerNormalization / SkipSimplifiedLayerNormalization /
// SimplifiedLayerNormalization and EmbedLayerNormalization (kernels/contrib.cl), and fused
// Attention / MultiHeadAttention (kernels/attention.cl; Attention's packed Q/K/V projection runs
// on the tuned GEMM of ops_matmul.cpp into the kernel's scratch; 3-D, BNSH or packed key / value,
// packed QKV, past / present key-value state gathered by kv_present). Semantics follow the CPU
// references in runtime/cpu/ops/contrib_*.cpp; anything those kernels accept but these do not
// handle is refused in supports() with a reason.
#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/opencl/ops_matmul_internal.h"

namespace kiln::opencl {

namespace {

const char* kMs = "com.microsoft";

float attr_f(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type == ir::AttrType::kFloat) return a->f;
  if (a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
  return def;
}

int64_t attr_i(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

bool has(const std::vector<InputInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}

bool wants_output(const ir::Node& n, size_t o) {
  return o < n.outputs().size() && n.outputs()[o] != nullptr;
}

bool is_f32(const std::vector<InputInfo>& in, size_t i) {
  return has(in, i) && in[i].desc.dtype == DType::kFloat32;
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// A buffer argument of a launch: node input `index`, node output `index`, or a region of the
// kernel's scratch (DeviceKernel::scratch_bytes, float32 elements). An absent input or output
// is bound to a small dummy buffer (the kernel is told by a flag not to touch it).
struct BufArg {
  enum Kind { kInput, kOutput, kScratch } kind;
  int index;
};

// A kernel made of steps run in order: OpenCL launches, and whole device kernels of other op
// families (the tuned GEMM) whose inputs and outputs are node tensors or scratch regions. The
// scratch regions live in the one scratch tensor the executor passes after the outputs.
class MultiLaunchKernel : public DeviceKernel {
 public:
  struct Launch {
    cl::Kernel kernel;
    std::vector<BufArg> bufs;
    cl::NDRange global, local;
  };
  struct Sub {
    std::unique_ptr<DeviceKernel> kernel;
    std::vector<BufArg> ins, outs;
    int scratch = -1;  // the sub-kernel's own scratch region
  };

  MultiLaunchKernel(ClContext& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}

  Status init_dummy() {
    cl_int err = CL_SUCCESS;
    dummy_ = cl::Buffer(ctx_.context(), CL_MEM_READ_WRITE, 64, nullptr, &err);
    if (err != CL_SUCCESS) return out_of_memory(name_ + ": dummy buffer: " + cl_error_name(err));
    return Status::ok();
  }
  // A scratch region of `bytes`; returns its index for BufArg::kScratch.
  int add_scratch(size_t bytes) {
    regions_.push_back({scratch_total_, bytes});
    scratch_total_ += (std::max<size_t>(bytes, 4) + 255) / 256 * 256;
    return static_cast<int>(regions_.size() - 1);
  }
  size_t scratch_bytes() const override { return scratch_total_; }
  // Adds a launch; `fixed` args are set after the buffer pairs by the caller via set().
  Launch& add_launch(cl::Kernel k, std::vector<BufArg> bufs, cl::NDRange g, cl::NDRange l) {
    steps_.push_back(Step{Launch{std::move(k), std::move(bufs), g, l}, Sub{}});
    return steps_.back().launch;
  }
  void add_sub(std::unique_ptr<DeviceKernel> k, std::vector<BufArg> ins, std::vector<BufArg> outs) {
    Sub sub{std::move(k), std::move(ins), std::move(outs), -1};
    if (const size_t b = sub.kernel->scratch_bytes(); b > 0) sub.scratch = add_scratch(b);
    Step st;
    st.sub = std::move(sub);
    steps_.push_back(std::move(st));
  }
  template <typename T>
  void set(Launch& L, cl_uint i, const T& value) {
    cl_int err = L.kernel.setArg(2 * static_cast<cl_uint>(L.bufs.size()) + i, value);
    if (err != CL_SUCCESS && setup_.is_ok())
      setup_ = internal_error(name_ + ": setArg(" + std::to_string(i) +
                              ") failed: " + cl_error_name(err));
  }
  void set_outputs(std::vector<TensorDesc> o) { outputs_ = std::move(o); }
  void set_inplace(std::vector<int> v) { inplace_ = std::move(v); }

  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    KILN_RETURN_IF_ERROR(setup_);
    const DeviceTensor* scr = scratch(outputs);
    if (scratch_total_ > 0 && (!scr || scr->desc.nbytes() < scratch_total_))
      return internal_error(name_ + ": needs " + std::to_string(scratch_total_) +
                            " bytes of scratch after its outputs");
    // The device tensor behind a buffer argument (nullptr: absent).
    auto tensor_of = [&](const BufArg& a, DeviceTensor* tmp) -> const DeviceTensor* {
      if (a.kind == BufArg::kScratch) {
        const auto& [off, bytes] = regions_[static_cast<size_t>(a.index)];
        tmp->desc = TensorDesc{DType::kFloat32, {static_cast<int64_t>(bytes / 4)}};
        tmp->buffer = scr->buffer;
        tmp->offset = scr->offset + off;
        return tmp;
      }
      const auto& list = a.kind == BufArg::kInput ? inputs : outputs;
      if (a.index >= 0 && static_cast<size_t>(a.index) < list.size() &&
          list[static_cast<size_t>(a.index)].buffer)
        return &list[static_cast<size_t>(a.index)];
      return nullptr;
    };
    for (Step& st : steps_) {
      if (st.sub.kernel) {
        std::vector<DeviceTensor> ins, outs;
        DeviceTensor tmp;
        for (const BufArg& a : st.sub.ins) {
          const DeviceTensor* t = tensor_of(a, &tmp);
          ins.push_back(t ? *t : DeviceTensor{});
        }
        for (const BufArg& a : st.sub.outs) {
          const DeviceTensor* t = tensor_of(a, &tmp);
          outs.push_back(t ? *t : DeviceTensor{});
        }
        if (st.sub.scratch >= 0) {
          const DeviceTensor* t = tensor_of({BufArg::kScratch, st.sub.scratch}, &tmp);
          outs.push_back(*t);
        }
        KILN_RETURN_IF_ERROR(st.sub.kernel->enqueue(ins, outs));
        continue;
      }
      Launch& L = st.launch;
      cl_uint arg = 0;
      for (const BufArg& a : L.bufs) {
        DeviceTensor tmp;
        const DeviceTensor* t = tensor_of(a, &tmp);
        cl::Buffer* buf = &dummy_;
        cl_int off = 0;
        if (t) {
          buf = &cl_buffer(*t);
          off = static_cast<cl_int>(t->offset / std::max<size_t>(dtype_size(t->desc.dtype), 1));
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
  struct Step {
    Launch launch;
    Sub sub;
  };
  ClContext& ctx_;
  std::string name_;
  std::vector<Step> steps_;
  std::vector<std::pair<size_t, size_t>> regions_;  // scratch (offset, bytes)
  size_t scratch_total_ = 0;
  cl::Buffer dummy_;
  Status setup_;
};

BufArg in_arg(int i) {
  return {BufArg::kInput, i};
}
BufArg out_arg(int i) {
  return {BufArg::kOutput, i};
}

// Output descriptions for every node output; absent ones get a 1-element placeholder.
std::vector<TensorDesc> output_descs(const ir::Node& n, std::vector<TensorDesc> present) {
  std::vector<TensorDesc> out(n.outputs().size(), TensorDesc{DType::kFloat32, {1}});
  for (size_t i = 0; i < out.size() && i < present.size(); ++i)
    if (wants_output(n, i)) out[i] = present[i];
  return out;
}

// --- Gelu family and BiasAdd -------------------------------------------------------------------

// Op code and which inputs are bias / skip.
struct ActForm {
  int op = 0;
  int bias = -1, skip = -1;
};

ActForm act_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  const std::string& op = n.op_type();
  if (op == "Gelu") return {1, -1, -1};
  if (op == "BiasGelu") return {1, 1, -1};
  if (op == "FastGelu") return {2, has(in, 1) ? 1 : -1, -1};
  if (op == "QuickGelu") return {3, -1, -1};
  return {0, 1, 2};  // BiasAdd
}

Support act_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!is_f32(in, 0)) return Support::no("only float32 contrib kernels exist on OpenCL");
  const ActForm f = act_form(n, in);
  const Shape& xs = in[0].desc.shape;
  if (n.op_type() == "BiasGelu" && !has(in, 1)) return Support::no("missing input B");
  if (n.op_type() == "BiasAdd") {
    if (!has(in, 1) || !has(in, 2)) return Support::no("needs inputs X, bias and skip");
    if (xs.size() != 3) return Support::no("X must be 3-D");
  }
  if (f.bias >= 0) {
    if (xs.empty()) return Support::no("X must have rank >= 1");
    if (!is_f32(in, f.bias) || in[f.bias].desc.shape != Shape{xs.back()})
      return Support::no("bias must be float32 1-D of X's last dim");
  }
  if (f.skip >= 0 && (!is_f32(in, f.skip) || in[f.skip].desc.shape != xs))
    return Support::no("skip must be float32 of X's shape");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> act_prepare(ClContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const ActForm f = act_form(n, in);
  const Shape& xs = in[0].desc.shape;
  const int numel = static_cast<int>(numel_of(xs));
  const int c = xs.empty() ? 1 : static_cast<int>(std::max<int64_t>(xs.back(), 1));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("contrib", "-DT=float", "act_bias"));
  auto kern = std::make_unique<MultiLaunchKernel>(ctx, "contrib_" + n.op_type());
  KILN_RETURN_IF_ERROR(kern->init_dummy());
  auto& L = kern->add_launch(std::move(k), {in_arg(0), in_arg(f.bias), in_arg(f.skip), out_arg(0)},
                             cl::NDRange(round_up(std::max(numel, 1), 64)), cl::NDRange(64));
  kern->set(L, 0, static_cast<cl_int>(f.op));
  kern->set(L, 1, static_cast<cl_int>(numel));
  kern->set(L, 2, static_cast<cl_int>(c));
  kern->set(L, 3, static_cast<cl_int>(f.bias >= 0));
  kern->set(L, 4, static_cast<cl_int>(f.skip >= 0));
  kern->set(L, 5, attr_f(n, "alpha", 1.702f));
  kern->set_outputs({in[0].desc});
  kern->set_inplace({0});  // each work-item reads x[i], then writes y[i]
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- normalisations ----------------------------------------------------------------------------

enum NormFlags {
  kSkip = 1,
  kBeta = 2,
  kBias = 4,
  kSimplified = 8,
  kMean = 16,
  kInv = 32,
  kSum = 64
};

struct NormForm {
  bool skip_form = false;  // SkipLayerNormalization / SkipSimplifiedLayerNormalization
  bool simplified = false;
  int beta = -1, bias = -1;
  int64_t rows = 0, h = 0, skip_rows = 1;
  float eps = 0;
};

Expected<NormForm> norm_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  NormForm f;
  const std::string& op = n.op_type();
  f.skip_form = op != "SimplifiedLayerNormalization";
  f.simplified = op != "SkipLayerNormalization";
  if (!is_f32(in, 0)) return unsupported("only float32 normalisation kernels exist on OpenCL");
  const Shape& xs = in[0].desc.shape;
  if (f.skip_form) {
    if (!has(in, 1) || !has(in, 2)) return invalid_argument("needs inputs input, skip and gamma");
    if (xs.size() != 2 && xs.size() != 3) return invalid_argument("input must be 2-D or 3-D");
    f.h = xs.back();
    if (f.h <= 0) return invalid_argument("hidden size is 0");
    const Shape& ss = in[1].desc.shape;
    const bool bcast =
        xs.size() == 3 && ((ss.size() == 3 && ss[0] == 1 && ss[1] == xs[1] && ss[2] == f.h) ||
                           (ss.size() == 2 && ss[0] == xs[1] && ss[1] == f.h));
    if (ss != xs && !bcast) return invalid_argument("skip's shape does not fit the input");
    if (!is_f32(in, 1)) return unsupported("skip must be float32");
    f.beta = !f.simplified && has(in, 3) ? 3 : -1;
    f.bias = has(in, f.simplified ? 3 : 4) ? (f.simplified ? 3 : 4) : -1;
    for (int i : {2, f.beta, f.bias})
      if (i >= 0 && (!is_f32(in, i) || in[i].desc.shape != Shape{f.h}))
        return invalid_argument("gamma / beta / bias must be float32 1-D of the hidden size");
    f.rows = numel_of(xs) / f.h;
    f.skip_rows = std::max<int64_t>(numel_of(ss) / f.h, 1);
    f.eps = attr_f(n, "epsilon", 1e-12f);
  } else {
    if (!has(in, 1) || !is_f32(in, 1)) return unsupported("scale must be float32");
    const int64_t rank = static_cast<int64_t>(xs.size());
    if (rank == 0) return invalid_argument("X must have rank >= 1");
    int64_t axis = attr_i(n, "axis", -1);
    if (axis < -rank || axis >= rank) return invalid_argument("axis out of range");
    if (axis < 0) axis += rank;
    if (attr_i(n, "stash_type", 1) != 1) return unsupported("stash_type other than 1");
    f.h = 1;
    for (int64_t d = axis; d < rank; ++d) f.h *= xs[static_cast<size_t>(d)];
    if (f.h <= 0) return unsupported("empty normalised size");
    if (in[1].desc.numel() != f.h) return invalid_argument("scale size does not match");
    f.rows = numel_of(xs) / f.h;
    f.eps = attr_f(n, "epsilon", 1e-5f);
  }
  if (!(f.eps >= 0)) return invalid_argument("epsilon must be >= 0");
  return f;
}

Support norm_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto f = norm_form(n, in);
  if (!f) return Support::no(f.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> norm_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(NormForm f, norm_form(n, in));
  const Shape& xs = in[0].desc.shape;
  int flags = 0;
  if (f.skip_form) flags |= kSkip;
  if (f.beta >= 0) flags |= kBeta;
  if (f.bias >= 0) flags |= kBias;
  if (f.simplified) flags |= kSimplified;
  Shape stat = xs;
  int mean_o = -1, inv_o = -1, sum_o = -1;
  if (f.skip_form) {
    stat.back() = 1;
    mean_o = 1;
    inv_o = 2;
    sum_o = 3;
  } else {
    const int64_t rank = static_cast<int64_t>(xs.size());
    int64_t axis = attr_i(n, "axis", -1);
    if (axis < 0) axis += rank;
    for (int64_t d = axis; d < rank; ++d) stat[static_cast<size_t>(d)] = 1;
    inv_o = 1;
  }
  if (mean_o >= 0 && wants_output(n, static_cast<size_t>(mean_o))) flags |= kMean;
  if (wants_output(n, static_cast<size_t>(inv_o))) flags |= kInv;
  if (sum_o >= 0 && wants_output(n, static_cast<size_t>(sum_o))) flags |= kSum;
  std::vector<TensorDesc> outs = {in[0].desc};
  if (f.skip_form) {
    outs.push_back({DType::kFloat32, stat});
    outs.push_back({DType::kFloat32, stat});
    outs.push_back(in[0].desc);
  } else {
    outs.push_back({DType::kFloat32, stat});
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("contrib", "-DT=float", "norm_rows"));
  auto kern = std::make_unique<MultiLaunchKernel>(ctx, "contrib_" + n.op_type());
  KILN_RETURN_IF_ERROR(kern->init_dummy());
  const int rows = static_cast<int>(f.rows);
  auto& L = kern->add_launch(
      std::move(k),
      {in_arg(0), in_arg(f.skip_form ? 1 : -1), in_arg(f.skip_form ? 2 : 1), in_arg(f.beta),
       in_arg(f.bias), out_arg(0), out_arg(mean_o), out_arg(inv_o), out_arg(sum_o)},
      cl::NDRange(static_cast<size_t>(std::max(rows, 1))), cl::NDRange(1));
  kern->set(L, 0, static_cast<cl_int>(rows));
  kern->set(L, 1, static_cast<cl_int>(f.h));
  kern->set(L, 2, static_cast<cl_int>(f.skip_rows));
  kern->set(L, 3, f.eps);
  kern->set(L, 4, static_cast<cl_int>(flags));
  kern->set_outputs(output_descs(n, outs));
  // One work-item per row, and its last pass reads x[i] before writing y[i] of the same row.
  kern->set_inplace({0});
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- attention ---------------------------------------------------------------------------------

constexpr int64_t kMaxHead = 128;

enum MaskMode { kNoMask = 0, kRaw2d = 1, kLengths = 2, kStartEnd = 3, kRaw3d = 4, kRaw4d = 5 };

struct AttnForm {
  bool packed = false;      // Attention: input x packed weights
  bool bnsh = false;        // MultiHeadAttention: 4-D key / value [B, N, L, H] (no K / V bias)
  bool packed_qkv = false;  // MultiHeadAttention: query [B, S, N, 3, H], no key / value
  bool packed_kv = false;   // MultiHeadAttention: key [B, L, N, 2, H], no value
  bool past = false;        // past_key / past_value (Attention: packed past [2, B, N, P, H])
  bool present = false;     // K / V gathered into present [B, N, T, H] (an output or scratch)
  // T = P + L keys: P from the past, L new ones.
  int64_t B = 0, N = 0, S = 0, T = 0, P = 0, L = 0, H = 0, Hv = 0, Din = 0, cols = 0;
  int mask = -1, ab = -1, bias = -1;
  MaskMode mode = kNoMask;
  bool causal = false;
  float scale = 1, filter = -10000.0f;
};

// `allow_4d`: Attention's [B, 1, M, M] form (M >= T; query row s reads mask row past + s).
Expected<MaskMode> mask_mode(const InputInfo& m, int64_t B, int64_t S, int64_t T, bool allow_4d) {
  if (m.desc.dtype != DType::kInt32) return unsupported("only an int32 mask runs on OpenCL");
  const Shape& s = m.desc.shape;
  if (s.size() == 1 && s[0] == B) return kLengths;
  if (s.size() == 1 && s[0] == 2 * B) return kStartEnd;
  if (s.size() == 2 && s[0] == B && s[1] == T) return kRaw2d;
  if (s.size() == 3 && s[0] == B && s[1] == S && s[2] == T) return kRaw3d;
  if (allow_4d && s.size() == 4 && s[0] == B && s[1] == 1 && s[2] == s[3] && s[2] >= T)
    return kRaw4d;
  return unsupported("mask of shape " + shape_to_string(s) +
                     " is not a form the OpenCL kernel runs");
}

Expected<AttnForm> attn_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  AttnForm f;
  f.packed = n.op_type() == "Attention";
  f.N = attr_i(n, "num_heads", 0);
  if (f.N <= 0) return invalid_argument("num_heads must be positive");
  if (!is_f32(in, 0)) return unsupported("only float32 attention runs on OpenCL");
  const Shape& xs = in[0].desc.shape;
  f.packed_qkv = !f.packed && xs.size() == 5;
  if (xs.size() != 3 && !f.packed_qkv)
    return unsupported("the input / query must be 3-D [batch, seq, hidden] (or packed QKV)");
  f.B = xs[0];
  f.S = xs[1];
  if (f.packed) {
    if (attr_i(n, "do_rotary", 0) != 0) return unsupported("do_rotary");
    if (attr_i(n, "past_present_share_buffer", 0) != 0)
      return unsupported("past_present_share_buffer");
    if (has(in, 6)) return unsupported("past_sequence_length runs on the CPU");
    if (!is_f32(in, 1) || in[1].desc.shape.size() != 2 || in[1].desc.shape[0] != xs[2])
      return unsupported("weights must be float32 [hidden, 3 * D]");
    f.Din = xs[2];
    f.cols = in[1].desc.shape[1];
    const ir::Attribute* a = n.attr("qkv_hidden_sizes");
    std::vector<int64_t> sizes;
    if (a && a->type == ir::AttrType::kInts && !a->ints.empty()) sizes = a->ints;
    if (sizes.empty()) {
      if (f.cols % 3 != 0) return invalid_argument("weights' columns not divisible by 3");
      sizes = {f.cols / 3, f.cols / 3, f.cols / 3};
    }
    if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[0] <= 0 || sizes[2] <= 0 ||
        sizes[0] + sizes[1] + sizes[2] != f.cols)
      return invalid_argument("bad qkv_hidden_sizes");
    if (sizes[0] % f.N != 0 || sizes[2] % f.N != 0)
      return invalid_argument("hidden sizes not divisible by num_heads");
    f.H = sizes[0] / f.N;
    f.Hv = sizes[2] / f.N;
    f.L = f.S;
    f.past = has(in, 4);
    f.present = f.past || wants_output(n, 1);
    if (f.present && f.H != f.Hv)
      return invalid_argument("past / present need equal Q/K and V head sizes");
    if (f.past) {
      const Shape& ps = in[4].desc.shape;
      if (!is_f32(in, 4) || ps.size() != 5 || ps[0] != 2 || ps[1] != f.B || ps[2] != f.N ||
          ps[4] != f.H)
        return invalid_argument("past of shape " + shape_to_string(ps) + " must be float32 [2, " +
                                std::to_string(f.B) + ", " + std::to_string(f.N) + ", past_seq, " +
                                std::to_string(f.H) + "]");
      f.P = ps[3];
    }
    if (has(in, 2)) {
      if (!is_f32(in, 2) || in[2].desc.shape != Shape{f.cols})
        return invalid_argument("bias must be float32 1-D of the weights' columns");
      f.bias = 2;
    }
    if (has(in, 3)) f.mask = 3;
    if (has(in, 5)) f.ab = 5;
  } else {
    if (has(in, 8) || has(in, 9))
      return unsupported("past_sequence_length / cache_indirection run on the CPU");
    if (wants_output(n, 3)) return unsupported("the qk output runs on the CPU");
    const Shape none;
    const Shape& ks = has(in, 1) ? in[1].desc.shape : none;
    const Shape& vs = has(in, 2) ? in[2].desc.shape : none;
    if (f.packed_qkv) {
      if (has(in, 1) || has(in, 2))
        return invalid_argument("packed QKV query takes no key / value");
      if (xs[2] != f.N || xs[3] != 3)
        return invalid_argument("packed QKV query of shape " + shape_to_string(xs) +
                                " must be [batch, seq, num_heads, 3, head_size]");
      f.H = f.Hv = xs[4];
      f.L = f.S;
    } else if (xs[2] % f.N != 0) {
      return invalid_argument("hidden size not divisible by num_heads");
    } else if (!is_f32(in, 1) || (has(in, 2) && !is_f32(in, 2))) {
      return unsupported("only float32 key and value run on OpenCL");
    } else if (ks.size() == 5) {
      f.H = f.Hv = xs[2] / f.N;
      if (has(in, 2)) return invalid_argument("packed KV key takes no value");
      if (ks[0] != f.B || ks[2] != f.N || ks[3] != 2 || ks[4] != f.H)
        return invalid_argument("packed KV key of shape " + shape_to_string(ks) +
                                " must be [batch, kv_seq, num_heads, 2, head_size]");
      f.packed_kv = true;
      f.L = ks[1];
    } else if (!has(in, 2)) {
      return invalid_argument("a 3-D or 4-D key needs a value");
    } else if (ks.size() == 3 && vs.size() == 3) {
      f.H = xs[2] / f.N;
      if (vs[2] % f.N != 0) return invalid_argument("value hidden size not divisible by num_heads");
      if (ks[0] != f.B || ks[2] != xs[2] || vs[0] != f.B || vs[1] != ks[1])
        return invalid_argument("key / value shapes do not fit the query");
      f.Hv = vs[2] / f.N;
      f.L = ks[1];
    } else if (ks.size() == 4 && vs.size() == 4) {
      f.H = xs[2] / f.N;
      if (ks[0] != f.B || ks[1] != f.N || ks[3] != f.H || vs[0] != f.B || vs[1] != f.N ||
          vs[2] != ks[2])
        return invalid_argument("BNSH key / value of shapes " + shape_to_string(ks) + " / " +
                                shape_to_string(vs) + " do not fit the query");
      f.bnsh = true;
      f.Hv = vs[3];
      f.L = ks[2];
    } else {
      return invalid_argument("key / value must be 3-D, BNSH 4-D or packed KV 5-D");
    }
    f.past = has(in, 6) || has(in, 7);
    if (f.past) {
      if (!is_f32(in, 6) || !is_f32(in, 7))
        return invalid_argument("past_key and past_value must be given together, float32");
      if (f.bnsh) return invalid_argument("past_key / past_value cannot be used with a 4-D key");
      const Shape& pk = in[6].desc.shape;
      const Shape& pv = in[7].desc.shape;
      if (pk.size() != 4 || pk[0] != f.B || pk[1] != f.N || pk[3] != f.H || pv.size() != 4 ||
          pv[0] != f.B || pv[1] != f.N || pv[2] != pk[2] || pv[3] != f.Hv)
        return invalid_argument("past_key / past_value of shapes " + shape_to_string(pk) + " / " +
                                shape_to_string(pv) + " must be [batch, heads, past_seq, head]");
      f.P = pk[2];
    }
    f.present = f.past || wants_output(n, 1) || wants_output(n, 2);
    if (has(in, 3)) {
      if (!is_f32(in, 3) || in[3].desc.shape != Shape{2 * f.N * f.H + f.N * f.Hv})
        return invalid_argument("bias must be float32 1-D of size 2 * D + Dv");
      f.bias = 3;
    }
    if (has(in, 4)) f.mask = 4;
    if (has(in, 5)) f.ab = 5;
  }
  f.T = f.P + f.L;
  if (f.H <= 0 || f.Hv <= 0) return invalid_argument("head sizes must be positive");
  if (f.H > kMaxHead || f.Hv > kMaxHead)
    return unsupported("head sizes above " + std::to_string(kMaxHead) + " run on the CPU");
  if (f.T <= 0) return unsupported("an empty key sequence runs on the CPU");
  if (f.mask >= 0) {
    KILN_ASSIGN_OR_RETURN(f.mode, mask_mode(in[f.mask], f.B, f.S, f.T, f.packed));
  }
  if (f.ab >= 0) {
    const Shape& a = in[f.ab].desc.shape;
    if (!is_f32(in, f.ab) || a.size() != 4 || (a[0] != f.B && a[0] != 1) ||
        (a[1] != f.N && a[1] != 1) || a[2] != f.S || a[3] != f.T)
      return unsupported("attention_bias must be float32 [B or 1, N or 1, S, T]");
  }
  f.causal = attr_i(n, "unidirectional", 0) != 0 && f.S > 1;
  f.filter = attr_f(n, "mask_filter_value", -10000.0f);
  const float s = attr_f(n, "scale", 0.0f);
  f.scale = s == 0.0f ? 1.0f / std::sqrt(static_cast<float>(f.H)) : s;
  return f;
}

Support attn_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto f = attn_form(n, in);
  if (!f) return Support::no(f.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> attn_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(AttnForm f, attn_form(n, in));
  auto kern = std::make_unique<MultiLaunchKernel>(ctx, "attention_" + n.op_type());
  KILN_RETURN_IF_ERROR(kern->init_dummy());
  const int64_t D = f.N * f.H;
  BufArg q = in_arg(0), k = in_arg(1), v = in_arg(2);
  int64_t qb = f.S * D, qs = D, kb = f.L * D, ks = D, vb = f.L * f.N * f.Hv, vs = f.N * f.Hv;
  int64_t qc = 0, kc = 0, vc = 0;
  if (f.packed) {
    // The packed projection [B * S, Din] x [Din, cols] + bias through the tuned GEMM.
    const int64_t rows = f.B * f.S;
    const int scratch = kern->add_scratch(static_cast<size_t>(rows * f.cols) * 4);
    KILN_ASSIGN_OR_RETURN(
        std::unique_ptr<DeviceKernel> proj,
        make_gemm_kernel(ctx, row_major_gemm(rows, f.cols, f.Din, f.bias >= 0), f.bias >= 0));
    kern->add_sub(std::move(proj), {in_arg(0), in_arg(1), in_arg(f.bias)},
                  {{BufArg::kScratch, scratch}});
    q = k = v = {BufArg::kScratch, scratch};
    qb = kb = vb = f.S * f.cols;
    qs = ks = vs = f.cols;
    qc = 0;
    kc = D;
    vc = 2 * D;
  }
  // Head strides of Q, K, V: D-wide rows hold the heads side by side.
  int64_t hq = f.H, hk = f.H, hv = f.Hv;
  const bool mha_bias = !f.packed && f.bias >= 0;
  bool fold_kv_bias = mha_bias;
  if (f.packed_qkv) {  // [B, S, N, 3, H]: head n's Q, K, V side by side
    q = k = v = in_arg(0);
    qb = kb = vb = f.S * f.N * 3 * f.H;
    qs = ks = vs = f.N * 3 * f.H;
    hq = hk = hv = 3 * f.H;
    kc = f.H;
    vc = 2 * f.H;
  } else if (f.packed_kv) {  // [B, L, N, 2, H]
    k = v = in_arg(1);
    kb = vb = f.L * f.N * 2 * f.H;
    ks = vs = f.N * 2 * f.H;
    hk = hv = 2 * f.H;
    vc = f.H;
  } else if (f.bnsh) {  // [B, N, L, H] read in place, no K / V bias (as the CPU reference)
    kb = f.N * f.L * f.H;
    ks = f.H;
    hk = f.L * f.H;
    vb = f.N * f.L * f.Hv;
    vs = f.Hv;
    hv = f.L * f.Hv;
    fold_kv_bias = false;
  }
  std::vector<TensorDesc> outs{TensorDesc{DType::kFloat32, {f.B, f.S, f.N * f.Hv}}};
  if (f.present) {
    // present K / V [B, N, T, h] = concat(past, new heads + bias); attention then reads them.
    // Attention's present is one [2, B, N, T, H] output (K half, then V half).
    const int64_t kn = f.B * f.N * f.T * f.H, vn = f.B * f.N * f.T * f.Hv;
    if (kn + vn > INT_MAX || (f.packed && f.B * f.S * f.cols > INT_MAX))
      return unsupported("present K / V of more than 2^31 elements run on the CPU");
    BufArg pk{}, pv{};
    int64_t pk_off = 0, pv_off = 0, past_v_off = 0;
    if (f.packed) {
      pk = pv = wants_output(n, 1)
                    ? out_arg(1)
                    : BufArg{BufArg::kScratch, kern->add_scratch(static_cast<size_t>(2 * kn) * 4)};
      pv_off = kn;
      past_v_off = f.B * f.N * f.P * f.H;
      outs.push_back(TensorDesc{DType::kFloat32, {2, f.B, f.N, f.T, f.H}});
    } else {
      pk = wants_output(n, 1)
               ? out_arg(1)
               : BufArg{BufArg::kScratch, kern->add_scratch(static_cast<size_t>(kn) * 4)};
      pv = wants_output(n, 2)
               ? out_arg(2)
               : BufArg{BufArg::kScratch, kern->add_scratch(static_cast<size_t>(vn) * 4)};
      outs.push_back(TensorDesc{DType::kFloat32, {f.B, f.N, f.T, f.H}});
      outs.push_back(TensorDesc{DType::kFloat32, {f.B, f.N, f.T, f.Hv}});
    }
    const int past_k_in = f.past ? (f.packed ? 4 : 6) : -1;
    const int past_v_in = f.past ? (f.packed ? 4 : 7) : -1;
    struct Half {
      BufArg past, src, dst;
      int64_t h, sb, ss, sh, col, bias_col, dst_off, past_off;
    };
    const Half halves[2] = {
        {in_arg(past_k_in), k, pk, f.H, kb, ks, hk, kc, mha_bias && !f.bnsh ? D : -1, pk_off, 0},
        {in_arg(past_v_in), v, pv, f.Hv, vb, vs, hv, vc, mha_bias && !f.bnsh ? 2 * D : -1, pv_off,
         past_v_off}};
    for (const Half& h : halves) {
      KILN_ASSIGN_OR_RETURN(cl::Kernel ck, ctx.kernel("attention", "-DT=float", "kv_present"));
      auto& C = kern->add_launch(
          std::move(ck), {h.past, h.src, in_arg(mha_bias ? f.bias : -1), h.dst},
          cl::NDRange(round_up(static_cast<size_t>(f.T * h.h), 64), static_cast<size_t>(f.B * f.N)),
          cl::NDRange(64, 1));
      kern->set(C, 0, to_int8({f.B, f.N, f.P, f.L, h.h, h.sb, h.ss, h.sh}));
      cl_int4 cc{};
      cc.s[0] = static_cast<cl_int>(h.col);
      cc.s[1] = static_cast<cl_int>(h.bias_col);
      cc.s[2] = static_cast<cl_int>(h.dst_off);
      cc.s[3] = static_cast<cl_int>(h.past_off);
      kern->set(C, 1, cc);
    }
    // Attention reads the present: BNSH [B, N, T, h], column 0.
    k = pk;
    v = pv;
    kb = f.N * f.T * f.H;
    ks = f.H;
    hk = f.T * f.H;
    vb = f.N * f.T * f.Hv;
    vs = f.Hv;
    hv = f.T * f.Hv;
    kc = pk_off;
    vc = pv_off;
    fold_kv_bias = false;
  }
  KILN_ASSIGN_OR_RETURN(cl::Kernel ak, ctx.kernel("attention", "-DT=float", "attend"));
  // One work-item per work-group: PoCL does not vectorise across work-items holding private
  // float4 arrays, and single-item groups measured fastest (3.7 ms vs 4.0 ms with 16 at
  // 1x128x12x64).
  const size_t local0 = 1;
  auto& A = kern->add_launch(
      std::move(ak),
      {q, k, v, in_arg(mha_bias ? f.bias : -1), in_arg(f.mask), in_arg(f.ab), out_arg(0)},
      cl::NDRange(round_up(static_cast<size_t>(f.S), local0), static_cast<size_t>(f.B * f.N)),
      cl::NDRange(local0, 1));
  int flags =
      (f.causal ? 1 : 0) | (mha_bias ? 2 : 0) | (f.ab >= 0 ? 4 : 0) | (fold_kv_bias ? 8 : 0);
  int64_t ab_b = 0, ab_n = 0;
  if (f.ab >= 0) {
    const Shape& a = in[f.ab].desc.shape;
    ab_n = a[1] == 1 ? 0 : f.S * f.T;
    ab_b = a[0] == 1 ? 0 : a[1] * f.S * f.T;
  }
  kern->set(A, 0, to_int8({f.B, f.N, f.S, f.T, f.H, f.Hv, f.mode, flags}));
  kern->set(A, 1, to_int8({qb, qs, kb, ks, vb, vs, ab_b, ab_n}));
  cl_int4 cols{};
  cols.s[0] = static_cast<cl_int>(qc);
  cols.s[1] = static_cast<cl_int>(kc);
  cols.s[2] = static_cast<cl_int>(vc);
  cols.s[3] = static_cast<cl_int>(D);
  kern->set(A, 2, cols);
  kern->set(A, 3, f.scale);
  kern->set(A, 4, f.filter);
  cl_int4 heads{};
  heads.s[0] = static_cast<cl_int>(hq);
  heads.s[1] = static_cast<cl_int>(hk);
  heads.s[2] = static_cast<cl_int>(hv);
  heads.s[3] = static_cast<cl_int>(f.P);
  kern->set(A, 5, heads);
  // The [B, 1, M, M] mask's row length M.
  kern->set(A, 6, static_cast<cl_int>(f.mode == kRaw4d ? in[f.mask].desc.shape[3] : 0));
  kern->set_outputs(output_descs(n, outs));
  return std::unique_ptr<DeviceKernel>(std::move(kern));
}

// --- EmbedLayerNormalization ---------------------------------------------------------------------

// Inputs: 0 input_ids, 1 segment_ids?, 2 word_embedding, 3 position_embedding,
// 4 segment_embedding?, 5 gamma, 6 beta, 7 mask?, 8 position_ids?; outputs: output,
// mask_index, embedding_sum?. The forms the CPU reference accepts, float32 embeddings only.
struct EmbedForm {
  int64_t batch = 0, seq = 0, h = 0, nw = 0, np = 0, ns = 0, pos_rows = 1;
  bool segment = false, position_ids = false, mask = false;
  float eps = 1e-12f;
};

Expected<EmbedForm> embed_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  for (size_t i : {0, 2, 3, 5, 6})
    if (!has(in, i))
      return invalid_argument("missing input " + std::to_string(i) +
                              " (input_ids, word/position embeddings, gamma and beta)");
  EmbedForm f;
  const Shape& ids = in[0].desc.shape;
  if (ids.size() != 2 || in[0].desc.dtype != DType::kInt32)
    return invalid_argument("input_ids must be a 2-D int32 tensor");
  f.batch = ids[0];
  f.seq = ids[1];
  auto ids_like = [&](size_t i, bool allow_b1) {
    const Shape& s = in[i].desc.shape;
    return in[i].desc.dtype == DType::kInt32 && s.size() == 2 && s[1] == f.seq &&
           (s[0] == f.batch || (allow_b1 && s[0] == 1));
  };
  f.segment = has(in, 1);
  f.mask = has(in, 7);
  f.position_ids = has(in, 8);
  if (f.segment && !ids_like(1, false))
    return invalid_argument("segment_ids must be int32 of input_ids' shape");
  if (f.mask && !ids_like(7, false))
    return invalid_argument("mask must be int32 of input_ids' shape");
  if (f.position_ids && !ids_like(8, true))
    return invalid_argument("position_ids must be int32 [batch or 1, sequence]");
  if (f.segment != has(in, 4))
    return invalid_argument("segment_ids and segment_embedding must be given together");
  for (size_t i : {2, 3, 4, 5, 6})
    if (has(in, i) && !is_f32(in, i))
      return unsupported("only float32 embeddings, gamma and beta run on OpenCL");
  const Shape& w = in[2].desc.shape;
  if (w.size() != 2) return invalid_argument("word_embedding must be 2-D");
  f.h = w[1];
  f.nw = w[0];
  if (f.h <= 0) return invalid_argument("hidden size is 0");
  const Shape& p = in[3].desc.shape;
  if (p.size() != 2 || p[1] != f.h)
    return invalid_argument("position_embedding must be 2-D [max_position, hidden]");
  f.np = p[0];
  if (f.segment) {
    const Shape& g = in[4].desc.shape;
    if (g.size() != 2 || g[1] != f.h)
      return invalid_argument("segment_embedding must be 2-D [segments, hidden]");
    f.ns = g[0];
  }
  for (size_t i : {5, 6})
    if (in[i].desc.shape != Shape{f.h})
      return invalid_argument("gamma and beta must be 1-D of the hidden size");
  f.eps = attr_f(n, "epsilon", 1e-12f);
  if (!(f.eps >= 0)) return invalid_argument("epsilon must be >= 0");
  if (f.position_ids) f.pos_rows = in[8].desc.shape[0];
  if (f.batch * f.seq == 0) return unsupported("empty input_ids run on the CPU");
  if (!f.position_ids && f.seq > f.np)
    return unsupported("a sequence longer than position_embedding runs on the CPU (an error)");
  const int64_t big = std::max({f.nw, f.np, f.ns, f.batch * f.seq}) * f.h;
  if (big >= (int64_t{1} << 31) || f.batch * f.seq * 3 >= (int64_t{1} << 31))
    return unsupported("tables or outputs too large for 32-bit indexing");
  return f;
}

Support embed_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto f = embed_form(n, in);
  if (!f) return Support::no(f.status().message());
  return Support::yes();
}

// embed_ln_rows, then embed_mask_index when mask_index is wanted, then a blocking read of the
// out-of-range flag (the price of failing like the CPU reference instead of a wrong answer).
class EmbedLnKernel : public DeviceKernel {
 public:
  EmbedLnKernel(ClContext& ctx, cl::Kernel rows, cl::Kernel mask, cl::Buffer err, cl::Buffer dummy,
                const EmbedForm& f, bool mask_out, bool sum_out, std::vector<TensorDesc> outs)
      : ctx_(ctx),
        rows_(std::move(rows)),
        mask_(std::move(mask)),
        err_(std::move(err)),
        dummy_(std::move(dummy)),
        f_(f),
        mask_out_(mask_out),
        sum_out_(sum_out) {
    outputs_ = std::move(outs);
    const int flags = (f.segment ? 1 : 0) | (f.position_ids ? 2 : 0) | (sum_out ? 4 : 0);
    cl_uint a = 20;
    auto set = [&](cl::Kernel& k, cl_uint i, const auto& v) {
      cl_int e = k.setArg(i, v);
      if (e != CL_SUCCESS && setup_.is_ok())
        setup_ = internal_error("embed_layer_norm: setArg(" + std::to_string(i) +
                                ") failed: " + cl_error_name(e));
    };
    set(rows_, a++, err_);
    for (int64_t v : {f.batch * f.seq, f.seq, f.h, f.nw, f.np, f.ns, f.pos_rows})
      set(rows_, a++, static_cast<cl_int>(v));
    set(rows_, a++, static_cast<cl_int>(flags));
    set(rows_, a++, f.eps);
    if (mask_out_) {
      set(mask_, 4, static_cast<cl_int>(f.batch));
      set(mask_, 5, static_cast<cl_int>(f.seq));
      set(mask_, 6, static_cast<cl_int>(f.mask ? 1 : 0));
    }
  }
  std::string name() const override { return "embed_layer_norm"; }

  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    KILN_RETURN_IF_ERROR(setup_);
    auto tensor = [](const std::vector<DeviceTensor>& list, int i) -> const DeviceTensor* {
      return i >= 0 && static_cast<size_t>(i) < list.size() && list[static_cast<size_t>(i)].buffer
                 ? &list[static_cast<size_t>(i)]
                 : nullptr;
    };
    cl_int err = CL_SUCCESS;
    auto bind = [&](cl::Kernel& k, cl_uint slot, const DeviceTensor* t) {
      // Every element here is 4 bytes (int32 or float32).
      if (err == CL_SUCCESS) err = k.setArg(2 * slot, t ? cl_buffer(*t) : dummy_);
      if (err == CL_SUCCESS)
        err = k.setArg(2 * slot + 1, static_cast<cl_int>(t ? t->offset / 4 : 0));
    };
    for (int i : {0, 2, 3, 5, 6})
      if (!tensor(in, i)) return internal_error("embed_layer_norm: an input is not on the device");
    if (!tensor(out, 0) || (sum_out_ && !tensor(out, 2)) || (mask_out_ && !tensor(out, 1)))
      return internal_error("embed_layer_norm: an output is missing");
    const int order[8] = {0, 1, 8, 2, 3, 4, 5, 6};
    for (cl_uint s = 0; s < 8; ++s) bind(rows_, s, tensor(in, order[s]));
    bind(rows_, 8, tensor(out, 0));
    bind(rows_, 9, sum_out_ ? tensor(out, 2) : nullptr);
    if (mask_out_) {
      bind(mask_, 0, f_.mask ? tensor(in, 7) : nullptr);
      bind(mask_, 1, tensor(out, 1));
    }
    if (err != CL_SUCCESS)
      return internal_error("embed_layer_norm: setting an argument failed: " + cl_error_name(err));
    cl::CommandQueue& q = ctx_.queue();
    err = q.enqueueWriteBuffer(err_, CL_FALSE, 0, sizeof(cl_int), &init_);
    const size_t rows = static_cast<size_t>(f_.batch * f_.seq);
    if (err == CL_SUCCESS)
      err = q.enqueueNDRangeKernel(rows_, cl::NullRange, cl::NDRange(round_up(rows, 16)),
                                   cl::NDRange(16));
    if (err == CL_SUCCESS && mask_out_)
      err = q.enqueueNDRangeKernel(mask_, cl::NullRange,
                                   cl::NDRange(round_up(static_cast<size_t>(f_.batch), 16)),
                                   cl::NDRange(16));
    if (err == CL_SUCCESS) err = q.enqueueReadBuffer(err_, CL_TRUE, 0, sizeof(cl_int), &bad_);
    if (err != CL_SUCCESS) {
      if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
          err == CL_OUT_OF_HOST_MEMORY)
        return out_of_memory("embed_layer_norm: the OpenCL device ran out of resources: " +
                             cl_error_name(err));
      return runtime_error("embed_layer_norm: enqueueing failed: " + cl_error_name(err));
    }
    if (bad_ == INT_MAX) return Status::ok();
    return range_error(in, bad_ / 3, bad_ % 3);
  }

 private:
  // The CPU reference's message for the first out-of-range id (row r, kind 0 word, 1 segment,
  // 2 position).
  Status range_error(const std::vector<DeviceTensor>& in, int64_t r, int kind) {
    const int64_t b = r / f_.seq, s = r % f_.seq;
    int64_t index = r;
    int src = kind == 0 ? 0 : kind == 1 ? 1 : 8;
    if (kind == 2) index = (f_.pos_rows == 1 ? 0 : b) * f_.seq + s;
    int64_t value = s;  // a position without position_ids
    if (kind != 2 || f_.position_ids) {
      cl_int v = 0;
      const DeviceTensor& t = in[static_cast<size_t>(src)];
      cl_int e = ctx_.queue().enqueueReadBuffer(
          cl_buffer(t), CL_TRUE, t.offset + static_cast<size_t>(index) * sizeof(cl_int),
          sizeof(cl_int), &v);
      if (e != CL_SUCCESS)
        return runtime_error("embed_layer_norm: an id at " + std::to_string(r) +
                             " is out of range (reading it back failed)");
      value = v;
    }
    const std::string at = " at " + std::to_string(r);
    if (kind == 0)
      return runtime_error("input_ids value " + std::to_string(value) + at +
                           " is out of range [0, " + std::to_string(f_.nw) + ")");
    if (kind == 1)
      return runtime_error("segment_ids value " + std::to_string(value) + at +
                           " is out of range [0, " + std::to_string(f_.ns) + ")");
    return runtime_error("position " + std::to_string(value) + at +
                         " is out of range for position_embedding of " + std::to_string(f_.np) +
                         " rows");
  }

  ClContext& ctx_;
  cl::Kernel rows_, mask_;
  cl::Buffer err_, dummy_;
  EmbedForm f_;
  bool mask_out_, sum_out_;
  Status setup_;
  cl_int init_ = INT_MAX;
  cl_int bad_ = INT_MAX;
};

Expected<std::unique_ptr<DeviceKernel>> embed_prepare(ClContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(EmbedForm f, embed_form(n, in));
  const bool mask_out = wants_output(n, 1), sum_out = wants_output(n, 2);
  KILN_ASSIGN_OR_RETURN(cl::Kernel rows, ctx.kernel("contrib", "-DT=float", "embed_ln_rows"));
  cl::Kernel mask;
  if (mask_out) {
    KILN_ASSIGN_OR_RETURN(mask, ctx.kernel("contrib", "-DT=float", "embed_mask_index"));
  }
  cl_int e1 = CL_SUCCESS, e2 = CL_SUCCESS;
  cl::Buffer flag(ctx.context(), CL_MEM_READ_WRITE, sizeof(cl_int), nullptr, &e1);
  cl::Buffer dummy(ctx.context(), CL_MEM_READ_WRITE, 64, nullptr, &e2);
  if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
    return out_of_memory("embed_layer_norm: allocating small buffers failed: " +
                         cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
  const TensorDesc y{DType::kFloat32, {f.batch, f.seq, f.h}};
  std::vector<TensorDesc> outs = output_descs(n, {y, {DType::kInt32, {f.batch}}, y});
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<EmbedLnKernel>(ctx, std::move(rows), std::move(mask), std::move(flag),
                                      std::move(dummy), f, mask_out, sum_out, std::move(outs)));
}

std::string ms(const char* op) {
  return std::string(kMs) + "." + op;
}

}  // namespace

void register_cl_contrib(ClOpRegistry& r) {
  for (const char* op : {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasAdd"})
    r.add(ms(op), {{}, act_supports, act_prepare});
  r.add(ms("SkipLayerNormalization"), {{}, norm_supports, norm_prepare});
  r.add(ms("SkipSimplifiedLayerNormalization"), {{}, norm_supports, norm_prepare});
  r.add("SimplifiedLayerNormalization", {{}, norm_supports, norm_prepare});
  r.add(ms("Attention"), {{}, attn_supports, attn_prepare});
  r.add(ms("MultiHeadAttention"), {{}, attn_supports, attn_prepare});
  r.add(ms("EmbedLayerNormalization"), {{}, embed_supports, embed_prepare});
}

}  // namespace kiln::opencl
