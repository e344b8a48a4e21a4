// OpenCL device-clock timing (Backend::set_timing / mark_begin / mark_end / take_timings on the
// OpenCL backend, profiling events captured in ClQueue) and profiled sessions that use it.
// Consistency only: intervals exist where work was enqueued, are ordered, and fit in the run.
// Also the GEMM tuning that `kiln bench --tune` saves and forces (gemm_tuning.h).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "runtime/opencl/gemm_tuning.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/profile.h"
#include "runtime/session.h"

namespace kiln {
namespace {

using device::DeviceTensor;
using device::InputInfo;
using device::TensorDesc;

std::unique_ptr<opencl::OpenClBackend> backend_or_null() {
  auto b = opencl::OpenClBackend::create("opencl");
  return b ? std::move(*b) : nullptr;
}

// An Add node of two [rows, cols] float inputs, prepared on `b`.
struct AddKernel {
  ir::Graph g;
  std::unique_ptr<device::DeviceKernel> kernel;
  std::vector<DeviceTensor> ins, outs;
};

void make_add(device::Backend& b, int64_t rows, int64_t cols, AddKernel* k) {
  ir::Value* x = *k->g.add_value("x");
  ir::Value* y = *k->g.add_value("y");
  ir::Value* z = *k->g.add_value("z");
  const ir::Node* n = *k->g.add_node("Add", "", {x, y}, {z}, "add");
  const TensorDesc d{DType::kFloat32, {rows, cols}};
  std::vector<InputInfo> infos(2);
  infos[0].desc = d;
  infos[1].desc = d;
  ASSERT_TRUE(b.supports(*n, infos).ok);
  auto kern = b.prepare(*n, infos);
  ASSERT_TRUE(kern.has_value()) << kern.status().to_string();
  k->kernel = std::move(*kern);
  for (int i = 0; i < 3; ++i) {
    auto buf = b.allocate(d.nbytes());
    ASSERT_TRUE(buf.has_value());
    (i < 2 ? k->ins : k->outs).push_back({d, *buf, 0});
  }
}

TEST(OpenClTiming, IntervalsPerTagOnlyWhereWorkWasEnqueued) {
  auto b = backend_or_null();
  if (!b) GTEST_SKIP() << "no OpenCL device";
  ASSERT_TRUE(b->supports_timing());
  AddKernel k;
  make_add(*b, 127, 13, &k);
  ASSERT_TRUE(k.kernel);
  ASSERT_TRUE(b->set_timing(true).is_ok());
  b->mark_begin(0);
  ASSERT_TRUE(k.kernel->enqueue(k.ins, k.outs).is_ok());
  b->mark_end(0);
  b->mark_begin(1);  // nothing enqueued: no interval
  b->mark_end(1);
  b->mark_begin(7);  // two launches: one interval from the first start to the last end
  ASSERT_TRUE(k.kernel->enqueue(k.ins, k.outs).is_ok());
  ASSERT_TRUE(k.kernel->enqueue(k.ins, k.outs).is_ok());
  b->mark_end(7);
  ASSERT_TRUE(k.kernel->enqueue(k.ins, k.outs).is_ok());  // outside any pair: not recorded
  ASSERT_TRUE(b->finish().is_ok());
  auto t = b->take_timings();
  ASSERT_TRUE(t.has_value()) << t.status().to_string();
  ASSERT_EQ(t->size(), 2u);
  std::map<int, device::DeviceTiming> by_tag;
  for (const auto& d : *t) by_tag[d.tag] = d;
  ASSERT_TRUE(by_tag.count(0) && by_tag.count(7));
  EXPECT_LT(by_tag[0].start_ns, by_tag[0].end_ns);
  EXPECT_LT(by_tag[7].start_ns, by_tag[7].end_ns);
  EXPECT_LE(by_tag[0].end_ns, by_tag[7].start_ns);  // in-order queue
  // Taken timings are forgotten.
  auto again = b->take_timings();
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->empty());
  // Switching timing off drops anything pending.
  b->mark_begin(3);
  ASSERT_TRUE(k.kernel->enqueue(k.ins, k.outs).is_ok());
  b->mark_end(3);
  ASSERT_TRUE(b->set_timing(false).is_ok());
  ASSERT_TRUE(b->finish().is_ok());
  auto none = b->take_timings();
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

std::map<std::string, Tensor> feeds(int64_t seq) {
  Tensor ids = Tensor::create(DType::kInt64, {1, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {1, seq}).value();
  for (int64_t i = 0; i < seq; ++i) {
    ids.data<int64_t>()[i] = (i * 31 + 3) % 1000;
    mask.data<int64_t>()[i] = 1;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

TEST(OpenClTiming, ProfiledSessionUsesTheDeviceClock) {
  if (!backend_or_null()) GTEST_SKIP() << "no OpenCL device";
  SessionOptions o;
  o.device = "opencl";
  o.profiling = true;
  auto s = Session::load(std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx", o);
  ASSERT_TRUE(s.has_value()) << s.status().to_string();
  for (int run = 0; run < 3; ++run) {
    ASSERT_TRUE((*s)->run(feeds(13)).has_value());
    const RunProfile p = (*s)->last_profile();
    ASSERT_EQ(p.events.size(), (*s)->graph().num_nodes());
    double sum = 0;
    int device_events = 0, matmuls = 0;
    for (const ProfileEvent& e : p.events) {
      EXPECT_GE(e.dur_us, 0.0) << e.node;
      sum += e.dur_us;
      if (e.track == "cpu") continue;
      ++device_events;
      if (e.kernel == "view") {  // no work enqueued: no interval, no time
        EXPECT_EQ(e.dur_us, 0.0) << e.node;
        continue;
      }
      EXPECT_TRUE(e.device_clock) << e.node << " (" << e.kernel << ") was timed on the host";
      if (e.op == "MatMul") {
        ++matmuls;
        EXPECT_GT(e.dur_us, 0.0) << e.node;
      }
    }
    EXPECT_GT(device_events, 0);
    EXPECT_GT(matmuls, 0);
    EXPECT_LE(sum, p.run_us) << "node times add up to more than the run";
  }
  // Profiling off again: runs still work and leave no timings behind.
  (*s)->set_profiling(false);
  ASSERT_TRUE((*s)->run(feeds(13)).has_value());
}

TEST(GemmTuningFile, SavedEntryIsUsedForItsDeviceOnly) {
  const std::string dir = ::testing::TempDir() + "/kiln_gemm_tuning_test";
  std::filesystem::remove_all(dir);
  const char* old = std::getenv("KILN_CACHE_DIR");
  const std::string saved_env = old ? old : "";
  ::setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  opencl::OpenClDeviceInfo info;
  info.platform_name = "Test Platform";
  info.name = "test-device";
  info.driver_version = "1.0";
  info.max_work_group_size = 256;
  opencl::GemmTuning t = opencl::gemm_tuning_for(info);
  EXPECT_EQ(t.source, "default");
  t.nt_tm = 8;
  t.nt_tn = 2;
  t.nn_lx = 16;
  t.nn_ly = 4;
  ASSERT_TRUE(opencl::save_gemm_tuning(info, t, "test").is_ok());
  opencl::GemmTuning got = opencl::gemm_tuning_for(info);
  EXPECT_EQ(got.source, "saved");
  EXPECT_EQ(got.nt_tm, 8);
  EXPECT_EQ(got.nt_tn, 2);
  EXPECT_EQ(got.nn_lx, 16);
  EXPECT_EQ(got.nn_ly, 4);
  // Another driver version is another device.
  opencl::OpenClDeviceInfo other = info;
  other.driver_version = "2.0";
  EXPECT_EQ(opencl::gemm_tuning_for(other).source, "default");
  // An invalid entry is refused when saving.
  opencl::GemmTuning bad = t;
  bad.nt_vw = 3;
  EXPECT_FALSE(opencl::save_gemm_tuning(info, bad, "bad").is_ok());
  // Forced parameters (tuning runs) win until released.
  opencl::GemmTuning forced;
  forced.nn_tm = 4;
  forced.source = "forced";
  opencl::force_gemm_tuning(&forced);
  EXPECT_EQ(opencl::gemm_tuning_for(info).source, "forced");
  opencl::force_gemm_tuning(nullptr);
  EXPECT_EQ(opencl::gemm_tuning_for(info).source, "saved");
  // The entry for the table names the device and every field.
  const std::string entry = opencl::gemm_tuning_table_entry(got, info);
  EXPECT_NE(entry.find("contains(d.name, \"test-device\")"), std::string::npos) << entry;
  EXPECT_NE(entry.find("g->nt_tm = 8;"), std::string::npos) << entry;
  if (old)
    ::setenv("KILN_CACHE_DIR", saved_env.c_str(), 1);
  else
    ::unsetenv("KILN_CACHE_DIR");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln
