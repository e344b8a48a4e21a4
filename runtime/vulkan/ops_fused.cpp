// Vulkan kernel of ai.kiln FusedElementwise (runtime/device/fused_program.h). SPIR-V is built
// with the project, so one interpreter shader (shaders/fused_elementwise.comp) runs every
// program: prepare() writes the program and the collapsed broadcast shapes into a small device
// buffer of the kernel's own (binding 0), and one grid-stride dispatch evaluates the
// instructions per output element with the registers in a local array. With specialization on
// (the default), the program's words are also specialization constants, so the driver compiles
// the program itself (lavapipe: the interpreter loop was 2.7x slower than the unfused ops).
#include <algorithm>
#include <climits>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/device/fused_program.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

namespace fz = device::fused;

constexpr int kMaxRank = 8;
constexpr uint32_t kInstrBase = 44;  // shaders/fused_elementwise.comp's INSTR_BASE
constexpr int kMaxRegs = 36;         // its MAX_REGS
static_assert(fz::kMaxInputs == 4 && fz::kMaxInputs + fz::kMaxInstrs <= kMaxRegs,
              "fused_elementwise.comp has four input bindings and 36 registers");

uint32_t float_bits(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}

// The words of binding 0 (layout in the shader's comment).
std::vector<uint32_t> program_words(const fz::Program& p, const fz::Geometry& c) {
  std::vector<uint32_t> w(kInstrBase + 5 * p.instrs.size(), 0);
  w[0] = static_cast<uint32_t>(p.instrs.size());
  w[1] = static_cast<uint32_t>(p.num_inputs);
  w[2] = static_cast<uint32_t>(c.dims.size());
  w[3] = c.dense ? 1 : 0;
  for (size_t d = 0; d < c.dims.size(); ++d) w[4 + d] = static_cast<uint32_t>(c.dims[d]);
  for (size_t k = 0; k < c.strides.size(); ++k)
    for (size_t d = 0; d < c.strides[k].size(); ++d)
      w[12 + 8 * k + d] = static_cast<uint32_t>(c.strides[k][d]);
  for (size_t j = 0; j < p.instrs.size(); ++j) {
    const fz::Instr& in = p.instrs[j];
    uint32_t* q = w.data() + kInstrBase + 5 * j;
    q[0] = static_cast<uint32_t>(in.op);
    q[1] = static_cast<uint32_t>(static_cast<int32_t>(in.a));  // kConst -> 0xFFFFFFFE
    q[2] = static_cast<uint32_t>(static_cast<int32_t>(in.b));
    q[3] = float_bits(in.p0);
    q[4] = float_bits(in.p1);
  }
  return w;
}

class FusedKernel : public DeviceKernel {
 public:
  FusedKernel(VkContext& ctx, const VkPipelineEntry* pipe, DeviceTensor prog, int num_inputs,
              const Shape& out)
      : ctx_(ctx), pipe_(pipe), prog_(std::move(prog)), num_inputs_(num_inputs) {
    outputs_ = {TensorDesc{DType::kFloat32, out}};
    n_ = numel_of(out);
  }
  std::string name() const override { return "fused_elementwise"; }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    VkDispatch d;
    d.groups[0] = grid_groups(n_, 64);
    auto add = [&](const DeviceTensor& t, bool write, size_t slot) -> Status {
      if (!t.buffer) return internal_error(name() + ": a tensor is not on the device");
      uint32_t off = 0;
      KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(t, 4, write, &off));
      d.push[slot] = off;
      d.bindings.push_back(std::move(b));
      return Status::ok();
    };
    if (inputs.size() < static_cast<size_t>(num_inputs_) || outputs.empty())
      return internal_error(name() + ": expected " + std::to_string(num_inputs_) + " inputs");
    KILN_RETURN_IF_ERROR(add(prog_, false, 0));
    for (int k = 0; k < fz::kMaxInputs; ++k)
      KILN_RETURN_IF_ERROR(add(inputs[static_cast<size_t>(k < num_inputs_ ? k : 0)], false,
                               static_cast<size_t>(1 + k)));
    KILN_RETURN_IF_ERROR(add(outputs[0], true, 5));
    d.push[6] = static_cast<uint32_t>(n_);
    d.pipe = pipe_;
    ctx_.enqueue(std::move(d));
    return Status::ok();
  }

 private:
  VkContext& ctx_;
  const VkPipelineEntry* pipe_;
  DeviceTensor prog_;
  int num_inputs_;
  int64_t n_ = 0;
};

Support fused_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  auto g = fz::device_geometry(n, in, kMaxRank, "Vulkan");
  if (!g) return Support::no(g.status().message());
  if (numel_of(g->out) == 0) return Support::no("empty output");
  for (const auto& st : g->strides)
    for (int64_t s : st)
      if (!ops::fits_u32(s)) return Support::no("strides above 2^31");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> fused_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(fz::Program prog, fz::decode(n));
  KILN_ASSIGN_OR_RETURN(fz::Geometry g, fz::device_geometry(n, in, kMaxRank, "Vulkan"));
  const Shape& out = g.out;
  const std::vector<uint32_t> words = program_words(prog, g);
  DeviceTensor t;
  t.desc = {DType::kFloat32, {static_cast<int64_t>(words.size())}};  // 4-byte words
  KILN_ASSIGN_OR_RETURN(t.buffer, ctx.allocate(words.size() * 4));
  KILN_RETURN_IF_ERROR(ctx.write(t, words.data(), words.size() * 4));
  // Where the context specializes, the program also goes in as specialization constants (ids 2
  // and 3: instruction and input counts, 4 + 5j..: instruction j's words, as in binding 0): one
  // pipeline per program, compiled to straight-line code.
  std::vector<uint32_t> spec;
  if (ctx.specialize()) {
    spec = {static_cast<uint32_t>(prog.instrs.size()), static_cast<uint32_t>(prog.num_inputs)};
    spec.insert(spec.end(), words.begin() + kInstrBase, words.end());
  }
  KILN_ASSIGN_OR_RETURN(const VkPipelineEntry* pipe,
                        ctx.pipeline("fused_elementwise_f32", 2 + fz::kMaxInputs, 64, 1, spec));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<FusedKernel>(ctx, pipe, std::move(t), prog.num_inputs, out));
}

}  // namespace

void register_vk_fused(VkOpRegistry& r) {
  VkOpDef d;
  d.supports = fused_supports;
  d.prepare = fused_prepare;
  r.add(std::string(fz::kDomain) + "." + fz::kOpType, std::move(d));
}

}  // namespace kiln::vulkan
