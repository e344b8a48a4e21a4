// Integer GEMM for MatMulInteger, MatMulIntegerToFloat and DynamicQuantizeMatMul
// (runtime/vulkan/ops_quant.cpp): C[b] = (A[b] - a_zp) x (B[b] - b_zp) with 32-bit integer
// accumulation (wrapping like the CPU reference's uint32 sums), A row-major [M, K], B row-major
// [K, N], both uint8_t storage. Output int32, or (flag FLOAT_OUT) float
// (float)acc * (a_scale * b_scale[n]) [+ bias[n]] in the CPU's order, never contracted.
// Register-blocked: each invocation computes a 4 x 4 block (no shared memory: lavapipe's is slow).
// -DWORDS: A and B are read as packed uint words (4 bytes) and unpacked with shifts, for
// K % 4 == 0, N % 4 == 0 and word-aligned offsets (the host picks it at enqueue); -DTN8 with it:
// 4 x 8 blocks.
// Sign handling: an int8 byte u holds (u ^ 0x80) - 128, so with mask 0x80 (int8) or 0 (uint8)
// x - zp == (x ^ mask) - (zp ^ mask) and one shader serves every u8/s8 combination.
// Bindings: 0 A, 1 B, 2 a_zp, 3 b_zp (u8), 4 a_scale, 5 b_scale, 6 bias (f32), 7 C (32-bit).
// Push constants: uint off[8] (element offsets of bindings 0..7), then the parameters.
#version 450
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#ifdef DOT
// -DDOT (with -DWORDS): packed 4 x 8-bit unsigned dot products (OpUDot, SPV_KHR_integer_dot_
// product, through GL_EXT_spirv_intrinsics; the device needs shaderIntegerDotProduct). Bytes are
// taken as u = x ^ mask (0..255), so with zu the zero points the same way
// sum (ua - zua)(ub - zub) = sum ua ub - zub sum ua - zua sum ub + K zua zub (mod 2^32),
// the row and column sums are dot products with 0x01010101, and B's 4 x 4 byte blocks (4 rows of
// k, 4 columns) are transposed in registers into per-column words of 4 k values.
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4451)
uint udot4(uint x, uint y, spirv_literal int packed_format);
#define UDOT(x, y) udot4(x, y, 0)  // PackedVectorFormat4x8Bit
#endif

layout(local_size_x_id = 0, local_size_y_id = 1) in;
#ifdef WORDS
layout(std430, binding = 0) readonly buffer A { uint a32[]; };
layout(std430, binding = 1) readonly buffer B { uint b32[]; };
#else
layout(std430, binding = 0) readonly buffer A { uint8_t a[]; };
layout(std430, binding = 1) readonly buffer B { uint8_t b[]; };
#endif
layout(std430, binding = 2) readonly buffer AZ { uint8_t az[]; };
layout(std430, binding = 3) readonly buffer BZ { uint8_t bz[]; };
layout(std430, binding = 4) readonly buffer AS { float as_[]; };
layout(std430, binding = 5) readonly buffer BS { float bs_[]; };
layout(std430, binding = 6) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 7) writeonly buffer C { uint c[]; };

const uint HAS_AZP = 1u, HAS_BZP = 2u, FLOAT_OUT = 4u, HAS_BIAS = 8u;

layout(push_constant) uniform PC {
  uint off[8];
  uint M, N, K, batch_rank;
  uint bdims[3];
  uint a_bst[3];
  uint b_bst[3];
  uint amask, bmask, flags, bzp_stride, bs_stride;
} pc;

// Columns per invocation: 4, or 8 with -DTN8 (WORDS only; N % 4 == 0 so the second word of a
// block either ends at or before N or starts at N and is not stored).
#ifdef TN8
#define TNC 8u
#else
#define TNC 4u
#endif

void main() {
  const uint col = gl_GlobalInvocationID.x * TNC;
  const uint row = gl_GlobalInvocationID.y * 4u;
  if (col >= pc.N || row >= pc.M) return;
  uint bz_ = gl_GlobalInvocationID.z;
  uint abase = pc.off[0], bbase = pc.off[1];
  for (int d = int(pc.batch_rank) - 1; d >= 0; --d) {
    const uint q = bz_ % pc.bdims[d];
    bz_ /= pc.bdims[d];
    abase += q * pc.a_bst[d];
    bbase += q * pc.b_bst[d];
  }
  const int azb = (pc.flags & HAS_AZP) != 0u ? int(uint(az[pc.off[2]]) ^ pc.amask) : int(pc.amask);
  const uint c0 = min(col, pc.N - 1u), c1 = min(col + 1u, pc.N - 1u);
  const uint c2 = min(col + 2u, pc.N - 1u), c3 = min(col + 3u, pc.N - 1u);
  ivec4 bzv = ivec4(int(pc.bmask));
  if ((pc.flags & HAS_BZP) != 0u) {
    const uint s = pc.bzp_stride, o = pc.off[3];
    bzv = ivec4(uint(bz[o + c0 * s]) ^ pc.bmask, uint(bz[o + c1 * s]) ^ pc.bmask,
                uint(bz[o + c2 * s]) ^ pc.bmask, uint(bz[o + c3 * s]) ^ pc.bmask);
  }
  // Rows past M are clamped on load and skipped on store. Named accumulators: lavapipe keeps
  // dynamically indexed arrays in memory. Unsigned sums wrap by definition.
  const uint r0 = abase + min(row, pc.M - 1u) * pc.K, r1 = abase + min(row + 1u, pc.M - 1u) * pc.K;
  const uint r2 = abase + min(row + 2u, pc.M - 1u) * pc.K;
  const uint r3 = abase + min(row + 3u, pc.M - 1u) * pc.K;
  const uvec4 bm = uvec4(pc.bmask);
  uvec4 acc0 = uvec4(0u), acc1 = uvec4(0u), acc2 = uvec4(0u), acc3 = uvec4(0u);
#ifdef TN8
  const uint col2 = min(col + 4u, pc.N - 4u);
  ivec4 bzv2 = ivec4(int(pc.bmask));
  if ((pc.flags & HAS_BZP) != 0u) {
    const uint s = pc.bzp_stride, o = pc.off[3] + col2 * s;
    bzv2 = ivec4(uint(bz[o]) ^ pc.bmask, uint(bz[o + s]) ^ pc.bmask, uint(bz[o + 2u * s]) ^ pc.bmask,
                 uint(bz[o + 3u * s]) ^ pc.bmask);
  }
  uvec4 d0 = uvec4(0u), d1 = uvec4(0u), d2 = uvec4(0u), d3 = uvec4(0u);
  const uint bo2d = (col2 - col) / 4u;  // word distance of the second column group
#endif
#if defined(WORDS) && defined(DOT)
  // K % 4 == 0, N % 4 == 0 and word-aligned A and B (checked on the host).
  const uint am4 = pc.amask * 0x01010101u, bm4 = pc.bmask * 0x01010101u, ones = 0x01010101u;
  uint bo = (bbase + col) / 4u;
  const uint nw = pc.N / 4u;
  uvec4 sa = uvec4(0u), sb = uvec4(0u);  // sums of the rows of A, of the columns of B
  for (uint k = 0u; k < pc.K; k += 4u, bo += 4u * nw) {
    const uint w0 = b32[bo] ^ bm4, w1 = b32[bo + nw] ^ bm4;
    const uint w2 = b32[bo + 2u * nw] ^ bm4, w3 = b32[bo + 3u * nw] ^ bm4;
    // Transpose: t0 = (k0 c0, k1 c0, k0 c2, k1 c2), t1 = (k0 c1, k1 c1, k0 c3, k1 c3), ...
    const uint t0 = (w0 & 0x00FF00FFu) | ((w1 & 0x00FF00FFu) << 8u);
    const uint t1 = ((w0 >> 8u) & 0x00FF00FFu) | (w1 & 0xFF00FF00u);
    const uint t2 = (w2 & 0x00FF00FFu) | ((w3 & 0x00FF00FFu) << 8u);
    const uint t3 = ((w2 >> 8u) & 0x00FF00FFu) | (w3 & 0xFF00FF00u);
    const uvec4 bc = uvec4((t0 & 0xFFFFu) | (t2 << 16u), (t1 & 0xFFFFu) | (t3 << 16u),
                           (t0 >> 16u) | (t2 & 0xFFFF0000u), (t1 >> 16u) | (t3 & 0xFFFF0000u));
    const uvec4 aw = uvec4(a32[(r0 + k) / 4u], a32[(r1 + k) / 4u], a32[(r2 + k) / 4u],
                           a32[(r3 + k) / 4u]) ^ uvec4(am4);
#define DSTEP(acc, av) \
  acc += uvec4(UDOT(av, bc.x), UDOT(av, bc.y), UDOT(av, bc.z), UDOT(av, bc.w));
    DSTEP(acc0, aw.x) DSTEP(acc1, aw.y) DSTEP(acc2, aw.z) DSTEP(acc3, aw.w)
    sa += uvec4(UDOT(aw.x, ones), UDOT(aw.y, ones), UDOT(aw.z, ones), UDOT(aw.w, ones));
    sb += uvec4(UDOT(bc.x, ones), UDOT(bc.y, ones), UDOT(bc.z, ones), UDOT(bc.w, ones));
  }
  {
    const uint zua = uint(azb);
    const uvec4 zub = uvec4(bzv);
    const uvec4 corr = uvec4(pc.K * zua) * zub - uvec4(zua) * sb;
    acc0 += corr - zub * sa.x;
    acc1 += corr - zub * sa.y;
    acc2 += corr - zub * sa.z;
    acc3 += corr - zub * sa.w;
  }
#elif defined(WORDS)
  // K % 4 == 0, N % 4 == 0 and word-aligned A and B (checked on the host): each iteration
  // reads one word (4 values of k) per row of A and one word (4 columns) per row of B.
  const uvec4 sh = uvec4(0u, 8u, 16u, 24u);
  uint bo = (bbase + col) / 4u;
  const uint nw = pc.N / 4u;
#define UNPACK(w, m) (ivec4(((uvec4(w) >> sh) & 255u) ^ uvec4(m)))
  for (uint k = 0u; k < pc.K; k += 4u, bo += 4u * nw) {
    const ivec4 b0 = UNPACK(b32[bo], pc.bmask) - bzv;
    const ivec4 b1 = UNPACK(b32[bo + nw], pc.bmask) - bzv;
    const ivec4 b2 = UNPACK(b32[bo + 2u * nw], pc.bmask) - bzv;
    const ivec4 b3 = UNPACK(b32[bo + 3u * nw], pc.bmask) - bzv;
#define WSTEP(acc, r)                                                  \
  {                                                                    \
    const ivec4 av = UNPACK(a32[(r + k) / 4u], pc.amask) - azb;        \
    acc += uvec4(av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3);       \
  }
#ifdef TN8
    const ivec4 e0 = UNPACK(b32[bo + bo2d], pc.bmask) - bzv2;
    const ivec4 e1 = UNPACK(b32[bo + bo2d + nw], pc.bmask) - bzv2;
    const ivec4 e2 = UNPACK(b32[bo + bo2d + 2u * nw], pc.bmask) - bzv2;
    const ivec4 e3 = UNPACK(b32[bo + bo2d + 3u * nw], pc.bmask) - bzv2;
#define WSTEP2(acc, dacc, r)                                           \
  {                                                                    \
    const ivec4 av = UNPACK(a32[(r + k) / 4u], pc.amask) - azb;        \
    acc += uvec4(av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3);       \
    dacc += uvec4(av.x * e0 + av.y * e1 + av.z * e2 + av.w * e3);      \
  }
    WSTEP2(acc0, d0, r0) WSTEP2(acc1, d1, r1) WSTEP2(acc2, d2, r2) WSTEP2(acc3, d3, r3)
#else
    WSTEP(acc0, r0) WSTEP(acc1, r1) WSTEP(acc2, r2) WSTEP(acc3, r3)
#endif
  }
#else
  // 8 values of k per iteration: llvmpipe (lavapipe) ends a shader invocation's loops after
  // 65535 iterations in all, so K is limited to 8 * 60000 (checked on the host).
#define QSTEP(k, bo)                                                                              \
  {                                                                                               \
    const ivec4 bv =                                                                              \
        ivec4(uvec4(uint(b[bo + c0]), uint(b[bo + c1]), uint(b[bo + c2]), uint(b[bo + c3])) ^      \
              bm) -                                                                               \
        bzv;                                                                                      \
    acc0 += uvec4((int(uint(a[r0 + k]) ^ pc.amask) - azb) * bv);                                  \
    acc1 += uvec4((int(uint(a[r1 + k]) ^ pc.amask) - azb) * bv);                                  \
    acc2 += uvec4((int(uint(a[r2 + k]) ^ pc.amask) - azb) * bv);                                  \
    acc3 += uvec4((int(uint(a[r3 + k]) ^ pc.amask) - azb) * bv);                                  \
  }
  uint bo = bbase, k = 0u;
  for (; k + 8u <= pc.K; k += 8u, bo += 8u * pc.N) {
    QSTEP(k, bo)
    QSTEP(k + 1u, bo + pc.N)
    QSTEP(k + 2u, bo + 2u * pc.N)
    QSTEP(k + 3u, bo + 3u * pc.N)
    QSTEP(k + 4u, bo + 4u * pc.N)
    QSTEP(k + 5u, bo + 5u * pc.N)
    QSTEP(k + 6u, bo + 6u * pc.N)
    QSTEP(k + 7u, bo + 7u * pc.N)
  }
  for (; k < pc.K; ++k, bo += pc.N) QSTEP(k, bo)
#endif
  const uint ybase = pc.off[7] + gl_GlobalInvocationID.z * pc.M * pc.N;
  const bool float_out = (pc.flags & FLOAT_OUT) != 0u, has_bias = (pc.flags & HAS_BIAS) != 0u;
  for (uint r = 0u; r < 4u; ++r) {
    const uint m = row + r;
    if (m >= pc.M) break;
    const uvec4 acc = r == 0u ? acc0 : (r == 1u ? acc1 : (r == 2u ? acc2 : acc3));
#ifdef TN8
    const uvec4 dacc = r == 0u ? d0 : (r == 1u ? d1 : (r == 2u ? d2 : d3));
#endif
    for (uint j = 0u; j < TNC; ++j) {
      const uint n = col + j;
      if (n >= pc.N) break;
#ifdef TN8
      const int v = int(j < 4u ? acc[j] : dacc[j - 4u]);
#else
      const int v = int(acc[j]);
#endif
      if (!float_out) {
        c[ybase + m * pc.N + n] = uint(v);
      } else {
        precise const float s = as_[pc.off[4]] * bs_[pc.off[5] + n * pc.bs_stride];
        precise float f = float(v) * s;
        if (has_bias) f = f + bias[pc.off[6] + n];
        c[ybase + m * pc.N + n] = floatBitsToUint(f);
      }
    }
  }
}
