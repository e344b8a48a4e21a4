// EmbedLayerNormalization (com.microsoft, runtime/vulkan/ops_contrib.cpp): one invocation per
// (batch, position) row: v = word[input_ids] + position[position_ids or s]
// (+ segment[segment_ids]), then LayerNormalization with gamma and beta (two passes in float);
// the optional embedding_sum output gets v. The s == 0 invocation of each batch also writes
// mask_index[b] (the count of mask values equal to 1, or 0 without a mask). An index outside its
// table writes a row of zeros instead of reading out of bounds (as Gather on Vulkan does); the
// CPU reports it as an error.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define F_SEG 1u
#define F_POS 2u
#define F_MASK 4u
#define F_MASK_INDEX 8u
#define F_SUM 16u

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Ids { int ids[]; };
layout(std430, binding = 1) readonly buffer SegIds { int seg_ids[]; };
layout(std430, binding = 2) readonly buffer Word { float word[]; };
layout(std430, binding = 3) readonly buffer Pos { float pos[]; };
layout(std430, binding = 4) readonly buffer Seg { float seg[]; };
layout(std430, binding = 5) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 6) readonly buffer Beta { float beta[]; };
layout(std430, binding = 7) readonly buffer Mask { int mask[]; };
layout(std430, binding = 8) readonly buffer PosIds { int pos_ids[]; };
layout(std430, binding = 9) writeonly buffer Y { float y[]; };
layout(std430, binding = 10) writeonly buffer MaskIndex { int mask_index[]; };
layout(std430, binding = 11) writeonly buffer Sum { float sum_out[]; };
layout(push_constant) uniform PC {
  uint off[12];
  uint batch, seq, h;
  uint word_rows, pos_rows, seg_rows;
  uint pos_id_rows;  // 1 (broadcast over the batch) or batch
  float eps;
  uint flags;
} pc;

void main() {
  const uint rows = pc.batch * pc.seq;
  for (uint i = gl_GlobalInvocationID.x; i < rows; i += GRID_STRIDE) {
    const uint b = i / pc.seq, s = i % pc.seq;
    if ((pc.flags & F_MASK_INDEX) != 0u && s == 0u) {
      int count = 0;
      if ((pc.flags & F_MASK) != 0u)
        for (uint t = 0u; t < pc.seq; ++t) count += mask[pc.off[7] + b * pc.seq + t] == 1 ? 1 : 0;
      mask_index[pc.off[10] + b] = count;
    }
    const int id = ids[pc.off[0] + i];
    int p = int(s);
    if ((pc.flags & F_POS) != 0u)
      p = pos_ids[pc.off[8] + (pc.pos_id_rows == 1u ? 0u : b) * pc.seq + s];
    int sid = 0;
    if ((pc.flags & F_SEG) != 0u) sid = seg_ids[pc.off[1] + i];
    const bool ok = id >= 0 && uint(id) < pc.word_rows && p >= 0 && uint(p) < pc.pos_rows &&
                    ((pc.flags & F_SEG) == 0u || (sid >= 0 && uint(sid) < pc.seg_rows));
    const uint yr = i * pc.h;
    if (!ok) {
      for (uint k = 0u; k < pc.h; ++k) {
        y[pc.off[9] + yr + k] = 0.0;
        if ((pc.flags & F_SUM) != 0u) sum_out[pc.off[11] + yr + k] = 0.0;
      }
      continue;
    }
    const uint wr = pc.off[2] + uint(id) * pc.h, pr = pc.off[3] + uint(p) * pc.h;
    const uint sr = pc.off[4] + uint(sid) * pc.h;
    const bool has_seg = (pc.flags & F_SEG) != 0u;
    float sum = 0.0;
    for (uint k = 0u; k < pc.h; ++k) {
      float v = word[wr + k] + pos[pr + k];
      if (has_seg) v += seg[sr + k];
      if ((pc.flags & F_SUM) != 0u) sum_out[pc.off[11] + yr + k] = v;
      sum += v;
    }
    const float mean = sum / float(pc.h);
    float sq = 0.0;
    for (uint k = 0u; k < pc.h; ++k) {
      float v = word[wr + k] + pos[pr + k];
      if (has_seg) v += seg[sr + k];
      sq += (v - mean) * (v - mean);
    }
    const float inv = 1.0 / sqrt(sq / float(pc.h) + pc.eps);
    for (uint k = 0u; k < pc.h; ++k) {
      float v = word[wr + k] + pos[pr + k];
      if (has_seg) v += seg[sr + k];
      y[pc.off[9] + yr + k] = (v - mean) * inv * gamma[pc.off[5] + k] + beta[pc.off[6] + k];
    }
  }
}
