// NumPy .npy reader and writer; see npy.h for what is accepted.
#include "runtime/io/npy.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

namespace kiln::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr int kMaxLiteralDepth = 16;

// --- the header: a Python dict literal --------------------------------------------------------

struct PyValue {
  enum class Kind { kString, kInt, kBool, kNone, kSequence, kDict };
  Kind kind = Kind::kNone;
  std::string str;
  int64_t i = 0;
  bool b = false;
  std::vector<PyValue> items;                           // kSequence
  std::vector<std::pair<std::string, PyValue>> fields;  // kDict
};

class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : s_(text) {}

  // Parses one value followed only by whitespace.
  bool parse_all(PyValue* out) {
    if (!parse(out, 0)) return false;
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected text after the header dict");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool fail(const std::string& m) {
    if (error_.empty()) error_ = m + " (at byte " + std::to_string(pos_) + " of the header)";
    return false;
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(pos_, w.size()) == w) {
      pos_ += w.size();
      return true;
    }
    return false;
  }

  bool parse(PyValue* out, int depth) {
    if (depth > kMaxLiteralDepth) return fail("the header nests too deeply");
    skip_ws();
    if (pos_ >= s_.size()) return fail("the header ends early");
    char c = s_[pos_];
    if (c == '\'' || c == '"') {
      out->kind = PyValue::Kind::kString;
      return parse_string(&out->str);
    }
    if (c == '{') return parse_dict(out, depth);
    if (c == '(' || c == '[') return parse_sequence(out, depth, c == '(' ? ')' : ']');
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return parse_int(out);
    if (word("True")) {
      out->kind = PyValue::Kind::kBool;
      out->b = true;
      return true;
    }
    if (word("False")) {
      out->kind = PyValue::Kind::kBool;
      out->b = false;
      return true;
    }
    if (word("None")) {
      out->kind = PyValue::Kind::kNone;
      return true;
    }
    return fail(std::string("unexpected character '") + (c >= 32 && c < 127 ? c : '?') + "'");
  }

  bool parse_string(std::string* out) {
    char q = s_[pos_++];
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\') {
        if (++pos_ >= s_.size()) break;
      }
      out->push_back(s_[pos_++]);
    }
    if (pos_ >= s_.size()) return fail("unterminated string");
    ++pos_;
    return true;
  }

  bool parse_int(PyValue* out) {
    bool neg = false;
    if (s_[pos_] == '-' || s_[pos_] == '+') neg = s_[pos_++] == '-';
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return fail("malformed number");
    uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      uint64_t d = static_cast<uint64_t>(s_[pos_++] - '0');
      if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / 10)
        return fail("number too large");
      v = v * 10 + d;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 longs
    out->kind = PyValue::Kind::kInt;
    out->i = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    return true;
  }

  bool parse_sequence(PyValue* out, int depth, char close) {
    ++pos_;
    out->kind = PyValue::Kind::kSequence;
    if (eat(close)) return true;
    for (;;) {
      PyValue item;
      if (!parse(&item, depth + 1)) return false;
      out->items.push_back(std::move(item));
      if (eat(close)) return true;
      if (!eat(',')) return fail(std::string("expected ',' or '") + close + "'");
      if (eat(close)) return true;
    }
  }

  bool parse_dict(PyValue* out, int depth) {
    ++pos_;
    out->kind = PyValue::Kind::kDict;
    if (eat('}')) return true;
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"'))
        return fail("expected a quoted key");
      std::string key;
      if (!parse_string(&key)) return false;
      if (!eat(':')) return fail("expected ':' after key '" + key + "'");
      PyValue v;
      if (!parse(&v, depth + 1)) return false;
      for (const auto& f : out->fields)
        if (f.first == key) return fail("key '" + key + "' appears twice");
      out->fields.emplace_back(std::move(key), std::move(v));
      if (eat('}')) return true;
      if (!eat(',')) return fail("expected ',' or '}'");
      if (eat('}')) return true;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

struct Header {
  DType dtype = DType::kUndefined;
  bool swap = false;  // the file's byte order differs from the host's
  bool fortran = false;
  Shape shape;
  size_t data_offset = 0;
};

bool host_is_little() {
  return std::endian::native == std::endian::little;
}

Status parse_descr(const std::string& d, Header* h) {
  std::string code = d;
  char order = '=';
  if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '='))
    order = code[0], code = code.substr(1);
  struct Entry {
    const char* code;
    DType dtype;
  };
  static const Entry kTable[] = {
      {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
      {"i1", DType::kInt8},    {"i2", DType::kInt16},   {"i4", DType::kInt32},
      {"i8", DType::kInt64},   {"u1", DType::kUInt8},   {"u2", DType::kUInt16},
      {"u4", DType::kUInt32},  {"u8", DType::kUInt64},  {"b1", DType::kBool},
      {"?", DType::kBool},
  };
  for (const auto& e : kTable) {
    if (code == e.code) {
      h->dtype = e.dtype;
      bool file_little = order == '<' || ((order == '=' || order == '|') && host_is_little());
      h->swap = dtype_size(e.dtype) > 1 && file_little != host_is_little();
      return Status::ok();
    }
  }
  return unsupported("unsupported dtype '" + d +
                     "' (kiln reads f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, either byte order)");
}

Status interpret_header(const PyValue& v, Header* h) {
  if (v.kind != PyValue::Kind::kDict) return invalid_argument("the header is not a dict");
  bool has_descr = false, has_order = false, has_shape = false;
  for (const auto& [key, val] : v.fields) {
    if (key == "descr") {
      has_descr = true;
      if (val.kind == PyValue::Kind::kSequence)
        return unsupported("structured dtypes (record arrays) are not supported");
      if (val.kind != PyValue::Kind::kString) return invalid_argument("'descr' is not a string");
      KILN_RETURN_IF_ERROR(parse_descr(val.str, h));
    } else if (key == "fortran_order") {
      has_order = true;
      if (val.kind != PyValue::Kind::kBool)
        return invalid_argument("'fortran_order' is not True or False");
      h->fortran = val.b;
    } else if (key == "shape") {
      has_shape = true;
      if (val.kind != PyValue::Kind::kSequence) return invalid_argument("'shape' is not a tuple");
      for (const auto& d : val.items) {
        if (d.kind != PyValue::Kind::kInt || d.i < 0)
          return invalid_argument("'shape' must hold non-negative integers");
        h->shape.push_back(d.i);
      }
    }
  }
  if (!has_descr || !has_order || !has_shape)
    return invalid_argument(std::string("the header lacks the key '") +
                            (!has_descr   ? "descr"
                             : !has_order ? "fortran_order"
                                          : "shape") +
                            "'");
  if (h->shape.size() > 64)
    return unsupported("rank " + std::to_string(h->shape.size()) + " is too large");
  auto n = checked_numel(h->shape);
  if (!n) return n.status();
  return Status::ok();
}

// Reads the magic, version and header length from the first bytes of a file. Returns the total
// length of magic + length field + header (the data offset). `avail` bytes are at `p`.
Expected<size_t> header_extent(const uint8_t* p, size_t avail) {
  if (avail < kMagicLen || std::memcmp(p, kMagic, kMagicLen) != 0)
    return invalid_argument("not a .npy file (no \\x93NUMPY magic)");
  if (avail < kMagicLen + 2) return invalid_argument("the file is truncated inside the preamble");
  int major = p[6], minor = p[7];
  size_t len_bytes;
  if (major == 1)
    len_bytes = 2;
  else if (major == 2 || major == 3)
    len_bytes = 4;
  else
    return unsupported("format version " + std::to_string(major) + "." + std::to_string(minor) +
                       " is not supported (1.0, 2.0 and 3.0 are)");
  size_t pre = kMagicLen + 2 + len_bytes;
  if (avail < pre) return invalid_argument("the file is truncated inside the header length");
  uint64_t hlen = 0;
  for (size_t i = 0; i < len_bytes; ++i) hlen |= static_cast<uint64_t>(p[8 + i]) << (8 * i);
  if (hlen > kMaxNpyHeaderBytes)
    return invalid_argument("the header is " + std::to_string(hlen) + " bytes, more than the " +
                            std::to_string(kMaxNpyHeaderBytes) + " accepted");
  return pre + static_cast<size_t>(hlen);
}

Expected<Header> parse_header(const uint8_t* p, size_t avail) {
  KILN_ASSIGN_OR_RETURN(size_t end, header_extent(p, avail));
  if (avail < end) return invalid_argument("the file is truncated inside the header");
  size_t start = kMagicLen + 2 + (p[6] == 1 ? 2 : 4);
  std::string_view text(reinterpret_cast<const char*>(p) + start, end - start);
  PyValue v;
  LiteralParser parser(text);
  if (!parser.parse_all(&v)) return invalid_argument("malformed header: " + parser.error());
  Header h;
  KILN_RETURN_IF_ERROR(interpret_header(v, &h));
  h.data_offset = end;
  return h;
}

void byte_swap(uint8_t* d, int64_t n, size_t es) {
  for (int64_t i = 0; i < n; ++i, d += es) std::reverse(d, d + es);
}

// Converts a Fortran-ordered (column-major) tensor to row-major.
Expected<Tensor> fortran_to_c(const Tensor& f) {
  if (f.rank() <= 1 || f.numel() == 0) return f;
  KILN_ASSIGN_OR_RETURN(Tensor c, Tensor::create(f.dtype(), f.shape()));
  const size_t es = dtype_size(f.dtype());
  const int r = f.rank();
  std::vector<int64_t> fstride(r), idx(r, 0);
  int64_t s = 1;
  for (int k = 0; k < r; ++k) fstride[k] = s, s *= f.shape()[k];
  const uint8_t* src = static_cast<const uint8_t*>(f.raw_data());
  uint8_t* dst = static_cast<uint8_t*>(c.raw_data());
  int64_t off = 0;
  for (int64_t i = 0; i < c.numel(); ++i) {
    std::memcpy(dst + i * es, src + off * es, es);
    for (int k = r - 1; k >= 0; --k) {  // advance the C-order index
      off += fstride[k];
      if (++idx[k] < f.shape()[k]) break;
      off -= fstride[k] * idx[k];
      idx[k] = 0;
    }
  }
  return c;
}

// Byte order, bool normalisation and layout after the raw bytes are in `t`.
Expected<Tensor> finish(Tensor t, const Header& h) {
  if (h.swap) byte_swap(static_cast<uint8_t*>(t.raw_data()), t.numel(), dtype_size(t.dtype()));
  if (t.dtype() == DType::kBool) {
    uint8_t* d = static_cast<uint8_t*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) d[i] = d[i] != 0;
  }
  if (h.fortran) return fortran_to_c(t);
  return t;
}

Status size_check(const Header& h, size_t avail_data) {
  int64_t n = numel_of(h.shape);
  size_t es = dtype_size(h.dtype);
  if (static_cast<uint64_t>(n) > avail_data / es)
    return invalid_argument("the data is shorter than the header says: shape " +
                            shape_to_string(h.shape) + " needs " + std::to_string(n) +
                            " elements of " + std::to_string(es) + " bytes but the file has " +
                            std::to_string(avail_data) + " bytes of data");
  return Status::ok();
}

std::string header_bytes(const std::string& descr, const Shape& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dict += ",";
  dict += "), }";
  // Pad with spaces and a final newline so that the data starts on a 64-byte boundary.
  size_t len_bytes = 2;
  int major = 1;
  size_t total = kMagicLen + 2 + len_bytes + dict.size() + 1;
  if (total - kMagicLen - 2 - len_bytes > 65535 - 64) major = 2, len_bytes = 4;
  total = kMagicLen + 2 + len_bytes + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += static_cast<char>(0);
  uint64_t hlen = dict.size();
  for (size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((hlen >> (8 * i)) & 0xff);
  return out + dict;
}

std::string where(const std::string& name) {
  return "npy file '" + name + "'";
}

}  // namespace

Expected<std::string> npy_descr(DType dtype) {
  const char order = host_is_little() ? '<' : '>';
  switch (dtype) {
    case DType::kFloat16:
      return std::string(1, order) + "f2";
    case DType::kFloat32:
      return std::string(1, order) + "f4";
    case DType::kFloat64:
      return std::string(1, order) + "f8";
    case DType::kInt8:
      return std::string("|i1");
    case DType::kInt16:
      return std::string(1, order) + "i2";
    case DType::kInt32:
      return std::string(1, order) + "i4";
    case DType::kInt64:
      return std::string(1, order) + "i8";
    case DType::kUInt8:
      return std::string("|u1");
    case DType::kUInt16:
      return std::string(1, order) + "u2";
    case DType::kUInt32:
      return std::string(1, order) + "u4";
    case DType::kUInt64:
      return std::string(1, order) + "u8";
    case DType::kBool:
      return std::string("|b1");
    default:
      return unsupported(std::string("dtype ") + dtype_name(dtype) + " has no .npy equivalent");
  }
}

Expected<Tensor> parse_npy(const std::string& bytes, const std::string& name) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  auto h = parse_header(p, bytes.size());
  if (!h) return h.status().with_context(where(name));
  Status st = size_check(*h, bytes.size() - h->data_offset);
  if (!st.is_ok()) return st.with_context(where(name));
  auto t = Tensor::create(h->dtype, h->shape);
  if (!t) return t.status().with_context(where(name));
  if (t->nbytes()) std::memcpy(t->raw_data(), p + h->data_offset, t->nbytes());
  auto out = finish(std::move(*t), *h);
  if (!out) return out.status().with_context(where(name));
  return out;
}

Expected<Tensor> read_npy(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0)
    return not_found(where(path) + ": cannot open it (no such file)");
  if (!S_ISREG(sb.st_mode)) return invalid_argument(where(path) + ": not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error(where(path) + ": cannot open it");
  const size_t file_size = static_cast<size_t>(sb.st_size);
  // The fixed preamble first, then exactly the header, then the data straight into the tensor.
  std::string head(std::min<size_t>(file_size, 12), '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (!f) return io_error(where(path) + ": read failed");
  auto extent = header_extent(reinterpret_cast<const uint8_t*>(head.data()), head.size());
  if (!extent) return extent.status().with_context(where(path));
  if (*extent > file_size)
    return invalid_argument(where(path) + ": the file is truncated inside the header");
  std::string all_header(*extent, '\0');
  std::memcpy(all_header.data(), head.data(), std::min(head.size(), all_header.size()));
  if (all_header.size() > head.size()) {
    f.read(all_header.data() + head.size(),
           static_cast<std::streamsize>(all_header.size() - head.size()));
    if (!f) return io_error(where(path) + ": read failed");
  }
  auto h = parse_header(reinterpret_cast<const uint8_t*>(all_header.data()), all_header.size());
  if (!h) return h.status().with_context(where(path));
  Status st = size_check(*h, file_size - h->data_offset);
  if (!st.is_ok()) return st.with_context(where(path));
  auto t = Tensor::create(h->dtype, h->shape);
  if (!t) return t.status().with_context(where(path));
  f.seekg(static_cast<std::streamoff>(h->data_offset));
  if (t->nbytes()) {
    f.read(static_cast<char*>(t->raw_data()), static_cast<std::streamsize>(t->nbytes()));
    if (!f) return io_error(where(path) + ": read failed (the file changed while reading?)");
  }
  auto out = finish(std::move(*t), *h);
  if (!out) return out.status().with_context(where(path));
  return out;
}

Expected<std::string> serialize_npy(const Tensor& t) {
  if (!t.defined()) return invalid_argument("cannot serialize an undefined tensor");
  KILN_ASSIGN_OR_RETURN(std::string descr, npy_descr(t.dtype()));
  std::string out = header_bytes(descr, t.shape());
  out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

Status write_npy(const Tensor& t, const std::string& path) {
  if (!t.defined()) return invalid_argument(where(path) + ": cannot write an undefined tensor");
  auto descr = npy_descr(t.dtype());
  if (!descr) return descr.status().with_context(where(path));
  std::string header = header_bytes(*descr, t.shape());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return io_error(where(path) + ": cannot open it for writing");
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  if (t.nbytes())
    f.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  f.close();
  if (!f) return io_error(where(path) + ": write failed");
  return Status::ok();
}

}  // namespace kiln::io
