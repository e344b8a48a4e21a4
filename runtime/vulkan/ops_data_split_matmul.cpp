// A float32 MatMul whose 2-D weight B [K, N] is larger than the storage-buffer binding limit
// (GPT-2's tied 50257 x 768 embedding used as the LM head: 154 MB against lavapipe's 128 MiB),
// split along K: Y = sum over row blocks Kc of A[:, Kc] x B[Kc, :]. Each block of B rows is a
// contiguous view (no copy); the A columns of a block are copied to scratch (copy.comp), the
// registry's own MatMul kernel multiplies, and the registry's Add accumulates into Y. The
// composite runs only where VulkanBackend routes it (see split_matmul_supports).
#include <algorithm>

#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

constexpr size_t kAlign = 256;  // scratch sub-tensor offsets

size_t align_up(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

class SplitMatMulKernel : public DeviceKernel {
 public:
  struct Block {
    int64_t k0 = 0, kc = 0;
    std::unique_ptr<DeviceKernel> copy_a;  // A[:, k0:k0+kc] -> scratch A
    std::unique_ptr<DeviceKernel> matmul;  // scratch A x B rows -> Y (block 0) or scratch Y
  };

  SplitMatMulKernel(TensorDesc out, int64_t m, int64_t k, int64_t n) : m_(m), k_(k), n_(n) {
    outputs_ = {std::move(out)};
  }
  std::vector<Block> blocks;
  std::unique_ptr<DeviceKernel> add;  // Y + scratch Y -> Y
  std::unique_ptr<ir::Graph> add_graph;

  size_t scratch_bytes() const override {
    int64_t kc = 0;
    for (const Block& b : blocks) kc = std::max(kc, b.kc);
    return align_up(static_cast<size_t>(m_ * kc) * 4) + align_up(static_cast<size_t>(m_ * n_) * 4);
  }

  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    const DeviceTensor* scratch = this->scratch(outputs);
    if (inputs.size() < 2 || outputs.empty() || !scratch)
      return internal_error("split matmul: missing a device tensor or its scratch");
    DeviceTensor a = inputs[0];
    a.desc.shape = {m_, k_};
    DeviceTensor y = outputs[0];
    y.desc.shape = {m_, n_};
    DeviceTensor sy;
    sy.desc = {DType::kFloat32, {m_, n_}};
    sy.buffer = scratch->buffer;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Block& b = blocks[i];
      DeviceTensor sa;
      sa.desc = {DType::kFloat32, {m_, b.kc}};
      sa.buffer = scratch->buffer;
      sa.offset = scratch->offset;
      sy.offset = scratch->offset + align_up(static_cast<size_t>(m_ * b.kc) * 4);
      DeviceTensor bv = inputs[1];
      bv.desc.shape = {b.kc, n_};
      bv.offset += static_cast<size_t>(b.k0 * n_) * 4;
      KILN_RETURN_IF_ERROR(b.copy_a->enqueue({a}, {sa}));
      if (i == 0) {
        KILN_RETURN_IF_ERROR(b.matmul->enqueue({sa, bv}, {y}));
      } else {
        KILN_RETURN_IF_ERROR(b.matmul->enqueue({sa, bv}, {sy}));
        KILN_RETURN_IF_ERROR(add->enqueue({y, sy}, {y}));
      }
    }
    return Status::ok();
  }
  std::string name() const override { return "matmul_split_k"; }

 private:
  int64_t m_, k_, n_;
};

}  // namespace

Support split_matmul_supports(const VkContext& ctx, const ir::Node& n,
                              const std::vector<InputInfo>& in) {
  if (!n.domain().empty() || n.op_type() != "MatMul" || in.size() < 2 || !in[0].present ||
      !in[1].present)
    return Support::no("not a MatMul");
  const TensorDesc& a = in[0].desc;
  const TensorDesc& b = in[1].desc;
  const uint64_t limit = ctx.max_window_bytes();
  if (b.nbytes() <= limit) return Support::no("the weight fits one binding");
  if (a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32)
    return Support::no("a MatMul weight above the binding limit is split only in float32");
  if (b.shape.size() != 2 || a.shape.size() < 2)
    return Support::no(
        "a MatMul weight above the binding limit is split only when it is 2-D "
        "and the activations have rank >= 2");
  const int64_t k = b.shape[0], n_ = b.shape[1];
  if (a.shape.back() != k) return Support::no("MatMul inner dimensions differ");
  const int64_t m = a.numel() / std::max<int64_t>(k, 1);
  if (k == 0 || m == 0 || n_ == 0) return Support::no("an empty MatMul");
  const uint64_t row = static_cast<uint64_t>(n_) * 4;
  if (row > limit || a.nbytes() > limit || static_cast<uint64_t>(m) * row > limit)
    return Support::no(
        "a MatMul weight above the binding limit is split along K only when one "
        "weight row, the activations and the output each fit one binding");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> split_matmul_prepare(VkContext& ctx, const ir::Node& n,
                                                             const std::vector<InputInfo>& in) {
  Support s = split_matmul_supports(ctx, n, in);
  if (!s.ok) return unsupported(s.reason);
  const VkOpDef* mm = vk_registry().find("MatMul");
  const VkOpDef* add = vk_registry().find("Add");
  if (!mm || !add) return unsupported("no Vulkan MatMul or Add kernel to split with");
  const Shape& as = in[0].desc.shape;
  const int64_t k = in[1].desc.shape[0], nn = in[1].desc.shape[1];
  const int64_t m = in[0].desc.numel() / k;
  Shape out(as.begin(), as.end() - 1);
  out.push_back(nn);
  auto kernel = std::make_unique<SplitMatMulKernel>(TensorDesc{DType::kFloat32, out}, m, k, nn);
  const uint64_t limit = ctx.max_window_bytes();
  const int64_t rows = std::max<int64_t>(
      1, std::min<int64_t>(static_cast<int64_t>(limit / (static_cast<uint64_t>(nn) * 4)),
                           static_cast<int64_t>(limit / (static_cast<uint64_t>(m) * 4))));
  for (int64_t k0 = 0; k0 < k; k0 += rows) {
    SplitMatMulKernel::Block blk;
    blk.k0 = k0;
    blk.kc = std::min(rows, k - k0);
    // A[:, k0:k0+kc] -> dense [m, kc] (copy.comp, rank 2).
    Push p;
    p.u(m * blk.kc).u(2).u(k0).u(0);
    p.arr({m, blk.kc}, 6).arr({k, 1}, 6).arr({blk.kc, 1}, 6);
    VkTensorRef src = in_ref(0, 4);
    src.win_begin = k0;
    src.win_count = (m - 1) * k + blk.kc;
    KILN_ASSIGN_OR_RETURN(VkStep cs, make_step(ctx, "copy_4", {src, out_ref(0, 4)}, p, m * blk.kc));
    KILN_ASSIGN_OR_RETURN(
        blk.copy_a, steps_kernel(ctx, "copy", {{DType::kFloat32, {m, blk.kc}}}, {std::move(cs)}));
    std::vector<InputInfo> mi(2);
    mi[0].desc = {DType::kFloat32, {m, blk.kc}};
    mi[1].desc = {DType::kFloat32, {blk.kc, nn}};
    Support ms = mm->supports ? mm->supports(ctx, n, mi) : Support::yes();
    if (!ms.ok) return unsupported("a block of the split MatMul: " + ms.reason);
    KILN_ASSIGN_OR_RETURN(blk.matmul, mm->prepare(ctx, n, mi));
    if (blk.matmul->scratch_bytes() > 0 || blk.matmul->output_descs().size() != 1 ||
        !(blk.matmul->output_descs()[0] == TensorDesc{DType::kFloat32, {m, nn}}))
      return unsupported("the Vulkan MatMul kernel cannot be a block of a split MatMul");
    kernel->blocks.push_back(std::move(blk));
  }
  if (kernel->blocks.size() > 1) {
    kernel->add_graph = std::make_unique<ir::Graph>();
    ir::Graph& g = *kernel->add_graph;
    g.opsets()[""] = 14;
    KILN_ASSIGN_OR_RETURN(ir::Value * x, g.add_value("y"));
    KILN_ASSIGN_OR_RETURN(ir::Value * z, g.add_value("partial"));
    KILN_ASSIGN_OR_RETURN(ir::Value * o, g.add_value("sum"));
    KILN_ASSIGN_OR_RETURN(ir::Node * an, g.add_node("Add", "", {x, z}, {o}));
    std::vector<InputInfo> ai(2);
    ai[0].desc = ai[1].desc = {DType::kFloat32, {m, nn}};
    Support as_ = add->supports ? add->supports(ctx, *an, ai) : Support::yes();
    if (!as_.ok) return unsupported("the split MatMul's accumulation: " + as_.reason);
    KILN_ASSIGN_OR_RETURN(kernel->add, add->prepare(ctx, *an, ai));
  }
  return std::unique_ptr<DeviceKernel>(std::move(kernel));
}

}  // namespace kiln::vulkan
