#include <gtest/gtest.h>

#include "graph/ir/graph.h"

namespace kiln::ir {

TEST(Graph, TopoSortAndVerify) {
  Graph g;
  g.opsets()[""] = 17;
  ValueInfo f{DType::kFloat32, true, {Dim{2, ""}}};
  Value* x = *g.add_value("x", f);
  g.add_input(x);
  Value* a = *g.add_value("a");
  Value* b = *g.add_value("b");
  // b = Relu(a) added before a = Neg(x): out of order.
  ASSERT_TRUE(g.add_node("Relu", "", {a}, {b}).has_value());
  ASSERT_TRUE(g.add_node("Neg", "", {x}, {a}).has_value());
  g.add_output(b);
  EXPECT_FALSE(g.verify().is_ok());
  ASSERT_TRUE(g.topo_sort().is_ok());
  EXPECT_TRUE(g.verify().is_ok());
  EXPECT_EQ(g.nodes()[0]->op_type(), "Neg");
}

TEST(Graph, CycleIsReported) {
  Graph g;
  g.opsets()[""] = 17;
  Value* a = *g.add_value("a");
  Value* b = *g.add_value("b");
  ASSERT_TRUE(g.add_node("Relu", "", {a}, {b}, "r1").has_value());
  ASSERT_TRUE(g.add_node("Neg", "", {b}, {a}, "n1").has_value());
  g.add_output(b);
  Status st = g.topo_sort();
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("cycle"), std::string::npos);
}

}  // namespace kiln::ir
