// OpCases: data family.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> data_cases() { return {}; }

}  // namespace kiln::testing
