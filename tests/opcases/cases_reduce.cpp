// OpCases: reduce family.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

std::vector<OpCase> reduce_cases() { return {}; }

}  // namespace kiln::testing
