#include "runtime/device/hybrid_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <set>
#include <sstream>

namespace kiln::device {

std::string desc_to_string(const TensorDesc& d) {
  return std::string(dtype_name(d.dtype)) + shape_to_string(d.shape);
}

// Recycles device buffers: a freed buffer goes back to a free list and serves a later request
// of at least its size and at most twice its size.
class HybridExecutor::BufferPool {
 public:
  explicit BufferPool(Backend* b) : backend_(b) {}
  Expected<std::shared_ptr<DeviceBuffer>> get(size_t bytes) {
    bytes = std::max<size_t>((bytes + 255) / 256 * 256, 256);
    std::shared_ptr<DeviceBuffer> raw;
    auto it = free_.lower_bound(bytes);
    if (it != free_.end() && it->first <= 2 * bytes) {
      raw = it->second;
      free_.erase(it);
    } else {
      KILN_ASSIGN_OR_RETURN(raw, backend_->allocate(bytes));
    }
    return std::shared_ptr<DeviceBuffer>(
        raw.get(), [this, raw](DeviceBuffer*) { free_.emplace(raw->size(), raw); });
  }

 private:
  Backend* backend_;
  std::multimap<size_t, std::shared_ptr<DeviceBuffer>> free_;
};

struct HybridExecutor::Slot {
  Tensor host;
  DeviceTensor dev;
  bool has_host = false;
  bool has_dev = false;
  TensorDesc desc() const { return has_host ? TensorDesc{host.dtype(), host.shape()} : dev.desc; }
};

struct HybridExecutor::MemoryPlan {
  std::shared_ptr<DeviceBuffer> arena;
  std::map<int, std::pair<size_t, size_t>> slots;  // value id or scratch key -> (offset, bytes)
  std::set<int> inplace;                           // outputs written over an input's bytes
};

struct HybridExecutor::Prepared {
  bool on_device = false;
  std::string reason;
  std::unique_ptr<DeviceKernel> kernel;
};

HybridExecutor::HybridExecutor(const ir::Graph& graph, Backend* backend, int threads)
    : graph_(graph),
      backend_(backend),
      pool_(std::make_unique<ThreadPool>(threads)),
      buffers_(std::make_unique<BufferPool>(backend)) {}

HybridExecutor::~HybridExecutor() {
  // Kernels and buffers may reference the backend's queue: drain it first.
  if (backend_) (void)backend_->finish();
  cache_.clear();
  weights_.clear();
}

Status HybridExecutor::prepare() {
  // The CPU path must be able to run every node: it is the fallback for all of them.
  cpu::Executor check(graph_, 1);
  KILN_RETURN_IF_ERROR(check.prepare());
  order_ = graph_.nodes();
  const cpu::KernelRegistry& reg = cpu::cpu_registry();
  cpu_kernels_.clear();
  host_inputs_.clear();
  for (ir::Node* n : order_) {
    cpu_kernels_.push_back(reg.find(n->domain(), n->op_type(), n->opset()));
    host_inputs_.push_back(backend_->host_inputs(*n));
  }
  size_t nv = 0;
  auto grow = [&](const ir::Value* v) {
    if (v) nv = std::max<size_t>(nv, static_cast<size_t>(v->id()) + 1);
  };
  for (ir::Node* n : order_) {
    for (ir::Value* v : n->inputs()) grow(v);
    for (ir::Value* v : n->outputs()) grow(v);
  }
  for (ir::Value* v : graph_.inputs()) grow(v);
  for (ir::Value* v : graph_.outputs()) grow(v);
  last_use_.assign(nv, -1);
  for (size_t i = 0; i < order_.size(); ++i)
    for (ir::Value* v : order_[i]->inputs())
      if (v) last_use_[v->id()] = static_cast<int>(i);
  for (ir::Value* v : graph_.outputs()) last_use_[v->id()] = INT_MAX;
  cache_.clear();
  cache_.resize(order_.size());
  const char* inplace = std::getenv("KILN_INPLACE");
  inplace_on_ = !(inplace && std::string(inplace) == "0");
  return upload_weights();
}

// Constant weights go to the device once, at load: every initializer read by some node as a
// device input (not one of the inputs its op wants on the host). A weight whose nodes all end up
// on the CPU costs device memory but no transfer per run.
Status HybridExecutor::upload_weights() {
  weights_.clear();
  for (size_t i = 0; i < order_.size(); ++i) {
    const ir::Node& n = *order_[i];
    for (size_t k = 0; k < n.inputs().size(); ++k) {
      const ir::Value* v = n.inputs()[k];
      if (!v || !v->is_initializer() || weights_.count(v->id())) continue;
      if (std::find(host_inputs_[i].begin(), host_inputs_[i].end(), static_cast<int>(k)) !=
          host_inputs_[i].end())
        continue;
      const Tensor& t = v->initializer();
      if (t.nbytes() == 0 || dtype_size(t.dtype()) == 0) continue;
      DeviceTensor d;
      d.desc = {t.dtype(), t.shape()};
      auto buf = backend_->allocate(std::max<size_t>(d.desc.nbytes(), 4));
      if (!buf)
        return buf.status().with_context("uploading weight '" + v->name() + "' of " + n.describe());
      d.buffer = std::move(*buf);
      KILN_RETURN_IF_ERROR(
          backend_->upload(t, d).with_context("uploading weight '" + v->name() + "'"));
      weights_[v->id()] = d;
      weight_bytes_ += d.desc.nbytes();
    }
  }
  return backend_->finish();
}

Expected<DeviceTensor> HybridExecutor::to_device(const ir::Value* v, Slot& slot) {
  if (slot.has_dev) return slot.dev;
  if (v && v->is_initializer()) {
    auto it = weights_.find(v->id());
    if (it != weights_.end()) return it->second;
  }
  if (!slot.has_host) return internal_error("value '" + (v ? v->name() : "?") + "' has no data");
  DeviceTensor d;
  d.desc = {slot.host.dtype(), slot.host.shape()};
  if (v && v->is_initializer()) {
    KILN_ASSIGN_OR_RETURN(d.buffer, backend_->allocate(std::max<size_t>(d.desc.nbytes(), 4)));
  } else {
    KILN_ASSIGN_OR_RETURN(d, allocate_value(v, d.desc));
  }
  if (d.desc.nbytes()) KILN_RETURN_IF_ERROR(backend_->upload(slot.host, d));
  if (v && v->is_initializer()) {
    weights_[v->id()] = d;
  } else {
    slot.dev = d;
    slot.has_dev = true;
  }
  return d;
}

Expected<DeviceTensor> HybridExecutor::allocate_value(const ir::Value* v, const TensorDesc& desc) {
  return allocate_keyed(v ? v->id() : -1, desc);
}

Expected<DeviceTensor> HybridExecutor::allocate_keyed(int key, const TensorDesc& desc) {
  DeviceTensor d;
  d.desc = desc;
  const size_t bytes = desc.nbytes();
  if (plan_ && key != -1) {
    auto it = plan_->slots.find(key);
    if (it != plan_->slots.end() && bytes <= it->second.second) {
      d.buffer = plan_->arena;
      d.offset = it->second.first;
      return d;
    }
  }
  KILN_ASSIGN_OR_RETURN(d.buffer, buffers_->get(bytes));
  if (!plan_ && key != -1) recorded_.push_back({key, bytes, step_, step_});
  return d;
}

void HybridExecutor::add_view(int view, int src) {
  auto root = alias_root_.find(src);
  const int r = root == alias_root_.end() ? src : root->second;
  alias_root_[view] = r;
  viewers_[r].push_back(view);
}

bool HybridExecutor::can_overwrite(size_t step, int k, const std::vector<DeviceTensor>& ins,
                                   const TensorDesc& out, const std::vector<int>& taken) const {
  const ir::Node& n = *order_[step];
  if (k < 0 || static_cast<size_t>(k) >= ins.size() || static_cast<size_t>(k) >= n.inputs().size())
    return false;
  if (std::find(taken.begin(), taken.end(), k) != taken.end()) return false;
  const ir::Value* v = n.inputs()[static_cast<size_t>(k)];
  const DeviceTensor& in = ins[static_cast<size_t>(k)];
  if (!v || v->is_initializer() || !in.buffer) return false;
  if (out.nbytes() == 0 || out.nbytes() != in.desc.nbytes()) return false;
  auto r = alias_root_.find(v->id());
  const int root = r == alias_root_.end() ? v->id() : r->second;
  if (weights_.count(root) || weights_.count(v->id())) return false;
  // Every value using these bytes dies here and is read by this node only as input k.
  std::vector<int> sharing = {root};
  if (auto w = viewers_.find(root); w != viewers_.end())
    sharing.insert(sharing.end(), w->second.begin(), w->second.end());
  for (int id : sharing) {
    if (id < 0 || static_cast<size_t>(id) >= last_use_.size()) return false;
    if (last_use_[static_cast<size_t>(id)] > static_cast<int>(step)) return false;
    for (size_t j = 0; j < n.inputs().size(); ++j)
      if (j != static_cast<size_t>(k) && n.inputs()[j] && n.inputs()[j]->id() == id) return false;
  }
  return true;
}

Status HybridExecutor::build_plan(const std::string& signature) {
  // Lifetimes: from the step that made the value to its last reader; graph outputs live to the
  // end; a value viewed by an alias lives as long as the alias does.
  // Scratch (negative keys) lives for its step only.
  std::map<int, size_t> last;
  for (const auto& r : recorded_) last[r.value] = r.def;
  auto last_use = [&](int id) -> size_t {
    int lu = id >= 0 && id < static_cast<int>(last_use_.size()) ? last_use_[id] : -1;
    return lu == INT_MAX ? order_.size() : static_cast<size_t>(std::max(lu, 0));
  };
  for (auto& [id, l] : last)
    if (id >= 0) l = std::max(l, last_use(id));
  for (const auto& [alias, root] : alias_root_) {
    auto it = last.find(root);
    if (it != last.end()) it->second = std::max(it->second, last_use(alias));
  }
  std::vector<Lifetime> items = recorded_;
  for (auto& r : items) {
    r.last = last[r.value];
    r.bytes = std::max<size_t>((r.bytes + 255) / 256 * 256, 256);
  }
  std::sort(items.begin(), items.end(), [](const Lifetime& a, const Lifetime& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.def < b.def;
  });
  auto plan = std::make_unique<MemoryPlan>();
  plan->inplace.insert(recorded_inplace_.begin(), recorded_inplace_.end());
  struct Placed {
    size_t off, bytes, def, last;
  };
  std::vector<Placed> placed;
  size_t total = 0;
  for (const auto& r : items) {
    // First fit: the lowest offset whose range overlaps no value alive at the same time.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const auto& p : placed)
      if (!(p.last < r.def || r.last < p.def)) busy.push_back({p.off, p.off + p.bytes});
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (const auto& [b, e] : busy) {
      if (off + r.bytes <= b) break;
      off = std::max(off, e);
    }
    placed.push_back({off, r.bytes, r.def, r.last});
    plan->slots[r.value] = {off, r.bytes};
    total = std::max(total, off + r.bytes);
  }
  if (total > 0) {
    auto arena = backend_->allocate(total);
    if (!arena) {
      spdlog::warn("no memory plan for this input shape: {}", arena.status().message());
      return Status::ok();  // runs keep using the buffer pool
    }
    plan->arena = std::move(*arena);
  }
  last_arena_bytes_ = total;
  last_inplace_outputs_ = plan->inplace.size();
  spdlog::info("memory plan for {}: {} planned buffers, {} outputs in place, arena {} bytes",
               signature, items.size(), plan->inplace.size(), total);
  plans_[signature] = std::move(plan);
  return Status::ok();
}

Status HybridExecutor::to_host(Slot& slot) {
  if (slot.has_host) return Status::ok();
  KILN_ASSIGN_OR_RETURN(slot.host, Tensor::create(slot.dev.desc.dtype, slot.dev.desc.shape));
  if (slot.dev.desc.nbytes()) KILN_RETURN_IF_ERROR(backend_->download(slot.dev, &slot.host));
  slot.has_host = true;
  return Status::ok();
}

Expected<HybridExecutor::Prepared*> HybridExecutor::lookup(size_t index,
                                                           const std::vector<InputInfo>& inputs) {
  const ir::Node& n = *order_[index];
  // The key: every input's desc, plus the values of the host (shape-like) inputs.
  std::ostringstream key;
  for (const auto& in : inputs) {
    if (!in.present) {
      key << "_;";
      continue;
    }
    key << desc_to_string(in.desc) << ";";
  }
  for (int h : host_inputs_[index]) {
    if (h < static_cast<int>(inputs.size()) && inputs[h].host_value) {
      // The exact bytes: float host inputs (Clip bounds) must not be truncated into the key.
      const Tensor& hv = *inputs[h].host_value;
      key << "|" << dtype_name(hv.dtype()) << ":";
      key.write(static_cast<const char*>(hv.raw_data()), static_cast<std::streamsize>(hv.nbytes()));
    }
  }
  auto& slot = cache_[index][key.str()];
  if (slot) return slot.get();
  auto p = std::make_unique<Prepared>();
  // Shape arithmetic (small int64/int32/bool tensors that live on the host) stays on the host.
  // 8-bit integers are quantized data, not shapes: they go to the device like floats.
  bool all_host_ints = true;
  for (const auto& in : inputs) {
    if (!in.present) continue;
    const bool shape_like = in.desc.dtype == DType::kInt64 || in.desc.dtype == DType::kInt32 ||
                            in.desc.dtype == DType::kBool;
    if (!in.host_value || !shape_like || in.desc.numel() > 4096) all_host_ints = false;
  }
  const bool reads_shape_only =
      n.domain().empty() && (n.op_type() == "Shape" || n.op_type() == "Size");
  Support s = all_host_ints      ? Support::no("shape computation on small host tensors")
              : reads_shape_only ? Support::no("reads only the input's shape (no transfer)")
                                 : backend_->supports(n, inputs);
  if (s.ok) {
    auto k = backend_->prepare(n, inputs);
    if (k) {
      p->on_device = true;
      p->kernel = std::move(*k);
      ++kernels_prepared_;
    } else {
      p->reason = k.status().message();
      spdlog::warn("{} falls back to the CPU: {}", n.describe(), p->reason);
    }
  } else {
    p->reason = s.reason;
    if (!all_host_ints && !reads_shape_only)
      spdlog::info("{} runs on the CPU: {}", n.describe(), s.reason);
  }
  slot = std::move(p);
  return slot.get();
}

// Replaces the host-side times of device nodes with the backend's device-clock intervals. The
// device clock has its own origin, so the intervals are shifted as a whole: by the smallest
// offset that starts no interval before its node was enqueued on the host (work cannot start
// before it is enqueued), keeping their device-clock distances. A node that enqueued no device
// work (a view) gets a zero duration.
Status HybridExecutor::apply_device_timings(const std::map<int, size_t>& timed_events) {
  KILN_ASSIGN_OR_RETURN(std::vector<DeviceTiming> timings, backend_->take_timings());
  if (timings.empty()) {
    for (const auto& [node, index] : timed_events) profile_.events[index].dur_us = 0;
    return Status::ok();
  }
  uint64_t origin = UINT64_MAX;
  for (const DeviceTiming& t : timings) origin = std::min(origin, t.start_ns);
  double host_origin = 0;
  for (const DeviceTiming& t : timings) {
    auto it = timed_events.find(t.tag);
    if (it == timed_events.end()) continue;
    const double enqueued = profile_.events[it->second].start_us;
    host_origin = std::max(host_origin, enqueued - static_cast<double>(t.start_ns - origin) / 1e3);
  }
  for (const auto& [node, index] : timed_events) profile_.events[index].dur_us = 0;
  for (const DeviceTiming& t : timings) {
    auto it = timed_events.find(t.tag);
    if (it == timed_events.end()) continue;
    ProfileEvent& e = profile_.events[it->second];
    e.start_us = host_origin + static_cast<double>(t.start_ns - origin) / 1e3;
    e.dur_us = t.end_ns > t.start_ns ? static_cast<double>(t.end_ns - t.start_ns) / 1e3 : 0;
    e.device_clock = true;
  }
  return Status::ok();
}

Expected<std::vector<Tensor>> HybridExecutor::run(const std::map<std::string, Tensor>& feeds,
                                                  const cpu::NodeObserver& observer) {
  if (order_.empty() && graph_.num_nodes() > 0) KILN_RETURN_IF_ERROR(prepare());
  std::vector<Slot> slots(last_use_.size());
  std::set<std::string> known;
  for (ir::Value* in : graph_.inputs()) {
    known.insert(in->name());
    auto it = feeds.find(in->name());
    if (it == feeds.end()) return invalid_argument("missing feed for input '" + in->name() + "'");
    KILN_RETURN_IF_ERROR(cpu::check_feed(*in, it->second));
    slots[in->id()].host = it->second;
    slots[in->id()].has_host = true;
  }
  for (const auto& [name, t] : feeds)
    if (!known.count(name))
      return invalid_argument("feed '" + name + "' is not an input of the model");
  for (const ir::Value* v : graph_.initializers()) {
    if (static_cast<size_t>(v->id()) >= slots.size()) continue;
    slots[v->id()].host = v->initializer();
    slots[v->id()].has_host = true;
  }
  assignment_.assign(order_.size(), {});
  std::string signature;
  for (ir::Value* in : graph_.inputs()) {
    const Tensor& t = slots[in->id()].host;
    signature += desc_to_string({t.dtype(), t.shape()}) + ";";
  }
  auto plan_it = plans_.find(signature);
  plan_ = plan_it == plans_.end() ? nullptr : plan_it->second.get();
  recorded_.clear();
  recorded_inplace_.clear();
  alias_root_.clear();
  viewers_.clear();

  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  auto us_since_start = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - run_start).count();
  };
  // Device nodes are timed on the device clock when the backend has one, else synchronously.
  const bool device_clock = profiling_ && backend_->supports_timing();
  if (device_clock != timing_on_) {
    KILN_RETURN_IF_ERROR(backend_->set_timing(device_clock));
    timing_on_ = device_clock;
  }
  std::map<int, size_t> timed_events;  // node index -> its event in profile_.events
  if (profiling_) {
    profile_ = RunProfile();
    KILN_RETURN_IF_ERROR(backend_->finish());
    if (device_clock) (void)backend_->take_timings();  // drop anything left from earlier runs
  }
  for (size_t i = 0; i < order_.size(); ++i) {
    const ir::Node& n = *order_[i];
    step_ = i;
    const auto node_start = profiling_ ? Clock::now() : Clock::time_point();
    std::vector<InputInfo> infos(n.inputs().size());
    for (size_t k = 0; k < n.inputs().size(); ++k) {
      const ir::Value* v = n.inputs()[k];
      if (!v) {
        infos[k].present = false;
        continue;
      }
      Slot& s = slots[v->id()];
      if (!s.has_host && !s.has_dev)
        return internal_error(n.describe() + ": input '" + v->name() + "' has no value");
      bool wanted_on_host = std::find(host_inputs_[i].begin(), host_inputs_[i].end(),
                                      static_cast<int>(k)) != host_inputs_[i].end();
      if (wanted_on_host) KILN_RETURN_IF_ERROR(to_host(s));
      infos[k].desc = s.desc();
      infos[k].host_value = s.has_host ? &s.host : nullptr;
    }
    KILN_ASSIGN_OR_RETURN(Prepared * p, lookup(i, infos));
    assignment_[i] = {&n, p->on_device, p->reason};

    std::vector<Tensor> host_outputs;
    if (p->on_device) {
      std::vector<DeviceTensor> ins(n.inputs().size());
      for (size_t k = 0; k < n.inputs().size(); ++k) {
        const ir::Value* v = n.inputs()[k];
        if (!v) continue;
        bool host_only = std::find(host_inputs_[i].begin(), host_inputs_[i].end(),
                                   static_cast<int>(k)) != host_inputs_[i].end();
        if (host_only) continue;
        KILN_ASSIGN_OR_RETURN(ins[k], to_device(v, slots[v->id()]));
      }
      // One tensor per kernel output, then the scratch when the kernel wants one.
      const auto& descs = p->kernel->output_descs();
      std::vector<DeviceTensor> outs(descs.size());
      std::vector<int> overwritten;  // inputs whose bytes an output took
      for (size_t o = 0; o < descs.size(); ++o) {
        outs[o].desc = descs[o];
        const ir::Value* ov = o < n.outputs().size() ? n.outputs()[o] : nullptr;
        const int a = p->kernel->alias_of(o);
        if (a >= 0 && static_cast<size_t>(a) < ins.size()) {
          outs[o].buffer = ins[a].buffer;
          outs[o].offset = ins[a].offset;
          const ir::Value* src = n.inputs()[a];
          if (src && ov) add_view(ov->id(), src->id());
          continue;
        }
        const int k = p->kernel->inplace_of(o);
        if (ov && k >= 0 && inplace_on_ && (!plan_ || plan_->inplace.count(ov->id())) &&
            can_overwrite(i, k, ins, descs[o], overwritten)) {
          overwritten.push_back(k);
          outs[o].buffer = ins[k].buffer;
          outs[o].offset = ins[k].offset;
          // Every earlier viewer of these bytes is dead from here on (can_overwrite checked
          // it): forget them, so chains of in-place ops check in constant time.
          const int src = n.inputs()[k]->id();
          auto root = alias_root_.find(src);
          viewers_[root == alias_root_.end() ? src : root->second].clear();
          add_view(ov->id(), src);
          if (!plan_) recorded_inplace_.push_back(ov->id());
          continue;
        }
        auto b = allocate_value(ov, descs[o]);
        if (!b) return b.status().with_context(n.describe());
        outs[o].buffer = std::move(b->buffer);
        outs[o].offset = b->offset;
      }
      if (const size_t scratch = p->kernel->scratch_bytes(); scratch > 0) {
        auto b = allocate_keyed(scratch_key(i),
                                TensorDesc{DType::kUInt8, {static_cast<int64_t>(scratch)}});
        if (!b) return b.status().with_context(n.describe() + " (scratch)");
        outs.push_back(std::move(*b));
      }
      if (device_clock) backend_->mark_begin(static_cast<int>(i));
      Status st = p->kernel->enqueue(ins, outs);
      if (device_clock) backend_->mark_end(static_cast<int>(i));
      if (!st.is_ok()) return st.with_context(n.describe());
      if (profiling_) {
        if (device_clock)
          timed_events[static_cast<int>(i)] = profile_.events.size();
        else
          KILN_RETURN_IF_ERROR(backend_->finish().with_context(n.describe()));
        const double start = us_since_start(node_start);
        ProfileEvent e = make_event(n, {}, {}, start, us_since_start(Clock::now()) - start);
        e.kernel = p->kernel->name();
        e.track = backend_->name();
        std::vector<Shape> in_shapes, out_shapes;
        for (const DeviceTensor& t : ins) {
          in_shapes.push_back(t.desc.shape);
          e.bytes += static_cast<double>(t.buffer ? t.desc.nbytes() : 0);
        }
        for (size_t o = 0; o < descs.size(); ++o) {
          out_shapes.push_back(outs[o].desc.shape);
          e.bytes += static_cast<double>(outs[o].desc.nbytes());
        }
        e.flops = node_flops(n, in_shapes, out_shapes);
        profile_.events.push_back(std::move(e));
      }
      for (size_t o = 0; o < n.outputs().size(); ++o) {
        const ir::Value* v = n.outputs()[o];
        if (!v || o >= descs.size()) continue;
        Slot& s = slots[v->id()];
        s = Slot();
        s.dev = outs[o];
        s.has_dev = true;
      }
      if (observer) {
        for (size_t o = 0; o < n.outputs().size(); ++o) {
          const ir::Value* v = n.outputs()[o];
          if (!v || o >= descs.size()) {
            host_outputs.emplace_back();
            continue;
          }
          KILN_RETURN_IF_ERROR(to_host(slots[v->id()]));
          host_outputs.push_back(slots[v->id()].host);
        }
      }
    } else {
      std::vector<const Tensor*> ins(n.inputs().size(), nullptr);
      // Shape and Size read only the input's shape: a device tensor is not downloaded for them.
      const bool shape_only =
          n.domain().empty() && (n.op_type() == "Shape" || n.op_type() == "Size");
      std::vector<Tensor> shape_views(n.inputs().size());
      for (size_t k = 0; k < n.inputs().size(); ++k) {
        const ir::Value* v = n.inputs()[k];
        if (!v) continue;
        Slot& s = slots[v->id()];
        if (shape_only && !s.has_host && s.has_dev) {
          shape_views[k] = Tensor::wrap(s.dev.desc.dtype, s.dev.desc.shape, nullptr, 0);
          ins[k] = &shape_views[k];
          continue;
        }
        KILN_RETURN_IF_ERROR(to_host(s));
        ins[k] = &s.host;
      }
      cpu::OpContext ctx(n, ins, pool_.get());
      Status st;
      try {
        st = cpu_kernels_[i](ctx);
      } catch (const std::bad_alloc&) {
        st = out_of_memory(n.describe() + ": out of memory");
      }
      if (st.is_ok() && !ctx.attr_error().is_ok()) st = ctx.attr_error();
      if (!st.is_ok()) return st;
      for (size_t o = 0; o < n.outputs().size(); ++o) {
        const ir::Value* v = n.outputs()[o];
        if (!v) continue;
        if (!ctx.outputs()[o].defined())
          return internal_error(n.describe() + ": output " + std::to_string(o) +
                                " was not produced");
        Slot& s = slots[v->id()];
        s = Slot();
        s.host = ctx.outputs()[o];
        s.has_host = true;
      }
      host_outputs = ctx.outputs();
      if (profiling_) {
        const double start = us_since_start(node_start);
        std::vector<const Tensor*> outs;
        for (const Tensor& t : ctx.outputs()) outs.push_back(t.defined() ? &t : nullptr);
        profile_.events.push_back(
            make_event(n, ins, outs, start, us_since_start(Clock::now()) - start));
      }
    }
    if (observer) observer(n, host_outputs);
    for (ir::Value* v : n.inputs())
      if (v && !v->is_initializer() && last_use_[v->id()] == static_cast<int>(i))
        slots[v->id()] = Slot();
    for (ir::Value* v : n.outputs())
      if (v && last_use_[v->id()] < static_cast<int>(i)) slots[v->id()] = Slot();
  }
  std::vector<Tensor> out;
  for (ir::Value* v : graph_.outputs()) {
    Slot& s = slots[v->id()];
    KILN_RETURN_IF_ERROR(to_host(s));
    out.push_back(s.host);
  }
  KILN_RETURN_IF_ERROR(backend_->finish());
  if (profiling_) profile_.run_us = us_since_start(Clock::now());
  if (device_clock) KILN_RETURN_IF_ERROR(apply_device_timings(timed_events));
  if (!plan_) KILN_RETURN_IF_ERROR(build_plan(signature));
  return out;
}

}  // namespace kiln::device
