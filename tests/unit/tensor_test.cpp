// Host tensor storage: zero-filled on creation, also when the storage pool hands out a block
// that an earlier tensor of the same size class used; 64-byte alignment; size errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "runtime/core/tensor.h"

namespace kiln {
namespace {

bool all_zero(const Tensor& t) {
  const uint8_t* p = static_cast<const uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i)
    if (p[i]) return false;
  return true;
}

TEST(Tensor, ReusedStorageIsZeroFilledAndAligned) {
  // Sizes below, at and above the pool's smallest class, and ones in the same 1/8 class.
  for (int64_t n : {1, 13, 4095, 4096, 4097, 100000, 100001, 393216}) {
    for (int round = 0; round < 3; ++round) {
      auto t = Tensor::create(DType::kFloat32, {n});
      ASSERT_TRUE(t.has_value()) << t.status().to_string();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 64, 0u) << n;
      EXPECT_TRUE(all_zero(*t)) << "n=" << n << " round " << round;
      std::memset(t->raw_data(), 0xAB, t->nbytes());  // dirty it before it goes back
    }
  }
}

TEST(Tensor, LiveTensorsNeverShareStorage) {
  auto a = Tensor::create(DType::kFloat32, {70000});
  auto b = Tensor::create(DType::kFloat32, {70000});
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(a->raw_data(), b->raw_data());
  Tensor keep = *a;  // a view keeps the block alive after `a` goes
  a = Tensor::create(DType::kFloat32, {70000});
  ASSERT_TRUE(a.has_value());
  EXPECT_NE(a->raw_data(), keep.raw_data());
}

TEST(Tensor, RefusesImpossibleSizes) {
  EXPECT_FALSE(Tensor::create(DType::kFloat32, {-1}).has_value());
  EXPECT_FALSE(Tensor::create(DType::kFloat32, {int64_t{1} << 62, 8}).has_value());
}

}  // namespace
}  // namespace kiln
