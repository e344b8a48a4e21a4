// OpCases for the data-movement ops: the views (Reshape, Flatten, Squeeze, Unsqueeze) and the
// copies (Transpose, Expand, Slice, Tile, Concat, Split, Pad, Gather), ranks 1..5, odd sizes,
// negative axes / indices / steps / pads, every mode and opset variant, and several element
// sizes (float32, float16, int64, uint8, bool). Data movement is exact: atol = rtol = 0.
#include <cstdint>
#include <limits>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

// Integer tensors small enough to stay on the host run as shape arithmetic on the CPU, so the
// integer cases use more than 4096 elements.
InputSpec in_typed(DType dt, Shape s) {
  InputSpec i = in_f32(std::move(s), -100, 100);
  i.dtype = dt;
  if (dt == DType::kUInt8) i.lo = 0;
  return i;
}

InputSpec const_i32(std::vector<int64_t> values) {
  InputSpec i = const_i64(std::move(values));
  i.dtype = DType::kInt32;
  return i;
}

InputSpec indices(DType dt, Shape s, std::vector<int64_t> values) {
  InputSpec i;
  i.dtype = dt;
  i.shape = std::move(s);
  for (int64_t v : values) i.values.push_back(static_cast<double>(v));
  return i;
}

OpCase make(std::string name, std::string op, int opset, std::vector<InputSpec> inputs,
            std::map<std::string, ir::Attribute> attrs = {}, int num_outputs = 1) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.num_outputs = num_outputs;
  c.atol = 0;
  c.rtol = 0;
  return c;
}

void view_cases(std::vector<OpCase>& v) {
  // Reshape: 0 copies a dim, -1 infers, allowzero keeps a literal 0.
  v.push_back(make("Reshape/234_to_4x-1", "Reshape", 13, {in_f32({2, 3, 4}), const_i64({4, -1})}));
  v.push_back(
      make("Reshape/234_to_00-1", "Reshape", 13, {in_f32({2, 3, 4}), const_i64({0, 0, -1})}));
  v.push_back(make("Reshape/13_to_1x13x1", "Reshape", 5, {in_f32({13}), const_i64({1, 13, 1})}));
  v.push_back(
      make("Reshape/rank5_to_flat", "Reshape", 13, {in_f32({3, 5, 7, 2, 3}), const_i64({-1})}));
  v.push_back(
      make("Reshape/to_rank5", "Reshape", 14, {in_f32({127, 6}), const_i64({1, 2, 3, 127, 1})}));
  v.push_back(make("Reshape/allowzero_empty", "Reshape", 14, {in_f32({0, 3}), const_i64({3, 0})},
                   {{"allowzero", attr_i(1)}}));
  v.push_back(make("Reshape/allowzero_0_copies_off", "Reshape", 14,
                   {in_f32({2, 7}), const_i64({0, 7})}, {{"allowzero", attr_i(0)}}));
  v.push_back(make("Reshape/int64_17x257", "Reshape", 13,
                   {in_typed(DType::kInt64, {17, 257}), const_i64({257, -1})}));
  v.push_back(make("Reshape/f16", "Reshape", 13,
                   {in_typed(DType::kFloat16, {5, 6}), const_i64({0, 3, 2})}));
  v.push_back(make("Reshape/bool", "Reshape", 13, {in_bool({64, 65}), const_i64({65, 64})}));

  // Flatten: every axis from -r to r.
  const std::vector<Shape> fshapes = {{13}, {3, 7}, {2, 3, 5}, {2, 1, 3, 5}, {2, 3, 1, 5, 3}};
  for (const Shape& s : fshapes) {
    const int64_t r = static_cast<int64_t>(s.size());
    for (int64_t axis = -r; axis <= r; ++axis)
      v.push_back(make("Flatten/" + shape_to_string(s) + "_axis" + std::to_string(axis), "Flatten",
                       axis < 0 ? 11 : 9, {in_f32(s)}, {{"axis", attr_i(axis)}}));
  }
  v.push_back(make("Flatten/default_axis", "Flatten", 13, {in_f32({4, 3, 5})}));

  // Squeeze: attribute before 13, input from 13, all unit dims when absent.
  v.push_back(make("Squeeze/attr_neg", "Squeeze", 11, {in_f32({3, 1, 5, 1})},
                   {{"axes", attr_ints({-1, 1})}}));
  v.push_back(make("Squeeze/attr_none", "Squeeze", 11, {in_f32({1, 13, 1})}));
  v.push_back(make("Squeeze/input_axes", "Squeeze", 13, {in_f32({1, 7, 1, 3}), const_i64({0})}));
  v.push_back(make("Squeeze/input_neg_axes", "Squeeze", 13,
                   {in_f32({2, 1, 3, 1, 1}), const_i64({-1, -2})}));
  v.push_back(make("Squeeze/none_rank5", "Squeeze", 13, {in_f32({1, 2, 1, 3, 1})}));
  v.push_back(make("Squeeze/to_scalar", "Squeeze", 13, {in_f32({1, 1})}));

  // Unsqueeze.
  v.push_back(
      make("Unsqueeze/attr", "Unsqueeze", 11, {in_f32({13})}, {{"axes", attr_ints({0, -1})}}));
  v.push_back(
      make("Unsqueeze/attr_mid", "Unsqueeze", 11, {in_f32({3, 5})}, {{"axes", attr_ints({1})}}));
  v.push_back(
      make("Unsqueeze/input_neg", "Unsqueeze", 13, {in_f32({2, 3, 4}), const_i64({-1, 1})}));
  v.push_back(
      make("Unsqueeze/input_rank5", "Unsqueeze", 13, {in_f32({3, 7}), const_i64({0, 2, 4})}));
  v.push_back(make("Unsqueeze/scalar", "Unsqueeze", 13, {in_f32({}), const_i64({0})}));
}

void transpose_cases(std::vector<OpCase>& v) {
  struct T {
    Shape s;
    std::vector<int64_t> perm;  // empty: default (reverse)
  };
  const std::vector<T> ts = {
      {{13}, {}},
      {{13}, {0}},
      {{13, 7}, {}},
      {{127, 33}, {1, 0}},
      {{2, 3, 5}, {1, 0, 2}},
      {{2, 3, 5}, {2, 0, 1}},
      {{7, 1, 9}, {}},
      {{2, 3, 5, 7}, {0, 2, 3, 1}},
      {{2, 3, 5, 7}, {3, 1, 0, 2}},
      {{2, 3, 1, 5, 3}, {4, 2, 0, 3, 1}},
      {{3, 2, 5, 2, 3}, {}},
      {{0, 3, 2}, {2, 0, 1}},
  };
  for (const T& t : ts) {
    std::map<std::string, ir::Attribute> attrs;
    if (!t.perm.empty()) attrs["perm"] = attr_ints(t.perm);
    std::string name = "Transpose/";
    name += shape_to_string(t.s);
    name += '_';
    name += t.perm.empty() ? std::string("default") : shape_to_string(t.perm);
    v.push_back(make(name, "Transpose", 13, {in_f32(t.s)}, attrs));
  }
  v.push_back(make("Transpose/f16", "Transpose", 13, {in_typed(DType::kFloat16, {3, 5, 7})},
                   {{"perm", attr_ints({2, 0, 1})}}));
  v.push_back(make("Transpose/int64", "Transpose", 13, {in_typed(DType::kInt64, {17, 3, 101})},
                   {{"perm", attr_ints({1, 2, 0})}}));
  v.push_back(make("Transpose/uint8", "Transpose", 13, {in_typed(DType::kUInt8, {17, 19, 13})},
                   {{"perm", attr_ints({2, 1, 0})}}));
  v.push_back(make("Transpose/bool", "Transpose", 13, {in_bool({16, 17, 19})}));
}

void concat_split_cases(std::vector<OpCase>& v) {
  // Concat: every axis (positive and negative) for ranks 1..5, 2 or 3 inputs of different sizes.
  const std::vector<Shape> bases = {{13}, {3, 7}, {2, 3, 5}, {2, 1, 3, 5}, {2, 3, 1, 5, 3}};
  for (const Shape& s : bases) {
    const int64_t r = static_cast<int64_t>(s.size());
    for (int64_t axis = -r; axis < r; ++axis) {
      const int64_t a = axis < 0 ? axis + r : axis;
      Shape s1 = s, s2 = s;
      s1[a] = 1;
      s2[a] = s[a] + 2;
      std::vector<InputSpec> ins = {in_f32(s), in_f32(s1)};
      if (axis % 2 == 0) ins.push_back(in_f32(s2));
      v.push_back(make("Concat/" + shape_to_string(s) + "_axis" + std::to_string(axis), "Concat",
                       13, ins, {{"axis", attr_i(axis)}}));
    }
  }
  v.push_back(make("Concat/one_input", "Concat", 13, {in_f32({3, 5})}, {{"axis", attr_i(1)}}));
  v.push_back(make("Concat/empty_input", "Concat", 13,
                   {in_f32({3, 5}), in_f32({0, 5}), in_f32({2, 5})}, {{"axis", attr_i(0)}}));
  v.push_back(make("Concat/const_input", "Concat", 11, {in_f32({4, 13}), const_f32({4, 3})},
                   {{"axis", attr_i(-1)}}));
  v.push_back(make("Concat/int64", "Concat", 13,
                   {in_typed(DType::kInt64, {33, 127}), in_typed(DType::kInt64, {33, 5})},
                   {{"axis", attr_i(1)}}));
  v.push_back(make("Concat/f16", "Concat", 13,
                   {in_typed(DType::kFloat16, {2, 3}), in_typed(DType::kFloat16, {5, 3})},
                   {{"axis", attr_i(0)}}));
  v.push_back(make("Concat/bool", "Concat", 13, {in_bool({65, 64}), in_bool({65, 3})},
                   {{"axis", attr_i(1)}}));

  // Split.
  v.push_back(make("Split/equal_1d", "Split", 13, {in_f32({12})}, {}, 3));
  v.push_back(make("Split/attr_sizes", "Split", 11, {in_f32({2, 13})},
                   {{"axis", attr_i(1)}, {"split", attr_ints({3, 9, 1})}}, 3));
  v.push_back(make("Split/attr_default", "Split", 2, {in_f32({6, 5})}, {}, 2));
  v.push_back(make("Split/input_sizes_neg_axis", "Split", 13,
                   {in_f32({2, 3, 7, 5}), const_i64({2, 0, 5})}, {{"axis", attr_i(-2)}}, 3));
  v.push_back(make("Split/rank5", "Split", 13, {in_f32({2, 3, 4, 5, 3}), const_i64({1, 2})},
                   {{"axis", attr_i(1)}}, 2));
  v.push_back(
      make("Split/rank3_axis0", "Split", 13, {in_f32({13, 3, 2}), const_i64({6, 7})}, {}, 2));
  v.push_back(make("Split/num_outputs_uneven", "Split", 18, {in_f32({3, 13})},
                   {{"axis", attr_i(-1)}, {"num_outputs", attr_i(4)}}, 4));
  v.push_back(make("Split/num_outputs_even", "Split", 18, {in_f32({8, 3})},
                   {{"num_outputs", attr_i(2)}}, 2));
  v.push_back(make("Split/int64", "Split", 13, {in_typed(DType::kInt64, {64, 129})},
                   {{"axis", attr_i(1)}}, 3));
}

void slice_cases(std::vector<OpCase>& v) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  // Attribute form (opset < 10).
  v.push_back(make("Slice/attr_basic", "Slice", 9, {in_f32({13, 7})},
                   {{"starts", attr_ints({1, 2})}, {"ends", attr_ints({12, 100})}}));
  v.push_back(
      make("Slice/attr_axes_neg", "Slice", 9, {in_f32({3, 13, 5})},
           {{"starts", attr_ints({-4})}, {"ends", attr_ints({-1})}, {"axes", attr_ints({1})}}));
  // Input form.
  v.push_back(make("Slice/1d", "Slice", 13, {in_f32({127}), const_i64({5}), const_i64({120})}));
  v.push_back(make("Slice/steps", "Slice", 13,
                   {in_f32({13, 11}), const_i64({1, 0}), const_i64({13, 11}), const_i64({0, 1}),
                    const_i64({3, 2})}));
  v.push_back(make("Slice/neg_steps", "Slice", 13,
                   {in_f32({13, 11}), const_i64({-1, 9}), const_i64({kMin, 1}), const_i64({0, 1}),
                    const_i64({-1, -3})}));
  v.push_back(make("Slice/neg_step_clamped", "Slice", 13,
                   {in_f32({7, 5}), const_i64({100, kMax}), const_i64({-100, 0}),
                    const_i64({-2, -1}), const_i64({-2, kMin})}));
  v.push_back(
      make("Slice/huge_ends", "Slice", 13,
           {in_f32({4, 9}), const_i64({-1000, 2}), const_i64({kMax, kMax}), omitted(), omitted()}));
  v.push_back(make("Slice/empty_result", "Slice", 13,
                   {in_f32({5, 6}), const_i64({4}), const_i64({2}), const_i64({-1})}));
  v.push_back(make("Slice/rank3_axes_neg", "Slice", 13,
                   {in_f32({3, 5, 7}), const_i64({1, -5}), const_i64({3, -1}), const_i64({-1, 0}),
                    const_i64({2, 1})}));
  v.push_back(make("Slice/rank4", "Slice", 11,
                   {in_f32({2, 3, 5, 7}), const_i64({1, 4, 1}), const_i64({3, 0, 7}),
                    const_i64({1, 2, 3}), const_i64({1, -2, 2})}));
  v.push_back(make("Slice/rank5_int32", "Slice", 13,
                   {in_f32({2, 3, 4, 5, 3}), const_i32({0, 1, -3}), const_i32({1, 3, 5}),
                    const_i32({0, 2, 3}), const_i32({1, 1, 2})}));
  v.push_back(make("Slice/int64_data", "Slice", 13,
                   {in_typed(DType::kInt64, {65, 129}), const_i64({3, 128}), const_i64({60, 0}),
                    const_i64({0, 1}), const_i64({5, -7})}));
  v.push_back(make("Slice/uint8", "Slice", 13,
                   {in_typed(DType::kUInt8, {65, 67}), const_i64({2}), const_i64({11}),
                    const_i64({-1}), const_i64({4})}));
}

void gather_cases(std::vector<OpCase>& v) {
  const DType i64 = DType::kInt64, i32 = DType::kInt32;
  v.push_back(
      make("Gather/1d", "Gather", 13, {in_f32({13}), indices(i64, {5}, {0, 12, -1, -13, 6})}));
  v.push_back(make("Gather/scalar_index", "Gather", 13, {in_f32({7, 5}), indices(i64, {}, {-2})},
                   {{"axis", attr_i(0)}}));
  v.push_back(make("Gather/axis1_2d_idx", "Gather", 13,
                   {in_f32({3, 13, 5}), indices(i64, {2, 3}, {0, -1, 7, 12, -13, 3})},
                   {{"axis", attr_i(1)}}));
  v.push_back(make("Gather/axis_neg_int32", "Gather", 11,
                   {in_f32({2, 3, 11}), indices(i32, {4}, {10, -11, 0, -5})},
                   {{"axis", attr_i(-1)}}));
  v.push_back(make("Gather/rank4_axis2", "Gather", 13,
                   {in_f32({2, 3, 5, 7}), indices(i32, {3, 1}, {4, -5, 2})},
                   {{"axis", attr_i(2)}}));
  v.push_back(make("Gather/rank5_axis0", "Gather", 13,
                   {in_f32({3, 2, 3, 2, 5}), indices(i64, {4}, {2, 0, -1, 1})}));
  v.push_back(make(
      "Gather/embedding", "Gather", 13,
      {const_f32({127, 33}),
       indices(i64, {2, 9}, {0, 1, 126, -127, 5, 64, 3, 3, 100, 99, 98, 7, 6, 5, 4, 3, 2, 1})}));
  v.push_back(make("Gather/empty_indices", "Gather", 13, {in_f32({5, 3}), indices(i64, {0}, {})},
                   {{"axis", attr_i(1)}}));
  v.push_back(make("Gather/int64_data", "Gather", 13,
                   {in_typed(i64, {129, 65}), indices(i64, {3}, {128, -129, 5})}));
  v.push_back(make("Gather/f16_data", "Gather", 13,
                   {in_typed(DType::kFloat16, {9, 4}), indices(i32, {2}, {-9, 8})},
                   {{"axis", attr_i(0)}}));
  v.push_back(make("Gather/bool_data", "Gather", 13,
                   {in_bool({65, 66}), indices(i64, {3}, {5, 0, -66})}, {{"axis", attr_i(1)}}));
}

void expand_tile_pad_cases(std::vector<OpCase>& v) {
  // Expand.
  v.push_back(make("Expand/scalar_to_1d", "Expand", 13, {in_f32({}), const_i64({13})}));
  v.push_back(make("Expand/col_to_3d", "Expand", 13, {in_f32({3, 1}), const_i64({2, 3, 7})}));
  v.push_back(make("Expand/lower_rank_shape", "Expand", 8, {in_f32({2, 1, 3}), const_i64({4, 1})}));
  v.push_back(make("Expand/ones_keep", "Expand", 13, {in_f32({5, 7}), const_i64({1, 1})}));
  v.push_back(
      make("Expand/rank5", "Expand", 13, {in_f32({1, 3, 1, 5, 1}), const_i64({2, 1, 4, 1, 3})}));
  v.push_back(make("Expand/to_empty", "Expand", 13, {in_f32({1, 3}), const_i64({0, 3})}));
  v.push_back(
      make("Expand/int64", "Expand", 13, {in_typed(DType::kInt64, {1, 4099}), const_i64({3, 1})}));

  // Tile.
  v.push_back(make("Tile/1d", "Tile", 13, {in_f32({13}), const_i64({3})}));
  v.push_back(make("Tile/2d", "Tile", 13, {in_f32({3, 7}), const_i64({2, 3})}));
  v.push_back(make("Tile/3d_ones", "Tile", 6, {in_f32({2, 3, 5}), const_i64({1, 1, 2})}));
  v.push_back(make("Tile/rank4", "Tile", 13, {in_f32({2, 1, 3, 5}), const_i64({2, 3, 1, 2})}));
  v.push_back(
      make("Tile/rank5", "Tile", 13, {in_f32({1, 2, 3, 1, 2}), const_i64({3, 1, 2, 2, 3})}));
  v.push_back(make("Tile/zero_repeat", "Tile", 13, {in_f32({3, 4}), const_i64({0, 2})}));
  v.push_back(make("Tile/f16", "Tile", 13, {in_typed(DType::kFloat16, {3, 5}), const_i64({2, 1})}));
  v.push_back(
      make("Tile/int64", "Tile", 13, {in_typed(DType::kInt64, {33, 129}), const_i64({2, 1})}));

  // Pad, attribute form (before opset 11).
  for (const char* mode : {"constant", "reflect", "edge"}) {
    std::string m = mode;
    v.push_back(
        make("Pad/attr_" + m, "Pad", 2, {in_f32({5, 7})},
             {{"mode", attr_s(m)}, {"pads", attr_ints({1, 3, 2, 4})}, {"value", attr_f(1.5f)}}));
  }
  v.push_back(
      make("Pad/attr_default_mode", "Pad", 2, {in_f32({13})}, {{"pads", attr_ints({2, 5})}}));
  // Input form.
  for (const char* mode : {"constant", "reflect", "edge"}) {
    std::string m = mode;
    v.push_back(make("Pad/" + m + "_rank1", "Pad", 11, {in_f32({13}), const_i64({3, 4})},
                     {{"mode", attr_s(m)}}));
    v.push_back(make("Pad/" + m + "_rank2", "Pad", 13, {in_f32({5, 7}), const_i64({0, 2, 4, 3})},
                     {{"mode", attr_s(m)}}));
    v.push_back(make("Pad/" + m + "_rank3_neg", "Pad", 13,
                     {in_f32({4, 6, 5}), const_i64({1, -2, 0, -1, 3, 2})}, {{"mode", attr_s(m)}}));
    v.push_back(make("Pad/" + m + "_rank4", "Pad", 13,
                     {in_f32({2, 3, 5, 7}), const_i64({0, 0, 1, 2, 0, 1, 3, 4})},
                     {{"mode", attr_s(m)}}));
    v.push_back(make("Pad/" + m + "_rank5", "Pad", 13,
                     {in_f32({2, 1, 3, 4, 3}), const_i64({1, 0, 2, 1, 0, 0, 1, 0, 2, 1})},
                     {{"mode", attr_s(m)}}));
    v.push_back(make("Pad/" + m + "_axes_neg", "Pad", 18,
                     {in_f32({3, 5, 7}), const_i64({2, 3, 1, 4}), omitted(), const_i64({-1, 0})},
                     {{"mode", attr_s(m)}}));
  }
  v.push_back(make("Pad/reflect_len1", "Pad", 13, {in_f32({3, 1}), const_i64({0, 2, 0, 3})},
                   {{"mode", attr_s("reflect")}}));
  v.push_back(make("Pad/reflect_wide", "Pad", 13, {in_f32({3, 4}), const_i64({1, 3, 2, 3})},
                   {{"mode", attr_s("reflect")}}));
  v.push_back(make("Pad/wrap", "Pad", 19, {in_f32({3, 4}), const_i64({2, 5, 1, 6})},
                   {{"mode", attr_s("wrap")}}));
  v.push_back(make("Pad/wrap_rank3_neg", "Pad", 19,
                   {in_f32({4, 5, 3}), const_i64({1, -1, 2, 2, 1, 0})},
                   {{"mode", attr_s("wrap")}}));
  v.push_back(make("Pad/constant_value_const", "Pad", 13,
                   {in_f32({4, 5}), const_i64({1, 2, 3, 1}), const_f32({}, 2, 3)}));
  v.push_back(make("Pad/constant_value_input", "Pad", 13,
                   {in_f32({4, 5}), const_i64({1, 2, 3, 1}), in_f32({}, -3, -2)}));
  v.push_back(make("Pad/constant_omitted_value", "Pad", 13,
                   {in_f32({4, 5}), const_i64({2, 0, 0, 1}), omitted()}));
  v.push_back(make("Pad/crop_only", "Pad", 13, {in_f32({6, 7}), const_i64({-1, -2, -3, 0})}));
  v.push_back(
      make("Pad/empty_input_constant", "Pad", 13, {in_f32({0, 3}), const_i64({1, 0, 2, 1})}));
  v.push_back(make("Pad/scalar", "Pad", 13, {in_f32({}), const_i64({})}));
  v.push_back(make("Pad/int64_edge", "Pad", 13,
                   {in_typed(DType::kInt64, {33, 129}), const_i64({1, 2, 3, 4})},
                   {{"mode", attr_s("edge")}}));
  v.push_back(make("Pad/f16_constant", "Pad", 2, {in_typed(DType::kFloat16, {3, 5})},
                   {{"pads", attr_ints({1, 1, 1, 1})}, {"value", attr_f(-2.5f)}}));
  v.push_back(make("Pad/uint8_reflect", "Pad", 13,
                   {in_typed(DType::kUInt8, {65, 67}), const_i64({2, 3, 1, 4})},
                   {{"mode", attr_s("reflect")}}));
}

}  // namespace

std::vector<OpCase> data_cases() {
  std::vector<OpCase> v;
  view_cases(v);
  transpose_cases(v);
  concat_split_cases(v);
  slice_cases(v);
  gather_cases(v);
  expand_tile_pad_cases(v);
  return v;
}

}  // namespace kiln::testing
