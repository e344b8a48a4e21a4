// NumPy .npy files (format versions 1.0, 2.0 and 3.0) <-> Tensor.
//
// Reading accepts little-endian, big-endian ('>', converted) and byte-order-free ('|') element
// types: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1. Fortran-ordered arrays are converted to C order.
// The header is parsed as the small Python literal numpy writes; a truncated file, a header over
// 64 KiB, an unknown or structured dtype, or data shorter than the shape needs is an error that
// names the file. Writing uses version 1.0 (2.0 when the header needs it), native byte order.
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::io {

// The largest header accepted on read (numpy itself writes a few hundred bytes).
constexpr size_t kMaxNpyHeaderBytes = 64 * 1024;

// Reads a .npy file.
Expected<Tensor> read_npy(const std::string& path);
// Parses .npy bytes already in memory; `name` names the source in errors.
Expected<Tensor> parse_npy(const std::string& bytes, const std::string& name);

// The .npy descr ("<f4", "|b1", ...) for a dtype; an error for dtypes numpy cannot hold
// (bfloat16, strings, complex).
Expected<std::string> npy_descr(DType dtype);

// Serializes `t` as .npy bytes.
Expected<std::string> serialize_npy(const Tensor& t);
// Writes `t` to `path` (the file is replaced).
Status write_npy(const Tensor& t, const std::string& path);

}  // namespace kiln::io
