// Tests for the .npy reader/writer and load_tensor_file: round trips for every dtype, 0-d and
// empty arrays, big-endian and Fortran-ordered input, and malformed files.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "graph/onnx/tensor_proto.h"
#include "runtime/io/npy.h"
#include "runtime/io/tensor_io.h"

namespace kiln::io {
namespace {

namespace fs = std::filesystem;

// A scratch folder for this process, removed at exit.
struct ScratchDir {
  fs::path dir = fs::temp_directory_path() / ("kiln_npy_test_" + std::to_string(::getpid()));
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::string temp_path(const std::string& name) {
  static ScratchDir scratch;
  fs::create_directories(scratch.dir);
  return (scratch.dir / name).string();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A .npy file with the given version and header text (padded) followed by `data`.
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  std::string h = dict + "\n";
  uint32_t len = static_cast<uint32_t>(h.size());
  int lb = major == 1 ? 2 : 4;
  for (int i = 0; i < lb; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + h + data;
}

std::string raw(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  if (a.nbytes()) {
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  }
}

TEST(Npy, RoundTripEveryDtype) {
  const DType types[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt64,
                         DType::kInt32,   DType::kInt16,   DType::kInt8,    DType::kUInt64,
                         DType::kUInt32,  DType::kUInt16,  DType::kUInt8,   DType::kBool};
  for (DType dt : types) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor t = Tensor::create(dt, {2, 3}).value();
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set_from_double(i, dt == DType::kBool ? i % 2 : i - 1.0 * (is_signed(dt) || is_float(dt)));
    std::string path = temp_path(std::string("rt_") + dtype_name(dt) + ".npy");
    ASSERT_TRUE(save_npy(t, path).is_ok());
    auto back = load_tensor_file(path);
    ASSERT_TRUE(back.has_value()) << back.status().message();
    expect_same(t, *back);
    // In memory too, and the header is 64-byte aligned.
    auto bytes = serialize_npy(t);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_EQ((bytes->size() - t.nbytes()) % 64, 0u);
    auto parsed = parse_npy(*bytes, "mem");
    ASSERT_TRUE(parsed.has_value()) << parsed.status().message();
    expect_same(t, *parsed);
  }
}

TEST(Npy, ScalarAndEmpty) {
  Tensor s = Tensor::scalar<float>(2.5f);
  auto bytes = serialize_npy(s);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_NE(bytes->find("'shape': ()"), std::string::npos);
  auto back = parse_npy(*bytes, "scalar");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->rank(), 0);
  EXPECT_EQ(back->data<float>()[0], 2.5f);

  Tensor e = Tensor::create(DType::kInt32, {3, 0}).value();
  bytes = serialize_npy(e);
  ASSERT_TRUE(bytes.has_value());
  back = parse_npy(*bytes, "empty");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->shape(), (Shape{3, 0}));
  EXPECT_EQ(back->numel(), 0);

  Tensor one = Tensor::from_vector<int64_t>({3}, {7, 8, 9});
  bytes = serialize_npy(one);
  EXPECT_NE(bytes->find("'shape': (3,)"), std::string::npos);
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // np.save of np.arange(3, dtype='<i2'): version 1.0, header padded to 64 bytes.
  int16_t d[3] = {0, 1, 2};
  std::string f = make_npy("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", raw(d, 6));
  auto t = parse_npy(f, "x");
  ASSERT_TRUE(t.has_value()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kInt16);
  EXPECT_EQ(t->data<int16_t>()[2], 2);
  // Versions 2.0 and 3.0 with a 4-byte header length, double-quoted keys and Python 2 longs.
  for (int v : {2, 3}) {
    auto t2 = parse_npy(
        make_npy("{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (3L,)}", raw(d, 6), v),
        "x");
    ASSERT_TRUE(t2.has_value()) << t2.status().message();
    EXPECT_EQ(t2->shape(), (Shape{3}));
  }
}

TEST(Npy, BigEndianIsConverted) {
  const unsigned char be_f4[] = {0x3f, 0x80, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00};  // 1.0, -2.0
  auto t = parse_npy(
      make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", raw(be_f4, 8)), "be");
  ASSERT_TRUE(t.has_value()) << t.status().message();
  EXPECT_EQ(t->data<float>()[0], 1.0f);
  EXPECT_EQ(t->data<float>()[1], -2.0f);
  const unsigned char be_i8[] = {0, 0, 0, 0, 0, 0, 1, 2};
  auto i = parse_npy(
      make_npy("{'descr': '>i8', 'fortran_order': False, 'shape': (), }", raw(be_i8, 8)), "be");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->data<int64_t>()[0], 258);
}

TEST(Npy, FortranOrderIsConverted) {
  // The 2x3 matrix [[0, 1, 2], [3, 4, 5]] stored column-major: 0 3 1 4 2 5.
  int32_t col[6] = {0, 3, 1, 4, 2, 5};
  auto t = parse_npy(
      make_npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", raw(col, 24)), "f");
  ASSERT_TRUE(t.has_value()) << t.status().message();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t->data<int32_t>()[i], i);
  // Rank 3: element (i, j, k) of shape (2, 2, 2) lives at i + 2j + 4k.
  int32_t col3[8];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 2; ++k) col3[i + 2 * j + 4 * k] = 100 * i + 10 * j + k;
  auto t3 = parse_npy(
      make_npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2, 2), }", raw(col3, 32)),
      "f3");
  ASSERT_TRUE(t3.has_value());
  EXPECT_EQ(t3->data<int32_t>()[1], 1);    // (0,0,1)
  EXPECT_EQ(t3->data<int32_t>()[2], 10);   // (0,1,0)
  EXPECT_EQ(t3->data<int32_t>()[4], 100);  // (1,0,0)
  EXPECT_EQ(t3->data<int32_t>()[7], 111);
}

TEST(Npy, BoolIsNormalised) {
  const unsigned char b[] = {0, 2, 1};
  auto t = parse_npy(
      make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", raw(b, 3)), "b");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(static_cast<const uint8_t*>(t->raw_data())[1], 1);
}

void expect_error(const std::string& bytes, const std::string& needle) {
  std::string path = temp_path("bad.npy");
  write_file(path, bytes);
  auto t = read_npy(path);
  ASSERT_FALSE(t.has_value()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(t.status().message().find("bad.npy"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  auto m = parse_npy(bytes, "mem");
  EXPECT_FALSE(m.has_value());
}

TEST(Npy, MalformedFilesGiveErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data(8, '\0');
  expect_error("", "magic");
  expect_error("hello world, not numpy", "magic");
  expect_error(std::string("\x93NUMPY", 6), "truncated");
  expect_error(std::string("\x93NUMPY\x01", 7), "truncated");
  expect_error(std::string("\x93NUMPY\x01\x00\x50", 9), "truncated");
  expect_error(make_npy(ok, data).substr(0, 30), "truncated");  // header cut short
  expect_error(make_npy(ok, data, 7), "version");
  expect_error(make_npy(ok, data.substr(0, 7)), "shorter");  // lying shape
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000), }",
               data),
      "shorter");
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
               data),
      "too large");
  expect_error(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
               data),
      "overflow");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data),
               "non-negative");
  expect_error(make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data),
               "unsupported dtype");
  expect_error(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data),
               "structured");
  expect_error(make_npy("{'descr': '<f4', 'shape': (2,), }", data), "fortran_order");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': 1, 'shape': (2,), }", data),
               "fortran_order");
  expect_error(
      make_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data),
      "twice");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", data),
               "malformed");
  expect_error(make_npy("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", data),
               "malformed");
  expect_error(make_npy(std::string(100, '(') + std::string(100, ')'), data), "deep");
  expect_error(make_npy(ok + "garbage", data), "malformed");
  // A header longer than 64 KiB, with and without the bytes behind it.
  std::string big("\x93NUMPY\x02\x00", 8);
  uint32_t len = 70000;
  for (int i = 0; i < 4; ++i) big += static_cast<char>((len >> (8 * i)) & 0xff);
  expect_error(big, "65536");
  expect_error(big + std::string(len, ' '), "65536");
}

TEST(Npy, DirectoryAndMissingFile) {
  auto t = load_tensor_file("/nonexistent/x.npy");
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.status().message().find("/nonexistent/x.npy"), std::string::npos);
  auto d = load_tensor_file(fs::temp_directory_path().string());
  EXPECT_FALSE(d.has_value());
}

TEST(TensorIo, PickReaderByExtensionOrMagic) {
  Tensor t = Tensor::from_vector<float>({2}, {1.5f, -3.0f});
  std::string pb = temp_path("t.pb");
  ASSERT_TRUE(onnx_io::write_tensor_pb(t, "t", pb).is_ok());
  auto a = load_tensor_file(pb);
  ASSERT_TRUE(a.has_value()) << a.status().message();
  expect_same(t, *a);
  // A .npy file under another extension is recognised by its magic.
  std::string odd = temp_path("t.bin");
  ASSERT_TRUE(save_npy(t, odd).is_ok());
  auto b = load_tensor_file(odd);
  ASSERT_TRUE(b.has_value()) << b.status().message();
  expect_same(t, *b);
  // Garbage with a .pb name is an error naming the file.
  std::string bad = temp_path("junk.pb");
  write_file(bad, std::string("\xff\xff\xff\xff", 4));
  auto c = load_tensor_file(bad);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("junk.pb"), std::string::npos);
}

TEST(TensorIo, FileStem) {
  EXPECT_EQ(tensor_file_stem("a/b:c"), "a_b_c");
  EXPECT_EQ(tensor_file_stem("input_ids"), "input_ids");
}

TEST(Npy, WriteRefusesBFloat16) {
  Tensor t = Tensor::create(DType::kBFloat16, {2}).value();
  EXPECT_FALSE(save_npy(t, temp_path("bf.npy")).is_ok());
}

}  // namespace
}  // namespace kiln::io
