#include "runtime/cpu/executor.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include <set>

namespace kiln::cpu {

Executor::Executor(const ir::Graph& graph, int threads)
    : graph_(graph), pool_(std::make_unique<ThreadPool>(threads)) {}

Status Executor::prepare() {
  order_ = graph_.nodes();
  kernels_.assign(order_.size(), nullptr);
  std::string missing;
  int n_missing = 0;
  const KernelRegistry& reg = cpu_registry();
  for (size_t i = 0; i < order_.size(); ++i) {
    const ir::Node& n = *order_[i];
    kernels_[i] = reg.find(n.domain(), n.op_type(), n.opset());
    if (!kernels_[i]) {
      if (n_missing++ < 5) {
        if (!missing.empty()) missing += "; ";
        missing += n.describe();
        missing += reg.has_op(n.domain(), n.op_type())
                       ? " is not supported at opset " + std::to_string(n.opset())
                       : " is not a supported op";
      }
    }
  }
  if (n_missing)
    return unsupported(
        missing + (n_missing > 5 ? " (and " + std::to_string(n_missing - 5) + " more nodes)" : ""));
  size_t nv = 0;
  for (ir::Node* n : order_) {
    for (ir::Value* v : n->inputs())
      if (v) nv = std::max<size_t>(nv, v->id() + 1);
    for (ir::Value* v : n->outputs())
      if (v) nv = std::max<size_t>(nv, v->id() + 1);
  }
  for (ir::Value* v : graph_.inputs()) nv = std::max<size_t>(nv, v->id() + 1);
  for (ir::Value* v : graph_.outputs()) nv = std::max<size_t>(nv, v->id() + 1);
  last_use_.assign(nv, -1);
  for (size_t i = 0; i < order_.size(); ++i)
    for (ir::Value* v : order_[i]->inputs())
      if (v) last_use_[v->id()] = static_cast<int>(i);
  for (ir::Value* v : graph_.outputs()) last_use_[v->id()] = INT_MAX;
  prepared_ = true;
  return Status::ok();
}

Status check_feed(const ir::Value& input, const Tensor& feed) {
  const ir::ValueInfo& info = input.info();
  const std::string what = "input '" + input.name() + "'";
  if (!feed.defined()) return invalid_argument(what + ": no tensor given");
  if (info.dtype != DType::kUndefined && feed.dtype() != info.dtype)
    return invalid_argument(what + " expects dtype " + dtype_name(info.dtype) +
                            " but the feed is " + dtype_name(feed.dtype()));
  if (info.has_shape) {
    if (static_cast<size_t>(feed.rank()) != info.dims.size())
      return invalid_argument(what + " expects shape " + info.to_string() + " (rank " +
                              std::to_string(info.dims.size()) + ") but the feed has shape " +
                              shape_to_string(feed.shape()));
    for (size_t d = 0; d < info.dims.size(); ++d)
      if (info.dims[d].known() && info.dims[d].value != feed.shape()[d])
        return invalid_argument(what + " expects shape " + info.to_string() +
                                " but the feed has shape " + shape_to_string(feed.shape()));
  }
  return Status::ok();
}

Expected<std::vector<Tensor>> Executor::run(const std::map<std::string, Tensor>& feeds,
                                            const NodeObserver& observer) {
  if (!prepared_) KILN_RETURN_IF_ERROR(prepare());
  std::vector<Tensor> values(last_use_.size());
  std::set<std::string> known;
  for (ir::Value* in : graph_.inputs()) {
    known.insert(in->name());
    auto it = feeds.find(in->name());
    if (it == feeds.end()) return invalid_argument("missing feed for input '" + in->name() + "'");
    KILN_RETURN_IF_ERROR(check_feed(*in, it->second));
    values[in->id()] = it->second;
  }
  for (const auto& [name, t] : feeds)
    if (!known.count(name)) {
      std::string names;
      for (ir::Value* in : graph_.inputs()) names += (names.empty() ? "" : ", ") + in->name();
      return invalid_argument("feed '" + name + "' is not an input of the model (inputs: " + names +
                              ")");
    }

  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  auto us_since_start = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - run_start).count();
  };
  if (profiling_) profile_ = RunProfile();
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < order_.size(); ++i) {
    const ir::Node& n = *order_[i];
    ins.clear();
    for (ir::Value* v : n.inputs()) {
      if (!v) {
        ins.push_back(nullptr);
      } else if (v->is_initializer()) {
        ins.push_back(&v->initializer());
      } else {
        const Tensor& t = values[v->id()];
        if (!t.defined())
          return internal_error(n.describe() + ": input '" + v->name() + "' has no value");
        ins.push_back(&t);
      }
    }
    OpContext ctx(n, ins, pool_.get());
    Status st;
    const auto node_start = profiling_ ? Clock::now() : Clock::time_point();
    try {
      st = kernels_[i](ctx);
    } catch (const std::bad_alloc&) {
      st = out_of_memory(n.describe() + ": out of memory");
    } catch (const std::exception& e) {
      st = internal_error(n.describe() + ": " + e.what());
    }
    if (st.is_ok() && !ctx.attr_error().is_ok()) st = ctx.attr_error();
    if (!st.is_ok()) return st;
    for (size_t o = 0; o < n.outputs().size(); ++o) {
      ir::Value* v = n.outputs()[o];
      if (!v) continue;
      if (!ctx.outputs()[o].defined())
        return internal_error(n.describe() + ": output " + std::to_string(o) + " '" + v->name() +
                              "' was not produced");
      values[v->id()] = ctx.outputs()[o];
    }
    if (profiling_) {
      const double start = us_since_start(node_start);
      std::vector<const Tensor*> outs;
      for (const Tensor& t : ctx.outputs()) outs.push_back(t.defined() ? &t : nullptr);
      profile_.events.push_back(
          make_event(n, ins, outs, start, us_since_start(Clock::now()) - start));
    }
    if (observer) observer(n, ctx.outputs());
    // Free values whose last reader was this node.
    for (ir::Value* v : n.inputs())
      if (v && !v->is_initializer() && last_use_[v->id()] == static_cast<int>(i))
        values[v->id()] = Tensor();
    for (ir::Value* v : n.outputs())
      if (v && last_use_[v->id()] < static_cast<int>(i)) values[v->id()] = Tensor();
  }
  if (profiling_) profile_.run_us = us_since_start(Clock::now());
  std::vector<Tensor> out;
  for (ir::Value* v : graph_.outputs()) {
    if (v->is_initializer()) {
      out.push_back(v->initializer());
    } else {
      if (!values[v->id()].defined())
        return internal_error("graph output '" + v->name() + "' has no value");
      out.push_back(values[v->id()]);
    }
  }
  return out;
}

}  // namespace kiln::cpu
