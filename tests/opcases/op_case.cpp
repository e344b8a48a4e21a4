#include "tests/opcases/op_case.h"

#include <random>

namespace kiln::testing {

ir::Attribute attr_i(int64_t v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = v;
  return a;
}
ir::Attribute attr_f(float v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloat;
  a.f = v;
  return a;
}
ir::Attribute attr_s(const std::string& v) {
  ir::Attribute a;
  a.type = ir::AttrType::kString;
  a.s = v;
  return a;
}
ir::Attribute attr_ints(std::vector<int64_t> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}
ir::Attribute attr_floats(std::vector<float> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloats;
  a.floats = std::move(v);
  return a;
}

InputSpec in_f32(Shape s, double lo, double hi) {
  InputSpec i;
  i.shape = std::move(s);
  i.lo = lo;
  i.hi = hi;
  return i;
}
InputSpec in_i64(Shape s, int64_t lo, int64_t hi) {
  InputSpec i;
  i.dtype = DType::kInt64;
  i.shape = std::move(s);
  i.lo = static_cast<double>(lo);
  i.hi = static_cast<double>(hi);
  return i;
}
InputSpec in_bool(Shape s) {
  InputSpec i;
  i.dtype = DType::kBool;
  i.shape = std::move(s);
  return i;
}
InputSpec const_i64(std::vector<int64_t> values) {
  InputSpec i;
  i.dtype = DType::kInt64;
  i.shape = {static_cast<int64_t>(values.size())};
  for (int64_t v : values) i.values.push_back(static_cast<double>(v));
  i.constant = true;
  return i;
}
InputSpec const_f32(Shape s, double lo, double hi) {
  InputSpec i = in_f32(std::move(s), lo, hi);
  i.constant = true;
  return i;
}
InputSpec omitted() {
  InputSpec i;
  i.omitted = true;
  return i;
}

const std::vector<OpCase>& all_op_cases() {
  static const std::vector<OpCase> all = [] {
    std::vector<OpCase> v;
    for (auto* f : {&elementwise_cases, &matmul_cases, &reduce_cases, &data_cases, &nn_cases,
                    &contrib_cases, &quant_cases, &qconv_cases, &nn_extra_cases, &data_extra_cases,
                    &contrib_extra_cases, &fp16_cases, &fused_cases})
      for (auto& c : f()) v.push_back(std::move(c));
    return v;
  }();
  return all;
}

namespace {

Tensor make_values(const InputSpec& s, std::mt19937_64& rng) {
  Tensor t = Tensor::create(s.dtype, s.shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v;
    if (!s.values.empty()) {
      v = s.values[static_cast<size_t>(i) % s.values.size()];
    } else if (s.dtype == DType::kBool) {
      v = static_cast<double>(rng() & 1);
    } else if (is_integer(s.dtype)) {
      int64_t span = std::max<int64_t>(static_cast<int64_t>(s.hi - s.lo), 1);
      v = s.lo + static_cast<double>(rng() % static_cast<uint64_t>(span));
    } else {
      v = s.lo + (s.hi - s.lo) * (static_cast<double>(rng() >> 11) / 9007199254740992.0);
    }
    t.set_from_double(i, v);
  }
  return t;
}

}  // namespace

BuiltCase build_case(const OpCase& c) {
  BuiltCase b;
  b.graph = std::make_unique<ir::Graph>();
  ir::Graph& g = *b.graph;
  g.opsets()[""] = c.domain.empty() ? c.opset : 17;
  if (!c.domain.empty()) g.opsets()[c.domain] = c.opset;
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const InputSpec& s = c.inputs[i];
    if (s.omitted) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = "in" + std::to_string(i);
    Tensor t = make_values(s, rng);
    if (s.constant) {
      ins.push_back(g.add_initializer(name, t).value());
    } else {
      ir::ValueInfo info{s.dtype, true, {}};
      for (int64_t d : s.shape) info.dims.push_back(ir::Dim{d, ""});
      ir::Value* v = g.add_value(name, info).value();
      g.add_input(v);
      ins.push_back(v);
      b.feeds[name] = t;
    }
  }
  std::vector<ir::Value*> outs;
  for (int o = 0; o < c.num_outputs; ++o)
    outs.push_back(g.add_value("out" + std::to_string(o)).value());
  ir::Node* n = g.add_node(c.op, c.domain, ins, outs, "node").value();
  for (const auto& [k, a] : c.attrs) n->set_attr(k, a);
  for (ir::Value* o : outs) g.add_output(o);
  return b;
}

}  // namespace kiln::testing
