// OpCases: nn family.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> nn_cases() { return {}; }

}  // namespace kiln::testing
