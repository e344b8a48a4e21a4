#include "graph/onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>

namespace kiln::onnx_io {

namespace fs = std::filesystem;

namespace {

// A read-only memory map of a whole file, shared by every tensor that lives in it.
struct MappedFile {
  uint8_t* data = nullptr;
  size_t size = 0;
  ~MappedFile() {
    if (data) munmap(data, size);
  }
};

Expected<std::shared_ptr<MappedFile>> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return not_found("cannot open external data file '" + path + "'");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("external data '" + path + "' is not a regular file");
  }
  auto mf = std::make_shared<MappedFile>();
  mf->size = static_cast<size_t>(st.st_size);
  if (mf->size > 0) {
    void* p = mmap(nullptr, mf->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return io_error("cannot memory-map external data file '" + path + "'");
    }
    mf->data = static_cast<uint8_t*>(p);
  }
  ::close(fd);
  return mf;
}

// Maps are cached by path so a model with many tensors in one file maps it once. Weak
// references: the map lives as long as some tensor uses it.
Expected<std::shared_ptr<MappedFile>> cached_map(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<MappedFile>> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto sp = cache[path].lock()) return sp;
  KILN_ASSIGN_OR_RETURN(auto mf, map_file(path));
  cache[path] = mf;
  return mf;
}

template <typename Src, typename Field, typename Conv>
Status copy_field(const Field& field, int64_t n, Tensor* t, const std::string& what, Conv conv) {
  if (static_cast<int64_t>(field.size()) != n)
    return invalid_model(what + ": holds " + std::to_string(field.size()) +
                         " values but its dims " + shape_to_string(t->shape()) + " need " +
                         std::to_string(n));
  for (int64_t i = 0; i < n; ++i) conv(static_cast<Src>(field.Get(static_cast<int>(i))), i);
  return Status::ok();
}

Status load_external(const onnx::TensorProto& proto, const std::string& base_dir,
                     const std::string& what, Tensor* out, DType dt, const Shape& shape,
                     size_t nbytes) {
  if (base_dir.empty()) return invalid_model(what + ": external data is not allowed here");
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset" || kv.key() == "length") {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(kv.value().c_str(), &end, 10);
      if (kv.value().empty() || *end != '\0' || errno != 0 || v < 0)
        return invalid_model(what + ": external data " + kv.key() + " '" + kv.value() +
                             "' is not a non-negative integer");
      (kv.key() == "offset" ? offset : length) = v;
    }
  }
  if (location.empty()) return invalid_model(what + ": external data has no location");
  KILN_ASSIGN_OR_RETURN(std::string path, resolve_external_path(base_dir, location));
  KILN_ASSIGN_OR_RETURN(auto mf, cached_map(path));
  if (length >= 0 && static_cast<uint64_t>(length) != nbytes)
    return invalid_model(what + ": external data length " + std::to_string(length) +
                         " differs from the " + std::to_string(nbytes) + " bytes its dims need");
  if (static_cast<uint64_t>(offset) > mf->size || nbytes > mf->size - static_cast<size_t>(offset))
    return invalid_model(what + ": external data file '" + location + "' has " +
                         std::to_string(mf->size) + " bytes, shorter than offset " +
                         std::to_string(offset) + " + " + std::to_string(nbytes) + " bytes");
  size_t es = dtype_size(dt);
  if (static_cast<size_t>(offset) % es == 0 && nbytes >= (size_t{1} << 20)) {
    // Large and aligned: use the mapped pages directly (no copy, pages shared with the cache).
    std::shared_ptr<uint8_t> base(mf, mf->data);
    *out = Tensor::wrap(dt, shape, base, static_cast<size_t>(offset));
    return Status::ok();
  }
  KILN_ASSIGN_OR_RETURN(*out, Tensor::create(dt, shape));
  if (nbytes) std::memcpy(out->raw_data(), mf->data + offset, nbytes);
  return Status::ok();
}

}  // namespace

Expected<std::string> resolve_external_path(const std::string& base_dir,
                                            const std::string& location) {
  fs::path loc(location);
  if (location.empty() || loc.is_absolute() || location.find('\0') != std::string::npos)
    return invalid_model("external data location '" + location +
                         "' must be a relative path inside the model's folder");
  for (const auto& part : loc)
    if (part == "..")
      return invalid_model("external data location '" + location + "' leaves the model's folder");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  if (ec) return io_error("cannot resolve the model folder '" + base_dir + "'");
  fs::path full = fs::weakly_canonical(base / loc, ec);
  if (ec) return not_found("cannot resolve external data '" + location + "'");
  // After resolving symlinks the file must still be inside the folder.
  auto rel = full.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..")
    return invalid_model("external data location '" + location +
                         "' resolves outside the model's folder");
  if (!fs::exists(full, ec))
    return not_found("external data file '" + location + "' does not exist beside the model");
  return full.string();
}

Expected<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                                   const std::string& what_in) {
  std::string what = what_in.empty() ? "tensor '" + proto.name() + "'" : what_in;
  auto odt = dtype_from_onnx(proto.data_type());
  if (!odt || *odt == DType::kUndefined)
    return invalid_model(what + ": unknown data_type " + std::to_string(proto.data_type()));
  DType dt = *odt;
  if (!is_storable(dt))
    return unsupported(what + ": dtype " + dtype_name(dt) + " is not supported");
  if (proto.has_segment()) return unsupported(what + ": segmented tensors are not supported");
  Shape shape;
  for (int64_t d : proto.dims()) {
    if (d < 0) return invalid_model(what + ": negative dimension " + std::to_string(d));
    shape.push_back(d);
  }
  auto n_or = checked_numel(shape);
  if (!n_or) return Status(StatusCode::kInvalidModel, what + ": " + n_or.status().message());
  int64_t n = *n_or;
  size_t es = dtype_size(dt);
  if (static_cast<uint64_t>(n) > std::numeric_limits<size_t>::max() / es)
    return invalid_model(what + ": too many elements");
  size_t nbytes = static_cast<size_t>(n) * es;

  Tensor t;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    KILN_RETURN_IF_ERROR(load_external(proto, base_dir, what, &t, dt, shape, nbytes));
    return t;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != nbytes)
      return invalid_model(what + ": raw_data has " + std::to_string(proto.raw_data().size()) +
                           " bytes but dims " + shape_to_string(shape) + " of " + dtype_name(dt) +
                           " need " + std::to_string(nbytes));
    auto r = Tensor::create(dt, shape);
    if (!r) return r.status().with_context(what);
    t = std::move(*r);
    if (nbytes) std::memcpy(t.raw_data(), proto.raw_data().data(), nbytes);
    return t;
  }
  // Typed fields. Guard the allocation by the field size first so absurd dims cannot allocate.
  int64_t field_size = 0;
  switch (dt) {
    case DType::kFloat32:
      field_size = proto.float_data_size();
      break;
    case DType::kFloat64:
      field_size = proto.double_data_size();
      break;
    case DType::kInt64:
      field_size = proto.int64_data_size();
      break;
    case DType::kUInt32:
    case DType::kUInt64:
      field_size = proto.uint64_data_size();
      break;
    default:
      field_size = proto.int32_data_size();
      break;
  }
  if (field_size != n)
    return invalid_model(what + ": holds " + std::to_string(field_size) + " values but its dims " +
                         shape_to_string(shape) + " need " + std::to_string(n));
  auto r = Tensor::create(dt, shape);
  if (!r) return r.status().with_context(what);
  t = std::move(*r);
  Status st;
  switch (dt) {
    case DType::kFloat32:
      st = copy_field<float>(proto.float_data(), n, &t, what,
                             [&](float v, int64_t i) { t.data<float>()[i] = v; });
      break;
    case DType::kFloat64:
      st = copy_field<double>(proto.double_data(), n, &t, what,
                              [&](double v, int64_t i) { t.data<double>()[i] = v; });
      break;
    case DType::kInt64:
      st = copy_field<int64_t>(proto.int64_data(), n, &t, what,
                               [&](int64_t v, int64_t i) { t.data<int64_t>()[i] = v; });
      break;
    case DType::kUInt32:
      st = copy_field<uint64_t>(proto.uint64_data(), n, &t, what, [&](uint64_t v, int64_t i) {
        t.data<uint32_t>()[i] = static_cast<uint32_t>(v);
      });
      break;
    case DType::kUInt64:
      st = copy_field<uint64_t>(proto.uint64_data(), n, &t, what,
                                [&](uint64_t v, int64_t i) { t.data<uint64_t>()[i] = v; });
      break;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kUInt16:
    case DType::kInt16:
      st = copy_field<int32_t>(proto.int32_data(), n, &t, what, [&](int32_t v, int64_t i) {
        t.data<uint16_t>()[i] = static_cast<uint16_t>(v);
      });
      break;
    case DType::kInt32:
      st = copy_field<int32_t>(proto.int32_data(), n, &t, what,
                               [&](int32_t v, int64_t i) { t.data<int32_t>()[i] = v; });
      break;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      st = copy_field<int32_t>(proto.int32_data(), n, &t, what, [&](int32_t v, int64_t i) {
        t.data<uint8_t>()[i] = static_cast<uint8_t>(dt == DType::kBool ? (v != 0) : v);
      });
      break;
    default:
      return unsupported(what + ": dtype " + dtype_name(dt) + " is not supported");
  }
  KILN_RETURN_IF_ERROR(st);
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) proto->add_dims(d);
  proto->set_raw_data(std::string(static_cast<const char*>(t.raw_data()), t.nbytes()));
}

Expected<Tensor> read_tensor_pb(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::TensorProto proto;
  if (bytes.empty() || !proto.ParseFromString(bytes))
    return invalid_argument("'" + path + "' is not a serialized ONNX TensorProto");
  auto t = tensor_from_proto(proto, "", "tensor file '" + path + "'");
  return t;
}

Status write_tensor_pb(const Tensor& t, const std::string& name, const std::string& path) {
  onnx::TensorProto proto;
  tensor_to_proto(t, name, &proto);
  std::ofstream f(path, std::ios::binary);
  if (!f || !proto.SerializeToOstream(&f)) return io_error("cannot write '" + path + "'");
  return Status::ok();
}

}  // namespace kiln::onnx_io
