// OpCases: data extra (see op_case.h).
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> data_extra_cases() {
  std::vector<OpCase> v;
  return v;
}

}  // namespace kiln::testing
