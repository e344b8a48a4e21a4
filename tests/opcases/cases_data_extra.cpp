// OpCases: data extra (see op_case.h). DepthToSpace / SpaceToDepth (DCR and CRD, blocksizes 2
// and 3, odd spatial sizes, several element sizes), and more Pad / Tile / ArgMax / ArgMin shapes
// than cases_data.cpp and cases_reduce.cpp have: high ranks whose unpadded dims merge, 1-byte
// elements, long axes and keepdims / select_last_index combinations; float32 Range. Data
// movement is exact: atol = rtol = 0.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

// Integer tensors small enough to stay on the host run as shape arithmetic on the CPU, so the
// integer cases use more than 4096 elements.
InputSpec typed(DType dt, Shape s) {
  InputSpec i = in_f32(std::move(s), -100, 100);
  i.dtype = dt;
  if (dt == DType::kUInt8) i.lo = 0;
  return i;
}

OpCase make(std::string name, std::string op, int opset, std::vector<InputSpec> inputs,
            std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.atol = 0;
  c.rtol = 0;
  return c;
}

void depth_space_cases(std::vector<OpCase>& v) {
  for (const char* mode : {"DCR", "CRD"}) {
    const std::string m = mode;
    v.push_back(make("DepthToSpace/" + m + "_b2", "DepthToSpace", 13, {in_f32({2, 12, 5, 7})},
                     {{"blocksize", attr_i(2)}, {"mode", attr_s(m)}}));
    v.push_back(make("DepthToSpace/" + m + "_b3", "DepthToSpace", 11, {in_f32({1, 18, 3, 13})},
                     {{"blocksize", attr_i(3)}, {"mode", attr_s(m)}}));
  }
  v.push_back(make("DepthToSpace/opset1_b2", "DepthToSpace", 1, {in_f32({1, 8, 3, 3})},
                   {{"blocksize", attr_i(2)}}));
  v.push_back(make("DepthToSpace/b1", "DepthToSpace", 13, {in_f32({2, 3, 5, 7})},
                   {{"blocksize", attr_i(1)}}));
  v.push_back(make("DepthToSpace/int64", "DepthToSpace", 13,
                   {typed(DType::kInt64, {1, 36, 11, 13})},
                   {{"blocksize", attr_i(3)}, {"mode", attr_s("CRD")}}));
  v.push_back(make("DepthToSpace/f16", "DepthToSpace", 13, {typed(DType::kFloat16, {1, 8, 3, 5})},
                   {{"blocksize", attr_i(2)}}));
  v.push_back(make("SpaceToDepth/b2", "SpaceToDepth", 13, {in_f32({2, 3, 10, 14})},
                   {{"blocksize", attr_i(2)}}));
  v.push_back(make("SpaceToDepth/b3", "SpaceToDepth", 1, {in_f32({1, 5, 9, 12})},
                   {{"blocksize", attr_i(3)}}));
  v.push_back(make("SpaceToDepth/uint8", "SpaceToDepth", 13, {typed(DType::kUInt8, {1, 7, 26, 34})},
                   {{"blocksize", attr_i(2)}}));
}

void pad_tile_cases(std::vector<OpCase>& v) {
  // Rank 6 with pads on two dims: the unpadded neighbours merge below the shader's rank 5.
  v.push_back(make("Pad/rank6_merged", "Pad", 13,
                   {in_f32({2, 3, 4, 5, 3, 7}), const_i64({0, 0, 0, 1, 0, 2, 0, 0, 0, 2, 0, 3})},
                   {{"mode", attr_s("reflect")}}));
  v.push_back(make("Pad/constant_crop_all", "Pad", 13,
                   {in_f32({7, 9, 11}), const_i64({-1, 2, -3, 3, -2, 1}), in_f32({}, 5, 6)}));
  v.push_back(make("Pad/edge_127", "Pad", 11, {in_f32({127}), const_i64({130, 1})},
                   {{"mode", attr_s("edge")}}));
  v.push_back(make("Pad/bool_constant", "Pad", 13,
                   {typed(DType::kBool, {67, 65}), const_i64({1, 0, 2, 3})}));
  v.push_back(make("Tile/bool", "Tile", 13, {typed(DType::kBool, {65, 67}), const_i64({2, 1})}));
  v.push_back(make("Tile/uint8_rank3", "Tile", 13,
                   {typed(DType::kUInt8, {3, 37, 41}), const_i64({2, 1, 3})}));
  v.push_back(make("Tile/ones", "Tile", 13, {in_f32({5, 7}), const_i64({1, 1})}));
  v.push_back(make("Tile/rank6_mergeable", "Tile", 13,
                   {in_f32({2, 3, 2, 1, 2, 3}), const_i64({1, 1, 2, 3, 1, 1})}));
}

void arg_cases(std::vector<OpCase>& v) {
  for (const char* op : {"ArgMax", "ArgMin"}) {
    const std::string o = op;
    v.push_back(make(o + "/long_inner_axis1", op, 13, {in_f32({1, 3, 4099})},
                     {{"axis", attr_i(1)}, {"keepdims", attr_i(0)}}));
    v.push_back(
        make(o + "/last_axis0_nokeep", op, 12, {in_f32({7, 13}, -2, 2)},
             {{"axis", attr_i(0)}, {"keepdims", attr_i(0)}, {"select_last_index", attr_i(1)}}));
    v.push_back(make(o + "/opset11_neg_axis", op, 11, {in_f32({3, 4, 5})}, {{"axis", attr_i(-2)}}));
    v.push_back(make(o + "/one_element", op, 13, {in_f32({1})}));
    v.push_back(make(o + "/default_axis_opset1", op, 1, {in_f32({13, 3})}));
    // Small integer values: many ties.
    InputSpec ties = in_f32({9, 127}, -3, 3);
    ties.values.clear();
    for (int i = 0; i < 9 * 127; ++i) ties.values.push_back(static_cast<double>((i * 7) % 5) - 2);
    v.push_back(make(o + "/ties_last", op, 13, {ties},
                     {{"axis", attr_i(1)}, {"select_last_index", attr_i(1)}}));
    v.push_back(make(o + "/ties_first", op, 13, {ties}, {{"axis", attr_i(1)}}));
  }
}

InputSpec scalar(double v, bool constant) {
  InputSpec i;
  i.shape = {};
  i.values = {v};
  i.constant = constant;
  return i;
}

void range_cases(std::vector<OpCase>& v) {
  struct R {
    const char* tag;
    double start, limit, delta;
  };
  for (const R& r : std::vector<R>{{"up_2713", -3.5, 1000.25, 0.37},
                                   {"down", 10, -3.3, -0.5},
                                   {"one", 1, 1.5, 7},
                                   {"empty", 5, 1, 1},
                                   {"thirds_127", 0, 42.333, 1.0 / 3}}) {
    OpCase c = make(std::string("Range/") + r.tag, "Range", 11,
                    {scalar(r.start, true), scalar(r.limit, true), scalar(r.delta, false)});
    // One rounding on the device (fma) against the CPU's double arithmetic rounded to float.
    c.atol = 1e-6;
    c.rtol = 1e-6;
    v.push_back(c);
  }
}

}  // namespace

std::vector<OpCase> data_extra_cases() {
  std::vector<OpCase> v;
  depth_space_cases(v);
  pad_tile_cases(v);
  arg_cases(v);
  range_cases(v);
  return v;
}

}  // namespace kiln::testing
