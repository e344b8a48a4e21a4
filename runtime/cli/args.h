// A small command-line parser shared by the kiln subcommands: positionals, `--opt VALUE`,
// `--opt=VALUE`, repeatable options and boolean flags. Unknown options are usage errors.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace kiln::cli {

class Args {
 public:
  // `value_opts`: options that take a value; `flags`: boolean options (all without "--").
  Args(std::set<std::string> value_opts, std::set<std::string> flags)
      : value_opts_(std::move(value_opts)), flags_(std::move(flags)) {}

  // Parses argv[first..argc). Returns false and sets error() on a usage error.
  bool parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i) positional_.push_back(argv[i]);
        break;
      }
      if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
        std::string name = a.substr(2), value;
        bool has_value = false;
        auto eq = name.find('=');
        if (eq != std::string::npos) {
          value = name.substr(eq + 1);
          name = name.substr(0, eq);
          has_value = true;
        }
        if (flags_.count(name)) {
          if (has_value) return fail("option --" + name + " takes no value");
          set_flags_.insert(name);
        } else if (value_opts_.count(name)) {
          if (!has_value) {
            if (i + 1 >= argc) return fail("option --" + name + " needs a value");
            value = argv[++i];
          }
          values_[name].push_back(value);
        } else {
          return fail("unknown option --" + name);
        }
      } else if (a.size() > 1 && a[0] == '-' && a != "-") {
        if (a == "-h") {
          set_flags_.insert("help");
          continue;
        }
        return fail("unknown option " + a);
      } else {
        positional_.push_back(a);
      }
    }
    return true;
  }

  const std::string& error() const { return error_; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool flag(const std::string& name) const { return set_flags_.count(name) > 0; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value given for the option, or `def`.
  std::string get(const std::string& name, const std::string& def = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second.back();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  // Parses an integer option; false (and error()) when it is not one.
  bool get_int(const std::string& name, long long def, long long* out) {
    *out = def;
    if (!has(name)) return true;
    const std::string v = get(name);
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0')
      return fail("option --" + name + " expects an integer, got '" + v + "'");
    *out = x;
    return true;
  }

 private:
  bool fail(const std::string& m) {
    error_ = m;
    return false;
  }
  std::set<std::string> value_opts_, flags_, set_flags_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

}  // namespace kiln::cli
