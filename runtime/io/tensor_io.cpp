// Tensor file loading: picks the .npy or TensorProto reader.
#include "runtime/io/tensor_io.h"

#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <fstream>

#include "graph/onnx/tensor_proto.h"
#include "runtime/io/npy.h"

namespace kiln::io {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

bool has_npy_magic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char b[6] = {};
  f.read(b, 6);
  return f && std::memcmp(b, "\x93NUMPY", 6) == 0;
}

}  // namespace

Expected<Tensor> load_tensor_file(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return not_found("tensor file '" + path + "' does not exist");
  if (!S_ISREG(sb.st_mode))
    return invalid_argument("tensor file '" + path + "' is not a regular file");
  if (ends_with(path, ".npy") || has_npy_magic(path)) return read_npy(path);
  if (ends_with(path, ".npz"))
    return unsupported("tensor file '" + path +
                       "': .npz archives are not supported; save each "
                       "array with numpy.save as a .npy file");
  return onnx_io::read_tensor_pb(path);
}

std::string tensor_file_stem(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (c == '/' || c == '\\' || c == ':') c = '_';
  return out;
}

Status save_npy(const Tensor& t, const std::string& path) {
  return write_npy(t, path);
}

}  // namespace kiln::io
