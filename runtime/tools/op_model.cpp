// One-op models for `kiln bench --op` (see op_model.h).
#include "runtime/tools/op_model.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "onnx/onnx_pb.h"
#include "runtime/core/half.h"

namespace kiln::tools {

namespace {

Expected<std::vector<int64_t>> parse_dims(const std::string& s, size_t min_n, size_t max_n,
                                          const std::string& op) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find_first_of(",x", pos);
    if (end == std::string::npos) end = s.size();
    const std::string tok = s.substr(pos, end - pos);
    if (tok.empty() || tok.size() > 9 || tok.find_first_not_of("0123456789") != std::string::npos)
      return invalid_argument("--shape '" + s + "' for --op " + op +
                              ": expected positive integers separated by commas");
    out.push_back(std::stoll(tok));
    if (out.back() < 1)
      return invalid_argument("--shape '" + s + "': every size must be at least 1");
    pos = end + 1;
  }
  if (out.size() < min_n || out.size() > max_n)
    return invalid_argument("--shape '" + s + "' for --op " + op + ": expected " +
                            std::to_string(min_n) +
                            (max_n > min_n ? " to " + std::to_string(max_n) : "") + " sizes");
  return out;
}

class Builder {
 public:
  Builder(int elem_type, int opset) : elem_(elem_type) {
    model_.set_ir_version(8);
    model_.set_producer_name("kiln bench --op");
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    g_ = model_.mutable_graph();
    g_->set_name("op");
  }
  int elem() const { return elem_; }
  size_t elem_size() const { return elem_ == onnx::TensorProto::FLOAT16 ? 2 : 4; }

  void input(const std::string& name, const std::vector<int64_t>& dims) {
    value_info(g_->add_input(), name, dims);
  }
  void output(const std::string& name, const std::vector<int64_t>& dims) {
    value_info(g_->add_output(), name, dims);
  }
  // A random constant in [-scale, scale).
  void weight(const std::string& name, const std::vector<int64_t>& dims, float scale) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::mt19937 rng(static_cast<uint32_t>(g_->initializer_size()));
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::string raw(static_cast<size_t>(n) * elem_size(), '\0');
    for (int64_t i = 0; i < n; ++i) {
      const float v = dist(rng);
      if (elem_ == onnx::TensorProto::FLOAT16) {
        const uint16_t h = float_to_half_bits(v);
        std::memcpy(&raw[static_cast<size_t>(i) * 2], &h, 2);
      } else {
        std::memcpy(&raw[static_cast<size_t>(i) * 4], &v, 4);
      }
    }
    t->set_raw_data(raw);
  }
  // A scalar constant of the graph's float type.
  void scalar(const std::string& name, float v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_);
    std::string raw(elem_size(), '\0');
    if (elem_ == onnx::TensorProto::FLOAT16) {
      const uint16_t h = float_to_half_bits(v);
      std::memcpy(raw.data(), &h, 2);
    } else {
      std::memcpy(raw.data(), &v, 4);
    }
    t->set_raw_data(raw);
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(g_->node_size()));
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return n;
  }
  static void attr_i(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name,
                        const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  Status write(const std::string& path) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f || !model_.SerializeToOstream(&f)) return io_error("cannot write '" + path + "'");
    return Status::ok();
  }

 private:
  void value_info(onnx::ValueInfoProto* vi, const std::string& name,
                  const std::vector<int64_t>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  int elem_;
  onnx::ModelProto model_;
  onnx::GraphProto* g_ = nullptr;
};

double prod(const std::vector<int64_t>& v) {
  double p = 1;
  for (int64_t x : v) p *= static_cast<double>(x);
  return p;
}

}  // namespace

const char* op_model_help() {
  return "  --op gemm       --shape M,N,K or B,M,N,K   MatMul of an input [B,]M x K by a\n"
         "                                             constant K x N weight\n"
         "  --op conv       --shape N,C,H,W,COUT,K[,S] Conv KxK, stride S (default 1), pads K/2\n"
         "  --op dwconv     --shape N,C,H,W,K[,S]      depthwise Conv (group = C)\n"
         "  --op attention  --shape B,S,HEADS,D        softmax(Q K^T / sqrt(D)) V from standard\n"
         "                                             ops, Q/K/V inputs [B, HEADS, S, D]\n"
         "  --op softmax | layernorm | add | gelu      --shape D0,D1,... (last axis)\n";
}

Expected<OpModel> make_op_model(const std::string& op, const std::string& shape,
                                const std::string& dtype, const std::string& dir) {
  int elem;
  if (dtype == "float32" || dtype == "float") {
    elem = onnx::TensorProto::FLOAT;
  } else if (dtype == "float16") {
    elem = onnx::TensorProto::FLOAT16;
  } else {
    return invalid_argument("--dtype '" + dtype + "': expected float32 or float16");
  }
  Builder b(elem, 20);
  OpModel m;
  const double es = static_cast<double>(b.elem_size());
  const std::string tname = dtype == "float16" ? "float16" : "float32";
  auto shape_str = [](const std::vector<int64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
  };
  if (op == "gemm" || op == "matmul") {
    KILN_ASSIGN_OR_RETURN(auto d, parse_dims(shape, 3, 4, op));
    const int64_t batch = d.size() == 4 ? d[0] : 1;
    const int64_t M = d[d.size() - 3], N = d[d.size() - 2], K = d[d.size() - 1];
    std::vector<int64_t> a = {M, K}, y = {M, N};
    if (d.size() == 4) {
      a.insert(a.begin(), batch);
      y.insert(y.begin(), batch);
    }
    b.input("A", a);
    b.weight("B", {K, N}, 0.05f);
    b.node("MatMul", {"A", "B"}, {"Y"});
    b.output("Y", y);
    m.flops = 2.0 * static_cast<double>(batch) * M * N * K;
    m.bytes = es * (prod(a) + static_cast<double>(K) * N + prod(y));
    m.description = "MatMul " + shape_str(a) + " x " + shape_str({K, N}) + " " + tname;
  } else if (op == "conv" || op == "dwconv") {
    const bool dw = op == "dwconv";
    KILN_ASSIGN_OR_RETURN(auto d, parse_dims(shape, dw ? 5 : 6, dw ? 6 : 7, op));
    const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
    const int64_t cout = dw ? C : d[4], k = dw ? d[4] : d[5];
    const size_t si = dw ? 5 : 6;
    const int64_t s = d.size() > si ? d[si] : 1;
    const int64_t pad = k / 2;
    const int64_t ho = (H + 2 * pad - k) / s + 1, wo = (W + 2 * pad - k) / s + 1;
    if (ho < 1 || wo < 1) return invalid_argument("--shape '" + shape + "': empty output");
    const int64_t cin_g = dw ? 1 : C;
    b.input("X", {N, C, H, W});
    b.weight("W", {cout, cin_g, k, k}, 0.1f);
    b.weight("Bias", {cout}, 0.1f);
    auto* n = b.node("Conv", {"X", "W", "Bias"}, {"Y"});
    Builder::attr_ints(n, "kernel_shape", {k, k});
    Builder::attr_ints(n, "strides", {s, s});
    Builder::attr_ints(n, "pads", {pad, pad, pad, pad});
    if (dw) Builder::attr_i(n, "group", C);
    b.output("Y", {N, cout, ho, wo});
    m.flops = 2.0 * N * cout * ho * wo * cin_g * k * k;
    m.bytes = es * (prod({N, C, H, W}) + prod({cout, cin_g, k, k}) + prod({N, cout, ho, wo}));
    m.description = std::string(dw ? "depthwise " : "") + "Conv " + shape_str({N, C, H, W}) + " " +
                    std::to_string(k) + "x" + std::to_string(k) + "/" + std::to_string(s) + " -> " +
                    std::to_string(cout) + " channels " + tname;
  } else if (op == "attention") {
    KILN_ASSIGN_OR_RETURN(auto d, parse_dims(shape, 4, 4, op));
    const int64_t B = d[0], S = d[1], Hh = d[2], D = d[3];
    const std::vector<int64_t> qkv = {B, Hh, S, D};
    b.input("Q", qkv);
    b.input("K", qkv);
    b.input("V", qkv);
    auto* t = b.node("Transpose", {"K"}, {"Kt"});
    Builder::attr_ints(t, "perm", {0, 1, 3, 2});
    b.node("MatMul", {"Q", "Kt"}, {"S"});
    b.scalar("scale", 1.0f / std::sqrt(static_cast<float>(D)));
    b.node("Mul", {"S", "scale"}, {"Ss"});
    b.node("Softmax", {"Ss"}, {"P"});
    b.node("MatMul", {"P", "V"}, {"Y"});
    b.output("Y", qkv);
    m.flops = 4.0 * B * Hh * S * S * D + 5.0 * B * Hh * S * S;
    m.bytes = es * (4 * prod(qkv));
    m.description = "attention B=" + std::to_string(B) + " S=" + std::to_string(S) +
                    " heads=" + std::to_string(Hh) + " D=" + std::to_string(D) + " " + tname;
  } else if (op == "softmax" || op == "layernorm" || op == "add" || op == "gelu") {
    KILN_ASSIGN_OR_RETURN(auto d, parse_dims(shape, 1, 6, op));
    const int64_t last = d.back();
    b.input("X", d);
    if (op == "softmax") {
      b.node("Softmax", {"X"}, {"Y"});
      m.flops = 5.0 * prod(d);
    } else if (op == "layernorm") {
      b.weight("gamma", {last}, 1.0f);
      b.weight("beta", {last}, 1.0f);
      b.node("LayerNormalization", {"X", "gamma", "beta"}, {"Y"});
      m.flops = 8.0 * prod(d);
    } else if (op == "add") {
      b.weight("bias", {last}, 1.0f);
      b.node("Add", {"X", "bias"}, {"Y"});
      m.flops = prod(d);
    } else {
      b.node("Gelu", {"X"}, {"Y"});
      m.flops = 10.0 * prod(d);
    }
    b.output("Y", d);
    m.bytes = es * 2 * prod(d);
    m.description = op + " " + shape_str(d) + " " + tname;
  } else {
    return invalid_argument("unknown --op '" + op +
                            "' (expected gemm, conv, dwconv, attention, softmax, layernorm, add "
                            "or gelu)");
  }
  m.path = dir + "/" + op + ".onnx";
  KILN_RETURN_IF_ERROR(b.write(m.path));
  return m;
}

}  // namespace kiln::tools
