#include "graph/ir/graph.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace kiln::ir {

std::string ValueInfo::to_string() const {
  std::ostringstream os;
  os << dtype_name(dtype);
  if (!has_shape) return os.str() + "[?]";
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) os << ", ";
    if (dims[i].known())
      os << dims[i].value;
    else
      os << (dims[i].param.empty() ? "?" : dims[i].param);
  }
  os << "]";
  return os.str();
}

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::kFloat:
      return "float";
    case AttrType::kInt:
      return "int";
    case AttrType::kString:
      return "string";
    case AttrType::kTensor:
      return "tensor";
    case AttrType::kGraph:
      return "graph";
    case AttrType::kFloats:
      return "floats";
    case AttrType::kInts:
      return "ints";
    case AttrType::kStrings:
      return "strings";
    case AttrType::kTensors:
      return "tensors";
  }
  return "unknown";
}

const Attribute* Node::attr(const std::string& name) const {
  auto it = attrs_.find(name);
  return it == attrs_.end() ? nullptr : &it->second;
}

std::string Node::describe() const {
  std::string d = domain_.empty() ? op_type_ : domain_ + "." + op_type_;
  return "node '" + name_ + "' (" + d + ")";
}

Expected<Value*> Graph::add_value(const std::string& name, ValueInfo info) {
  if (name.empty()) return invalid_model("a value has an empty name");
  if (by_name_.count(name)) return invalid_model("value '" + name + "' is defined twice");
  auto v = std::make_unique<Value>();
  v->id_ = next_value_id_++;
  v->name_ = name;
  v->info_ = std::move(info);
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_[name] = raw;
  return raw;
}

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Expected<Value*> Graph::add_initializer(const std::string& name, Tensor t) {
  ValueInfo info;
  info.dtype = t.dtype();
  info.has_shape = true;
  for (int64_t d : t.shape()) info.dims.push_back(Dim{d, ""});
  KILN_ASSIGN_OR_RETURN(Value * v, add_value(name, info));
  v->initializer_ = std::move(t);
  return v;
}

void Graph::set_initializer(Value* v, Tensor t) {
  v->info_.dtype = t.dtype();
  v->info_.has_shape = true;
  v->info_.dims.clear();
  for (int64_t d : t.shape()) v->info_.dims.push_back(Dim{d, ""});
  v->initializer_ = std::move(t);
}

void Graph::add_input(Value* v) {
  v->is_graph_input_ = true;
  inputs_.push_back(v);
}

void Graph::add_output(Value* v) {
  v->is_graph_output_ = true;
  outputs_.push_back(v);
}

std::vector<Value*> Graph::initializers() const {
  std::vector<Value*> out;
  for (const auto& v : values_)
    if (v->is_initializer()) out.push_back(v.get());
  return out;
}

std::string Graph::unique_name(const std::string& base) {
  std::string n = base;
  while (by_name_.count(n)) n = base + "_" + std::to_string(unique_counter_++);
  return n;
}

Expected<Node*> Graph::add_node(const std::string& op_type, const std::string& domain,
                                const std::vector<Value*>& inputs,
                                const std::vector<Value*>& outputs, const std::string& name) {
  auto n = std::make_unique<Node>();
  n->id_ = next_node_id_++;
  n->name_ = name.empty() ? op_type + "_" + std::to_string(n->id_) : name;
  n->op_type_ = op_type;
  n->domain_ = normalize_domain(domain);
  n->opset_ = opset(n->domain_);
  for (Value* o : outputs) {
    if (o == nullptr) continue;
    if (o->producer_ || o->is_graph_input_ || o->is_initializer())
      return invalid_model(n->describe() + ": output '" + o->name() + "' already has a producer");
  }
  n->inputs_ = inputs;
  n->outputs_ = outputs;
  Node* raw = n.get();
  for (Value* i : inputs)
    if (i) i->users_.push_back(raw);
  for (Value* o : outputs)
    if (o) o->producer_ = raw;
  nodes_.push_back(std::move(n));
  return raw;
}

void Graph::remove_node(Node* n) {
  for (Value* i : n->inputs_) {
    if (!i) continue;
    auto& u = i->users_;
    auto it = std::find(u.begin(), u.end(), n);
    if (it != u.end()) u.erase(it);
  }
  for (Value* o : n->outputs_)
    if (o && o->producer_ == n) o->producer_ = nullptr;
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                              [n](const std::unique_ptr<Node>& p) { return p.get() == n; }),
               nodes_.end());
}

void Graph::set_node_input(Node* n, size_t i, Value* v) {
  if (i >= n->inputs_.size()) n->inputs_.resize(i + 1, nullptr);
  Value* old = n->inputs_[i];
  if (old) {
    auto& u = old->users_;
    auto it = std::find(u.begin(), u.end(), n);
    if (it != u.end()) u.erase(it);
  }
  n->inputs_[i] = v;
  if (v) v->users_.push_back(n);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  std::vector<Node*> users = from->users_;
  for (Node* n : users)
    for (size_t i = 0; i < n->inputs_.size(); ++i)
      if (n->inputs_[i] == from) set_node_input(n, i, to);
  for (auto& o : outputs_) {
    if (o == from) {
      o = to;
      to->is_graph_output_ = true;
      from->is_graph_output_ = false;
    }
  }
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

int Graph::opset(const std::string& domain) const {
  auto it = opsets_.find(normalize_domain(domain));
  return it == opsets_.end() ? 0 : it->second;
}

Status Graph::topo_sort() {
  // Kahn's algorithm, stable with respect to the current order.
  std::map<Node*, size_t> pending;
  std::map<Node*, size_t> position;
  for (size_t i = 0; i < nodes_.size(); ++i) position[nodes_[i].get()] = i;
  for (const auto& n : nodes_) {
    size_t c = 0;
    for (Value* v : n->inputs_)
      if (v && v->producer_) ++c;
    pending[n.get()] = c;
  }
  std::set<std::pair<size_t, Node*>> ready;
  for (const auto& n : nodes_)
    if (pending[n.get()] == 0) ready.insert({position[n.get()], n.get()});
  std::vector<Node*> order;
  while (!ready.empty()) {
    Node* n = ready.begin()->second;
    ready.erase(ready.begin());
    order.push_back(n);
    for (Value* o : n->outputs_) {
      if (!o) continue;
      std::set<Node*> seen;  // a user may consume the same value several times
      for (Node* u : o->users_) {
        if (!seen.insert(u).second) continue;
        size_t uses = std::count(u->inputs_.begin(), u->inputs_.end(), o);
        pending[u] -= uses;
        if (pending[u] == 0) ready.insert({position[u], u});
      }
    }
  }
  if (order.size() != nodes_.size()) {
    for (const auto& n : nodes_)
      if (pending[n.get()] != 0)
        return invalid_model("the graph has a cycle through " + n->describe());
  }
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(nodes_.size());
  std::map<Node*, std::unique_ptr<Node>*> owner;
  for (auto& n : nodes_) owner[n.get()] = &n;
  for (Node* n : order) sorted.push_back(std::move(*owner[n]));
  nodes_ = std::move(sorted);
  return Status::ok();
}

Status Graph::verify() const {
  std::set<const Value*> defined;
  for (Value* v : inputs_) defined.insert(v);
  for (const auto& v : values_) {
    if (v->is_initializer()) {
      defined.insert(v.get());
      if (v->info_.dtype != v->initializer_.dtype())
        return invalid_model("initializer '" + v->name_ + "' dtype differs from its value info");
    }
  }
  std::set<const Value*> produced;
  for (const auto& n : nodes_) {
    for (size_t i = 0; i < n->inputs_.size(); ++i) {
      Value* v = n->inputs_[i];
      if (!v) continue;
      if (!defined.count(v)) {
        if (v->producer_)
          return invalid_model(n->describe() + " uses '" + v->name_ +
                               "' before it is produced (the graph has a cycle or is unsorted)");
        return invalid_model(n->describe() + " input " + std::to_string(i) + " '" + v->name_ +
                             "' is not a graph input, an initializer, or a node output");
      }
      if (std::find(v->users_.begin(), v->users_.end(), n.get()) == v->users_.end())
        return internal_error("value '" + v->name_ + "' does not list its user " + n->describe());
    }
    for (Value* o : n->outputs_) {
      if (!o) continue;
      if (o->producer_ != n.get())
        return internal_error("value '" + o->name_ + "' does not name its producer");
      if (!produced.insert(o).second || o->is_graph_input_ || o->is_initializer())
        return invalid_model("value '" + o->name_ + "' has more than one producer");
      defined.insert(o);
    }
  }
  for (Value* o : outputs_)
    if (!defined.count(o))
      return invalid_model("graph output '" + o->name_ + "' is never produced");
  return Status::ok();
}

std::string Graph::dump() const {
  std::ostringstream os;
  os << "graph " << (name.empty() ? "(unnamed)" : name) << " {\n";
  for (Value* v : inputs_)
    os << "  input  %" << v->name() << " : " << v->info().to_string() << "\n";
  for (const auto& v : values_)
    if (v->is_initializer())
      os << "  const  %" << v->name() << " : " << v->info().to_string() << "\n";
  for (const auto& n : nodes_) {
    os << "  ";
    for (size_t i = 0; i < n->outputs_.size(); ++i)
      os << (i ? ", " : "") << (n->outputs_[i] ? "%" + n->outputs_[i]->name() : "_");
    os << " = " << (n->domain_.empty() ? "" : n->domain_ + ".") << n->op_type_ << "(";
    for (size_t i = 0; i < n->inputs_.size(); ++i)
      os << (i ? ", " : "") << (n->inputs_[i] ? "%" + n->inputs_[i]->name() : "_");
    os << ")";
    if (!n->attrs_.empty()) {
      os << " {";
      bool first = true;
      for (const auto& [k, a] : n->attrs_) {
        os << (first ? "" : ", ") << k << "=";
        first = false;
        switch (a.type) {
          case AttrType::kFloat:
            os << a.f;
            break;
          case AttrType::kInt:
            os << a.i;
            break;
          case AttrType::kString:
            os << '"' << a.s << '"';
            break;
          case AttrType::kInts:
            os << "[";
            for (size_t i = 0; i < a.ints.size(); ++i) os << (i ? "," : "") << a.ints[i];
            os << "]";
            break;
          case AttrType::kFloats:
            os << "[";
            for (size_t i = 0; i < a.floats.size(); ++i) os << (i ? "," : "") << a.floats[i];
            os << "]";
            break;
          default:
            os << "<" << attr_type_name(a.type) << ">";
            break;
        }
      }
      os << "}";
    }
    os << "  # " << n->name_ << "\n";
  }
  for (Value* v : outputs_)
    os << "  output %" << v->name() << " : " << v->info().to_string() << "\n";
  os << "}\n";
  return os.str();
}

}  // namespace kiln::ir
