// CPU reference kernel: Einsum (opset 12+). Parses and validates the equation (explicit or
// implicit output, repeated labels / diagonals, ellipsis with numpy broadcasting), then sums
// products over the contracted labels for every output element.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

namespace {

constexpr int kNumLetters = 52;  // a-z, A-Z

int letter_id(char ch) {
  if (ch >= 'a' && ch <= 'z') return ch - 'a';
  if (ch >= 'A' && ch <= 'Z') return 26 + (ch - 'A');
  return -1;
}

// One term of the equation: label ids in order; -1 marks where the ellipsis sits.
struct Term {
  std::vector<int> labels;
  bool has_ellipsis = false;
  int num_letters() const { return static_cast<int>(labels.size()) - (has_ellipsis ? 1 : 0); }
};

Expected<Term> parse_term(const std::string& s, const std::string& where) {
  Term t;
  for (size_t i = 0; i < s.size();) {
    const char ch = s[i];
    if (ch == '.') {
      if (s.compare(i, 3, "...") != 0)
        return invalid_argument(where + ": '.' must be part of an ellipsis '...'");
      if (t.has_ellipsis) return invalid_argument(where + ": more than one ellipsis");
      t.has_ellipsis = true;
      t.labels.push_back(-1);
      i += 3;
      continue;
    }
    const int id = letter_id(ch);
    if (id < 0)
      return invalid_argument(where + ": invalid character '" + std::string(1, ch) +
                              "' (labels are letters a-z, A-Z)");
    t.labels.push_back(id);
    ++i;
  }
  return t;
}

// The parsed equation with every label (letters and ellipsis dims) resolved to an id: letters
// are 0..51, the broadcast ellipsis dims are 52.. (left to right).
struct EinsumPlan {
  int num_ellipsis = 0;                       // broadcast rank of the ellipsis
  std::vector<int64_t> size;                  // per label id; -1: unused
  std::vector<std::vector<int64_t>> strides;  // per input, per label id (0: absent/broadcast)
  std::vector<int> out_labels, sum_labels;
  Shape out_shape;
};

Expected<EinsumPlan> plan_einsum(const std::string& equation,
                                 const std::vector<const Tensor*>& in) {
  std::string eq;
  for (char ch : equation)
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') eq += ch;
  const std::string bad = "equation '" + equation + "'";
  std::string lhs = eq, rhs;
  const size_t arrow = eq.find("->");
  const bool explicit_out = arrow != std::string::npos;
  if (explicit_out) {
    lhs = eq.substr(0, arrow);
    rhs = eq.substr(arrow + 2);
    if (rhs.find("->") != std::string::npos || rhs.find('-') != std::string::npos ||
        rhs.find('>') != std::string::npos)
      return invalid_argument(bad + " has more than one '->'");
    if (rhs.find(',') != std::string::npos)
      return invalid_argument(bad + ": the output term must not contain ','");
  }
  if (lhs.find('-') != std::string::npos || lhs.find('>') != std::string::npos)
    return invalid_argument(bad + ": '-' and '>' may only appear as '->'");
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    const std::string part =
        lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    KILN_ASSIGN_OR_RETURN(Term t,
                          parse_term(part, bad + " input term " + std::to_string(terms.size())));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != in.size())
    return invalid_argument(bad + " has " + std::to_string(terms.size()) +
                            " input terms but the node has " + std::to_string(in.size()) +
                            " inputs");

  EinsumPlan p;
  // Ellipsis ranks.
  std::vector<int> ell_rank(in.size(), 0);
  for (size_t i = 0; i < in.size(); ++i) {
    const int rank = in[i]->rank(), letters = terms[i].num_letters();
    if (terms[i].has_ellipsis) {
      if (rank < letters)
        return invalid_argument(bad + ": input " + std::to_string(i) + " has rank " +
                                std::to_string(rank) + ", fewer than its " +
                                std::to_string(letters) + " labels");
      ell_rank[i] = rank - letters;
    } else if (rank != letters) {
      return invalid_argument(bad + ": input " + std::to_string(i) + " has rank " +
                              std::to_string(rank) + " but its term has " +
                              std::to_string(letters) + " labels");
    }
    p.num_ellipsis = std::max(p.num_ellipsis, ell_rank[i]);
  }
  const int num_ids = kNumLetters + p.num_ellipsis;
  p.size.assign(num_ids, -1);
  p.strides.assign(in.size(), std::vector<int64_t>(num_ids, 0));

  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& shape = in[i]->shape();
    const std::vector<int64_t> st = strides_of(shape);
    std::vector<int64_t> local(num_ids, -1);  // the label's dim in this input
    int axis = 0;
    for (int label : terms[i].labels) {
      std::vector<int> ids;
      if (label < 0) {
        for (int e = 0; e < ell_rank[i]; ++e)
          ids.push_back(kNumLetters + p.num_ellipsis - ell_rank[i] + e);
      } else {
        ids.push_back(label);
      }
      for (int id : ids) {
        const int64_t d = shape[axis];
        if (local[id] >= 0 && local[id] != d)
          return invalid_argument(bad + ": input " + std::to_string(i) +
                                  " repeats a label over dims of different sizes (" +
                                  std::to_string(local[id]) + " and " + std::to_string(d) + ")");
        local[id] = d;
        p.strides[i][id] += st[axis];
        ++axis;
      }
    }
    for (int id = 0; id < num_ids; ++id) {
      if (local[id] < 0) continue;
      int64_t& g = p.size[id];
      if (g < 0 || g == 1) {
        g = local[id];
      } else if (local[id] != g && local[id] != 1) {
        return invalid_argument(bad + ": dimension sizes " + std::to_string(g) + " and " +
                                std::to_string(local[id]) + " for the same label do not match");
      }
    }
  }
  // Broadcast size-1 dims: a dim of 1 seen through a larger label size has stride 0.
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& shape = in[i]->shape();
    int axis = 0;
    for (int label : terms[i].labels) {
      const int n = label < 0 ? ell_rank[i] : 1;
      for (int e = 0; e < n; ++e, ++axis) {
        const int id = label < 0 ? kNumLetters + p.num_ellipsis - ell_rank[i] + e : label;
        if (shape[axis] == 1 && p.size[id] != 1) p.strides[i][id] = 0;
      }
    }
  }

  // Output labels.
  std::vector<bool> in_out(num_ids, false);
  if (explicit_out) {
    KILN_ASSIGN_OR_RETURN(Term out, parse_term(rhs, bad + " output term"));
    for (int label : out.labels) {
      if (label < 0) {
        for (int e = 0; e < p.num_ellipsis; ++e) {
          p.out_labels.push_back(kNumLetters + e);
          in_out[kNumLetters + e] = true;
        }
        continue;
      }
      if (p.size[label] < 0)
        return invalid_argument(
            bad + ": output label '" +
            std::string(1, label < 26 ? char('a' + label) : char('A' + label - 26)) +
            "' does not appear in any input");
      if (in_out[label])
        return invalid_argument(
            bad + ": output label '" +
            std::string(1, label < 26 ? char('a' + label) : char('A' + label - 26)) +
            "' appears more than once");
      in_out[label] = true;
      p.out_labels.push_back(label);
    }
  } else {
    for (int e = 0; e < p.num_ellipsis; ++e) {
      p.out_labels.push_back(kNumLetters + e);
      in_out[kNumLetters + e] = true;
    }
    // Letters used exactly once over all terms (a label repeated within one term is summed),
    // in increasing ASCII order: A-Z, then a-z.
    std::vector<int> occurrences(kNumLetters, 0);
    for (const Term& t : terms)
      for (int label : t.labels)
        if (label >= 0) ++occurrences[label];
    for (int k = 0; k < kNumLetters; ++k) {
      const int id = (k + 26) % kNumLetters;
      if (occurrences[id] == 1) {
        p.out_labels.push_back(id);
        in_out[id] = true;
      }
    }
  }
  for (int id = 0; id < num_ids; ++id)
    if (p.size[id] >= 0 && !in_out[id]) p.sum_labels.push_back(id);
  for (int id : p.out_labels) p.out_shape.push_back(p.size[id]);
  return p;
}

template <typename T>
using einsum_acc_t = std::conditional_t<std::is_integral_v<T>, uint64_t, compute_t<T>>;

template <typename T>
void einsum_typed(const OpContext& ctx, const EinsumPlan& p, const std::vector<const Tensor*>& in,
                  Tensor& y) {
  using Acc = einsum_acc_t<T>;
  const size_t n_in = in.size();
  std::vector<const T*> data(n_in);
  for (size_t i = 0; i < n_in; ++i) data[i] = in[i]->data<T>();
  const size_t n_out = p.out_labels.size(), n_sum = p.sum_labels.size();
  // Per-input strides of the output and summed labels.
  std::vector<std::vector<int64_t>> out_st(n_in, std::vector<int64_t>(n_out)),
      sum_st(n_in, std::vector<int64_t>(n_sum));
  std::vector<int64_t> sum_size(n_sum);
  int64_t sum_total = 1;
  for (size_t j = 0; j < n_sum; ++j) {
    sum_size[j] = p.size[p.sum_labels[j]];
    sum_total *= sum_size[j];
  }
  for (size_t i = 0; i < n_in; ++i) {
    for (size_t j = 0; j < n_out; ++j) out_st[i][j] = p.strides[i][p.out_labels[j]];
    for (size_t j = 0; j < n_sum; ++j) sum_st[i][j] = p.strides[i][p.sum_labels[j]];
  }
  T* yd = y.data<T>();
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, sum_total));
  ctx.parallel_for(y.numel(), grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> base(n_in), off(n_in), idx(n_sum);
    for (int64_t o = begin; o < end; ++o) {
      std::fill(base.begin(), base.end(), 0);
      int64_t rem = o;
      for (int64_t j = static_cast<int64_t>(n_out) - 1; j >= 0; --j) {
        const int64_t d = p.out_shape[j];
        const int64_t c = rem % d;
        rem /= d;
        for (size_t i = 0; i < n_in; ++i) base[i] += c * out_st[i][j];
      }
      Acc acc = Acc(0);
      if (sum_total > 0) {
        off = base;
        std::fill(idx.begin(), idx.end(), 0);
        for (int64_t s = 0; s < sum_total; ++s) {
          Acc prod = static_cast<Acc>(to_compute(data[0][off[0]]));
          for (size_t i = 1; i < n_in; ++i) prod *= static_cast<Acc>(to_compute(data[i][off[i]]));
          acc += prod;
          for (int64_t j = static_cast<int64_t>(n_sum) - 1; j >= 0; --j) {
            if (++idx[j] < sum_size[j]) {
              for (size_t i = 0; i < n_in; ++i) off[i] += sum_st[i][j];
              break;
            }
            for (size_t i = 0; i < n_in; ++i) off[i] -= sum_st[i][j] * (sum_size[j] - 1);
            idx[j] = 0;
          }
        }
      }
      if constexpr (std::is_integral_v<T>)
        yd[o] = static_cast<T>(acc);
      else
        yd[o] = from_compute<T>(acc);
    }
  });
}

}  // namespace

Status einsum_kernel(OpContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.invalid("needs at least one input");
  std::vector<const Tensor*> in;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    in.push_back(&ctx.input(i));
    if (in[i]->dtype() != in[0]->dtype()) return ctx.invalid("all inputs must have the same dtype");
  }
  if (!ctx.has_attr("equation")) return ctx.invalid("attribute 'equation' is required");
  const std::string equation = ctx.attr_string("equation", "");
  auto plan = plan_einsum(equation, in);
  if (!plan) return ctx.invalid(plan.status().message());
  int64_t work = 1;
  for (int id : plan->sum_labels)
    if (__builtin_mul_overflow(work, plan->size[id], &work))
      return ctx.unsupported_here("the contraction is too large");
  int64_t out_numel = 0;
  {
    auto n = checked_numel(plan->out_shape);
    if (!n) return ctx.invalid(n.status().message());
    out_numel = *n;
  }
  if (__builtin_mul_overflow(work, out_numel, &work))
    return ctx.unsupported_here("the contraction is too large");
  const DType dt = in[0]->dtype();
  Status st;
  bool typed = false;
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      typed = true;
      auto y = ctx.allocate_output(0, dt, plan->out_shape);
      if (!y) {
        st = y.status();
        return;
      }
      if ((*y)->numel() > 0) einsum_typed<T>(ctx, *plan, in, **y);
    }
  });
  if (!typed)
    return ctx.unsupported_here(std::string("Einsum on ") + dtype_name(dt) + " is not supported");
  return st;
}

}  // namespace kiln::cpu
