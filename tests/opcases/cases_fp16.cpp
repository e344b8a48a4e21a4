// OpCases: fp16 (see op_case.h).
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> fp16_cases() {
  std::vector<OpCase> v;
  return v;
}

}  // namespace kiln::testing
