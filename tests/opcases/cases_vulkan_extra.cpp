// OpCases for ops the Vulkan backend runs that the shared case lists do not cover yet
// (ReduceL1, ReduceLogSum, ReduceLogSumExp). Used by tests/unit/vulkan_ops_test.cpp next to
// all_op_cases(); every backend with these kernels can use them.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> vulkan_extra_cases() {
  std::vector<OpCase> v;
  struct Pattern {
    const char* tag;
    Shape shape;
    std::vector<int64_t> axes;
    int keepdims;
  };
  const std::vector<Pattern> patterns = {
      {"all_13x5", {13, 5}, {}, 0},
      {"last_3x127", {3, 127}, {-1}, 1},
      {"mid_2x7x3", {2, 7, 3}, {1}, 0},
      {"outer_inner_2x3x4x5", {2, 3, 4, 5}, {0, 3}, 1},
  };
  for (const char* op : {"ReduceL1", "ReduceLogSum", "ReduceLogSumExp"}) {
    const bool positive = std::string(op) == "ReduceLogSum";
    for (const Pattern& p : patterns)
      for (bool as_input : {false, true}) {
        OpCase c;
        c.op = op;
        c.opset = as_input ? 18 : 13;
        c.name = std::string(op) + "/" + p.tag + (as_input ? "_axes_input" : "_axes_attr");
        c.inputs = {in_f32(p.shape, positive ? 0.1 : -3, positive ? 2 : 3)};
        c.attrs["keepdims"] = attr_i(p.keepdims);
        if (as_input) {
          if (p.axes.empty())
            c.inputs.push_back(omitted());
          else
            c.inputs.push_back(const_i64(p.axes));
        } else if (!p.axes.empty()) {
          c.attrs["axes"] = attr_ints(p.axes);
        }
        c.atol = 1e-5;
        c.rtol = 1e-5;
        v.push_back(std::move(c));
      }
  }
  return v;
}

}  // namespace kiln::testing
