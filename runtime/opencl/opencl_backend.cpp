#include "runtime/opencl/opencl_backend.h"

#include <spdlog/spdlog.h>

#include "runtime/profile.h"

#include <algorithm>
#include <climits>
#include <map>

namespace kiln::opencl {

std::vector<std::string> ClOpRegistry::ops() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

const ClOpRegistry& cl_registry() {
  static const ClOpRegistry reg = [] {
    ClOpRegistry r;
    register_cl_elementwise(r);
    register_cl_matmul(r);
    register_cl_reduce(r);
    register_cl_data(r);
    register_cl_nn(r);
    register_cl_contrib(r);
    register_cl_quant(r);
    register_cl_qconv(r);
    register_cl_fused(r);
    return r;
  }();
  return reg;
}

namespace {

std::string op_key(const ir::Node& n) {
  return n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type();
}

}  // namespace

Expected<std::unique_ptr<OpenClBackend>> OpenClBackend::create(const std::string& spec) {
  std::unique_ptr<OpenClBackend> b(new OpenClBackend());
  KILN_ASSIGN_OR_RETURN(b->ctx_, ClContext::create(spec));
  return b;
}

std::vector<int> OpenClBackend::host_inputs(const ir::Node& node) const {
  const ClOpDef* d = cl_registry().find(op_key(node));
  return d ? d->host_inputs : std::vector<int>{};
}

Support OpenClBackend::supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const {
  const ClOpDef* d = cl_registry().find(op_key(node));
  if (!d) return Support::no("no OpenCL kernel for " + op_key(node));
  for (const auto& in : inputs)
    if (in.present && in.desc.numel() >= INT_MAX)
      return Support::no("tensors of 2^31 or more elements are not supported on OpenCL");
  return d->supports ? d->supports(node, inputs) : Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> OpenClBackend::prepare(
    const ir::Node& node, const std::vector<InputInfo>& inputs) {
  const ClOpDef* d = cl_registry().find(op_key(node));
  if (!d) return unsupported("no OpenCL kernel for " + op_key(node));
  auto k = d->prepare(*ctx_, node, inputs);
  if (!k) return k.status().with_context(node.describe());
  return k;
}

Expected<std::shared_ptr<device::DeviceBuffer>> OpenClBackend::allocate(size_t bytes) {
  bytes = std::max<size_t>(bytes, 4);
  if (bytes > ctx_->info().max_alloc_bytes && ctx_->info().max_alloc_bytes > 0)
    return out_of_memory("an OpenCL buffer of " + std::to_string(bytes) +
                         " bytes exceeds the device's largest allocation (" +
                         std::to_string(ctx_->info().max_alloc_bytes) + " bytes)");
  cl_int err = CL_SUCCESS;
  cl::Buffer buf(ctx_->context(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory("allocating " + std::to_string(bytes) +
                         " bytes on the OpenCL device failed: " + cl_error_name(err));
  return std::shared_ptr<device::DeviceBuffer>(std::make_shared<ClBuffer>(std::move(buf), bytes));
}

Status OpenClBackend::upload(const Tensor& src, const DeviceTensor& dst) {
  cl_int err = ctx_->queue().enqueueWriteBuffer(cl_buffer(dst), CL_TRUE, dst.offset, src.nbytes(),
                                                src.raw_data());
  if (err != CL_SUCCESS) return runtime_error("OpenCL upload failed: " + cl_error_name(err));
  return Status::ok();
}

Status OpenClBackend::download(const DeviceTensor& src, Tensor* dst) {
  cl_int err = ctx_->queue().enqueueReadBuffer(cl_buffer(src), CL_TRUE, src.offset, dst->nbytes(),
                                               dst->raw_data());
  if (err != CL_SUCCESS)
    return runtime_error("OpenCL download failed (a kernel before it may have failed): " +
                         cl_error_name(err));
  return Status::ok();
}

Status OpenClBackend::finish() {
  cl_int err = ctx_->queue().finish();
  if (err != CL_SUCCESS) return runtime_error("OpenCL queue failed: " + cl_error_name(err));
  return Status::ok();
}

Status OpenClBackend::set_timing(bool on) {
  ctx_->set_timing_tag(-1);
  (void)ctx_->take_timed_events();
  (void)on;  // the queue always has profiling enabled; events are only asked for under a tag
  return Status::ok();
}

void OpenClBackend::mark_end(int tag) {
  (void)tag;
  ctx_->set_timing_tag(-1);
}

Expected<std::vector<device::DeviceTiming>> OpenClBackend::take_timings() {
  std::vector<std::pair<int, cl::Event>> events = ctx_->take_timed_events();
  std::vector<device::DeviceTiming> out;
  std::map<int, size_t> index;  // tag -> its interval in `out`
  for (auto& [tag, ev] : events) {
    cl_ulong start = 0, end = 0;
    cl_int e1 = ev.getProfilingInfo(CL_PROFILING_COMMAND_START, &start);
    cl_int e2 = ev.getProfilingInfo(CL_PROFILING_COMMAND_END, &end);
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
      return runtime_error("reading an OpenCL profiling event failed (was the queue finished?): " +
                           cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
    auto [it, fresh] = index.try_emplace(tag, out.size());
    if (fresh) {
      out.push_back({tag, start, end});
    } else {
      device::DeviceTiming& t = out[it->second];
      t.start_ns = std::min<uint64_t>(t.start_ns, start);
      t.end_ns = std::max<uint64_t>(t.end_ns, end);
    }
  }
  return out;
}

namespace {

// Independent FMA chains per work-item so that latency never limits: CHAINS accumulators of
// type T (float or float16), ITERS iterations; every chain feeds the stored result.
const char* kPeakSource = R"CLC(
__kernel void peak_fma(__global float* out, float a, float b) {
  const size_t gid = get_global_id(0);
  T acc[CHAINS];
  for (int c = 0; c < CHAINS; ++c) acc[c] = (T)((float)gid * 1e-9f + (float)c * 1e-3f);
  for (int i = 0; i < ITERS; ++i) {
#pragma unroll
    for (int c = 0; c < CHAINS; ++c) acc[c] = fma(acc[c], (T)a, (T)b);
  }
  T s = acc[0];
  for (int c = 1; c < CHAINS; ++c) s += acc[c];
  out[gid] = REDUCE(s);
}
)CLC";

// Best device seconds of `reps` launches of one command enqueued by `enqueue(event)`.
template <typename F>
Expected<double> best_device_seconds(ClContext& ctx, int reps, F enqueue) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    cl::Event ev;
    cl_int err = enqueue(&ev);
    if (err != CL_SUCCESS) return runtime_error("peak measurement: " + cl_error_name(err));
    err = ctx.queue().finish();
    if (err != CL_SUCCESS) return runtime_error("peak measurement: " + cl_error_name(err));
    cl_ulong start = 0, end = 0;
    ev.getProfilingInfo(CL_PROFILING_COMMAND_START, &start);
    ev.getProfilingInfo(CL_PROFILING_COMMAND_END, &end);
    if (end > start) best = std::min(best, static_cast<double>(end - start) * 1e-9);
  }
  if (best >= 1e30) return runtime_error("peak measurement: no profiling times");
  return best;
}

}  // namespace

Expected<DevicePeaks> measure_opencl_peaks(OpenClBackend& backend) {
  ClContext& ctx = backend.context();
  DevicePeaks p;
  const size_t cus = std::max<size_t>(ctx.info().compute_units, 1);
  // FMA loop: float chains (vectorised across work-items) and float16 chains.
  struct Variant {
    const char* options;
    double lanes;
  };
  const Variant variants[] = {
      {"-DT=float -DCHAINS=16 -DITERS=2048 -DREDUCE(s)=(s)", 1},
      {"-DT=float16 -DCHAINS=8 -DITERS=2048 -DREDUCE(s)=((s).s0+(s).sf)", 16}};
  std::string fma_how;
  for (const Variant& v : variants) {
    auto prog = ctx.program_from_text("peak_fma", kPeakSource, v.options);
    if (!prog) {
      spdlog::debug("peak FMA kernel ({}): {}", v.options, prog.status().message());
      continue;
    }
    cl_int err = CL_SUCCESS;
    cl::Kernel k(*prog, "peak_fma", &err);
    if (err != CL_SUCCESS) continue;
    const size_t local = 64, global = cus * 64 * local / static_cast<size_t>(v.lanes);
    const size_t global_r = round_up(global, local);
    cl::Buffer out(ctx.context(), CL_MEM_WRITE_ONLY, global_r * sizeof(float), nullptr, &err);
    if (err != CL_SUCCESS) continue;
    k.setArg(0, out);
    k.setArg(1, 0.999999f);
    k.setArg(2, 1e-7f);
    const int chains = v.lanes > 1 ? 8 : 16;
    auto s = best_device_seconds(ctx, 4, [&](cl::Event* ev) {
      return ctx.queue().cl::CommandQueue::enqueueNDRangeKernel(
          k, cl::NullRange, cl::NDRange(global_r), cl::NDRange(local), nullptr, ev);
    });
    if (!s) continue;
    const double flops = 2.0 * static_cast<double>(global_r) * chains * v.lanes * 2048;
    const double gf = flops / *s * 1e-9;
    if (gf > p.gflops) {
      p.gflops = gf;
      fma_how = v.lanes > 1 ? "float16 FMA loop" : "float FMA loop";
    }
  }
  // Buffer copies.
  for (size_t set : {size_t{192} << 10, size_t{768} << 10, size_t{3} << 20, size_t{12} << 20,
                     size_t{48} << 20}) {
    const size_t half = set / 2;
    cl_int err = CL_SUCCESS;
    cl::Buffer a(ctx.context(), CL_MEM_READ_WRITE, half, nullptr, &err);
    if (err != CL_SUCCESS) return runtime_error("peak measurement: " + cl_error_name(err));
    cl::Buffer b(ctx.context(), CL_MEM_READ_WRITE, half, nullptr, &err);
    if (err != CL_SUCCESS) return runtime_error("peak measurement: " + cl_error_name(err));
    const int reps = static_cast<int>(std::clamp<size_t>((size_t{200} << 20) / set, 4, 100));
    KILN_ASSIGN_OR_RETURN(double s, best_device_seconds(ctx, reps, [&](cl::Event* ev) {
                            return ctx.queue().enqueueCopyBuffer(a, b, 0, 0, half, nullptr, ev);
                          }));
    const double gbs = static_cast<double>(set) / s * 1e-9;
    p.bandwidth.emplace_back(static_cast<double>(set), gbs);
    p.gbytes_s = std::max(p.gbytes_s, gbs);
  }
  p.method = (fma_how.empty() ? std::string("no FMA kernel") : fma_how) +
             " and buffer copies, device clock";
  return p;
}

Status ClLaunchKernel::enqueue(const std::vector<DeviceTensor>& inputs,
                               const std::vector<DeviceTensor>& outputs) {
  KILN_RETURN_IF_ERROR(setup_error_);
  cl_uint arg = 0;
  auto set_tensor = [&](const DeviceTensor& t) -> Status {
    size_t es = std::max<size_t>(dtype_size(t.desc.dtype), 1);
    cl_int e1 = kernel_.setArg(arg++, cl_buffer(t));
    cl_int e2 = kernel_.setArg(arg++, static_cast<cl_int>(t.offset / es));
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
      return internal_error(
          name_ + ": setting buffer argument failed: " + cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
    return Status::ok();
  };
  for (int i : buffer_inputs_) {
    if (i >= static_cast<int>(inputs.size()) || !inputs[i].buffer)
      return internal_error(name_ + ": input " + std::to_string(i) + " is not on the device");
    KILN_RETURN_IF_ERROR(set_tensor(inputs[i]));
  }
  for (size_t o = 0; o < num_outputs_; ++o) KILN_RETURN_IF_ERROR(set_tensor(outputs[o]));
  cl_int err = ctx_.queue().enqueueNDRangeKernel(kernel_, cl::NullRange, global_, local_);
  if (err != CL_SUCCESS) {
    if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
        err == CL_OUT_OF_HOST_MEMORY)
      return out_of_memory(name_ +
                           ": the OpenCL device ran out of resources: " + cl_error_name(err));
    return runtime_error(name_ + ": enqueueing the kernel failed: " + cl_error_name(err));
  }
  return Status::ok();
}

}  // namespace kiln::opencl
