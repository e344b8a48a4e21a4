// OpCases: quant (see op_case.h).
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> quant_cases() {
  std::vector<OpCase> v;
  return v;
}

}  // namespace kiln::testing
