// Data-movement kernels (runtime/opencl/ops_data.cpp): strided copies (Transpose, Expand, Slice,
// Tile, Concat, Split), Pad and Gather. Elements are moved as raw bits, so every kernel exists
// once per element size (suffix _1, _2, _4, _8: uchar, ushort, uint, ulong) and covers every
// dtype of that size. Built with no options. Shapes and strides (in elements, at most 8 dims)
// are kernel arguments; every buffer comes with an element offset.

// Source and destination offsets of element i of a copy over `dims` (row-major): per dim,
// q = index along the dim (taken modulo mods[d] on the source side when flags & 1, for Tile),
// src += q * sst[d], dst += q * dst_st[d] (dst = i when flags & 2: a dense destination).
inline void copy_offsets(int i, int rank, int8 dims, int8 mods, int8 sst, int8 dst_st, int flags,
                         int* so, int* dof) {
  int d[8] = {dims.s0, dims.s1, dims.s2, dims.s3, dims.s4, dims.s5, dims.s6, dims.s7};
  int m[8] = {mods.s0, mods.s1, mods.s2, mods.s3, mods.s4, mods.s5, mods.s6, mods.s7};
  int s[8] = {sst.s0, sst.s1, sst.s2, sst.s3, sst.s4, sst.s5, sst.s6, sst.s7};
  int t[8] = {dst_st.s0, dst_st.s1, dst_st.s2, dst_st.s3,
              dst_st.s4, dst_st.s5, dst_st.s6, dst_st.s7};
  int r = i, a = 0, b = 0;
  for (int k = rank - 1; k >= 0; --k) {
    int q = r % d[k];
    r /= d[k];
    b += q * t[k];
    if (flags & 1) q %= m[k];
    a += q * s[k];
  }
  *so = a;
  *dof = (flags & 2) ? i : b;
}

#define DEFINE_COPY(SUF, T)                                                                     \
  __kernel void copy_##SUF(__global const T* src, int src_off, __global T* dst, int dst_off,    \
                           int n, int rank, int8 dims, int8 mods, int8 sst, int8 dst_st,        \
                           int src_base, int dst_base, int flags) {                             \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    int a, b;                                                                                   \
    copy_offsets(i, rank, dims, mods, sst, dst_st, flags, &a, &b);                              \
    dst[dst_off + dst_base + b] = src[src_off + src_base + a];                                  \
  }

DEFINE_COPY(1, uchar)
DEFINE_COPY(2, ushort)
DEFINE_COPY(4, uint)
DEFINE_COPY(8, ulong)

// Pad modes (match ops_data.cpp).
#define PAD_CONSTANT 0
#define PAD_REFLECT 1
#define PAD_EDGE 2
#define PAD_WRAP 3

// Index in [0, n) that position i of the cropped region reads, or -1 for the constant
// (runtime/cpu/ops/shape_layout.cpp pad_source).
inline int pad_source(int mode, int i, int n) {
  if (i >= 0 && i < n) return i;
  if (mode == PAD_CONSTANT) return -1;
  if (mode == PAD_EDGE) return i < 0 ? 0 : n - 1;
  if (mode == PAD_WRAP) return ((i % n) + n) % n;
  if (n == 1) return 0;
  int p = 2 * (n - 1);
  int m = ((i % p) + p) % p;
  return m >= n ? p - m : m;
}

// Source offset of output element i, or -1 when it takes the constant. Per dim: `before` is the
// (non-negative) leading pad, `lo` the leading crop, `nsrc` the cropped length.
inline int pad_offset(int i, int rank, int8 dims, int8 in_st, int8 before, int8 lo, int8 nsrc,
                      int mode) {
  int d[8] = {dims.s0, dims.s1, dims.s2, dims.s3, dims.s4, dims.s5, dims.s6, dims.s7};
  int s[8] = {in_st.s0, in_st.s1, in_st.s2, in_st.s3, in_st.s4, in_st.s5, in_st.s6, in_st.s7};
  int b[8] = {before.s0, before.s1, before.s2, before.s3,
              before.s4, before.s5, before.s6, before.s7};
  int l[8] = {lo.s0, lo.s1, lo.s2, lo.s3, lo.s4, lo.s5, lo.s6, lo.s7};
  int c[8] = {nsrc.s0, nsrc.s1, nsrc.s2, nsrc.s3, nsrc.s4, nsrc.s5, nsrc.s6, nsrc.s7};
  int r = i, off = 0;
  for (int k = rank - 1; k >= 0; --k) {
    int q = r % d[k];
    r /= d[k];
    int src = pad_source(mode, q - b[k], c[k]);
    if (src < 0) return -1;
    off += (l[k] + src) * s[k];
  }
  return off;
}

// The constant is cv[cv_off] when has_cv, else the low bits of `cbits`.
#define DEFINE_PAD(SUF, T)                                                                     \
  __kernel void pad_##SUF(__global const T* src, int src_off, __global const T* cv, int cv_off, \
                          __global T* dst, int dst_off, int n, int rank, int8 dims, int8 in_st, \
                          int8 before, int8 lo, int8 nsrc, int mode, int has_cv, ulong cbits) { \
    int i = get_global_id(0);                                                                  \
    if (i >= n) return;                                                                        \
    int o = pad_offset(i, rank, dims, in_st, before, lo, nsrc, mode);                          \
    T c = has_cv ? cv[cv_off] : (T)cbits;                                                      \
    dst[dst_off + i] = o < 0 ? c : src[src_off + o];                                           \
  }

DEFINE_PAD(1, uchar)
DEFINE_PAD(2, ushort)
DEFINE_PAD(4, uint)
DEFINE_PAD(8, ulong)

// Gather along one axis: data seen as [outer, dim, inner], output as [outer, nidx, inner].
// Work-item i < nidx checks index i and records the smallest bad position in err[0] (the host
// initialises it to INT_MAX and turns anything else into an error); work-item i < n_out copies
// one element, writing 0 for a bad index so nothing outside the data is ever read.
#define DEFINE_GATHER(SUF, T, ISUF, IT)                                                           \
  __kernel void gather_##SUF##_##ISUF(__global const T* src, int src_off, __global const IT* ind, \
                                      int ind_off, __global T* dst, int dst_off,                  \
                                      __global int* err, int n_out, int nidx, int dim,            \
                                      int inner) {                                                \
    int i = get_global_id(0);                                                                     \
    if (i < nidx) {                                                                               \
      long v = (long)ind[ind_off + i];                                                            \
      if (v < -(long)dim || v >= (long)dim) atomic_min(err, i);                                   \
    }                                                                                             \
    if (i >= n_out) return;                                                                       \
    int j = i % inner;                                                                            \
    int t = i / inner;                                                                            \
    int k = t % nidx;                                                                             \
    int o = t / nidx;                                                                             \
    long v = (long)ind[ind_off + k];                                                              \
    if (v < 0) v += dim;                                                                          \
    dst[dst_off + i] =                                                                            \
        (v >= 0 && v < (long)dim) ? src[src_off + (o * dim + (int)v) * inner + j] : (T)0;         \
  }

DEFINE_GATHER(1, uchar, i32, int)
DEFINE_GATHER(2, ushort, i32, int)
DEFINE_GATHER(4, uint, i32, int)
DEFINE_GATHER(8, ulong, i32, int)
DEFINE_GATHER(1, uchar, i64, long)
DEFINE_GATHER(2, ushort, i64, long)
DEFINE_GATHER(4, uint, i64, long)
DEFINE_GATHER(8, ulong, i64, long)
