// OpenCL backend conformance: buffer round trips at offsets for every element size, and a
// device plan replayed many times giving identical bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "graph/onnx/importer.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln {
namespace {

TEST(OpenClBackend, RoundTripsAtOffsets) {
  auto b = opencl::OpenClBackend::create("opencl");
  if (!b) {
    GTEST_SKIP() << "no OpenCL device: " << b.status().message();
  }
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8, DType::kBool}) {
    for (int64_t n : {1, 13, 127, 1 << 18}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + std::to_string(n));
      Tensor src = Tensor::create(dt, {n}).value();
      auto* bytes = static_cast<uint8_t*>(src.raw_data());
      for (size_t i = 0; i < src.nbytes(); ++i)
        bytes[i] = static_cast<uint8_t>((i * 131 + 7) & 0xff);
      if (dt == DType::kBool)
        for (size_t i = 0; i < src.nbytes(); ++i) bytes[i] &= 1;
      const size_t offset = 256 * 3;
      auto buf = (*b)->allocate(offset + src.nbytes());
      ASSERT_TRUE(buf.has_value()) << buf.status().to_string();
      device::DeviceTensor d{{dt, {n}}, *buf, offset};
      ASSERT_TRUE((*b)->upload(src, d).is_ok());
      Tensor back = Tensor::create(dt, {n}).value();
      ASSERT_TRUE((*b)->download(d, &back).is_ok());
      EXPECT_EQ(std::memcmp(back.raw_data(), src.raw_data(), src.nbytes()), 0);
    }
  }
}

TEST(OpenClBackend, TooLargeAllocationIsAClearError) {
  auto b = opencl::OpenClBackend::create("opencl");
  if (!b) {
    GTEST_SKIP() << "no OpenCL device: " << b.status().message();
  }
  auto buf = (*b)->allocate(size_t{1} << 50);
  ASSERT_FALSE(buf.has_value());
  EXPECT_EQ(buf.status().code(), StatusCode::kOutOfMemory);
}

TEST(OpenClBackend, PlanReplayedManyTimesIsIdentical) {
  auto b = opencl::OpenClBackend::create("opencl");
  if (!b) {
    GTEST_SKIP() << "no OpenCL device: " << b.status().message();
  }
  auto model =
      onnx_io::load_model(std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx");
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  device::HybridExecutor dev(*model->graph, b->get(), 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  Tensor ids = Tensor::create(DType::kInt64, {2, 11}).value();
  Tensor mask = Tensor::create(DType::kInt64, {2, 11}).value();
  for (int64_t i = 0; i < 22; ++i) {
    ids.data<int64_t>()[i] = (i * 53 + 5) % 1000;
    mask.data<int64_t>()[i] = (i % 11) < 9 ? 1 : 0;
  }
  std::map<std::string, Tensor> feeds = {{"input_ids", ids}, {"attention_mask", mask}};
  auto first = dev.run(feeds);
  ASSERT_TRUE(first.has_value()) << first.status().to_string();
  const size_t kernels = dev.kernels_prepared();
  for (int r = 0; r < 20; ++r) {
    auto again = dev.run(feeds);
    ASSERT_TRUE(again.has_value()) << again.status().to_string();
    for (size_t o = 0; o < first->size(); ++o)
      ASSERT_EQ(std::memcmp((*again)[o].raw_data(), (*first)[o].raw_data(), (*first)[o].nbytes()),
                0)
          << "replay " << r << " changed output " << o;
  }
  EXPECT_EQ(dev.kernels_prepared(), kernels);
  EXPECT_EQ(dev.plans_built(), 1u);
}

}  // namespace
}  // namespace kiln
