// INT8 quantization of a model's weights and activations (`kiln quantize`), after ONNX Runtime's
// quantize_dynamic / quantize_static.
//
// Dynamic (quantize_dynamic): every MatMul / Gemm whose B is a constant float32 matrix gets its
// weight quantized once, here, to int8 or uint8 (per tensor or per output channel, symmetric or
// asymmetric, optionally with the reduced range). Output formats:
//  - QOperator: ONNX Runtime's own pattern, only ai.onnx ops (opset >= 11):
//      x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp)      (shared by all users of x)
//      MatMulInteger(x_q, w_q, x_zp, w_zp) -> Cast(float) -> Mul(x_scale * w_scale) [-> Add(C)]
//    and for Conv ConvInteger(x_q, w_q, x_zp, w_zp) -> Cast -> Mul [-> Add(bias as [1, M, 1..])]
//    with a per-tensor weight (ONNX Runtime's ConvInteger kernel takes only a scalar w_zp),
//    and for Gather over a constant table (embeddings), ONNX Runtime's GatherQuant: the table to
//    uint8 (asymmetric, per tensor), Gather on the codes -> DequantizeLinear
//  - QDQ: weight-only, w_q -> DequantizeLinear -> MatMul (activations stay float: dynamic
//    activation quantization has no QDQ form; ONNX Runtime's quantize_dynamic has no QDQ format).
// Static (quantize_static, QDQ): as QDQ plus a QuantizeLinear -> DequantizeLinear pair on each
// quantized node's activation input, with uint8 scale / zero point from calibrated ranges.
//
// Quantization parameters follow onnxruntime.quantization.quant_utils.compute_scale_zp: the range
// is widened to include 0; symmetric int8 uses [-127, 127] (zero point 0), symmetric uint8 zero
// point 128; --reduce-range uses [-64, 64] / [0, 127]; scale = (rmax - rmin) / (qmax - qmin)
// computed in double and stored as float; q = clip(round_half_even(w / scale) + zp) in float.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::passes {

enum class QuantFormat { kQOperator, kQDQ };

struct QuantizeOptions {
  QuantFormat format = QuantFormat::kQOperator;
  bool per_channel = false;   // one scale / zero point per output column of B (axis N)
  bool reduce_range = false;  // 7-bit weights ([-64, 64] int8, [0, 127] uint8)
  // Symmetric weights; unset: symmetric for int8, asymmetric for uint8 (ONNX Runtime's default).
  std::optional<bool> symmetric;
  DType weight_type = DType::kInt8;  // kInt8 or kUInt8
  // Op types to quantize (the ones supported: supported_quant_op_types()). Attention means
  // com.microsoft Attention -> QAttention, in ONNX Runtime's quantize_dynamic defaults too.
  std::set<std::string> op_types = {"MatMul", "Gemm", "Conv", "Gather", "Attention"};
  // Node names left in float.
  std::set<std::string> nodes_to_exclude;
};

// What a quantization pass did.
struct QuantizeReport {
  std::map<std::string, int64_t> quantized;  // op type -> nodes quantized
  int64_t weights_quantized = 0;             // distinct weight initializers
  int64_t activations_quantized = 0;         // DynamicQuantizeLinear / QuantizeLinear inserted
  int64_t float_weight_bytes = 0;            // bytes of the float weights replaced
  int64_t quant_weight_bytes = 0;            // bytes of their quantized versions (+ params)
  std::vector<std::string> skipped;          // "node 'x' (MatMul): B is not a constant", ...
  int64_t total_quantized() const;
};

// The op types the passes know: MatMul, Gemm, Conv, Gather (constant float tables only) and
// Attention (com.microsoft, QOperator only: DynamicQuantizeLinear + QAttention).
const std::set<std::string>& supported_quant_op_types();

// Quantization parameters of a float range [rmin, rmax] for a target type (compute_scale_zp).
struct QuantParams {
  float scale = 1;
  int32_t zero_point = 0;
};
// qmin / qmax of an 8-bit type for the options (symmetric int8: [-127, 127]; reduce_range:
// [-64, 64] / [0, 127]).
void quant_range(DType type, bool symmetric, bool reduce_range, int32_t* qmin, int32_t* qmax);
QuantParams compute_quant_params(float rmin, float rmax, int32_t qmin, int32_t qmax,
                                 bool symmetric);
// Quantizes one value: clip(round_half_even(v / scale) + zp, qmin_of(type), qmax_of(type)).
int32_t quantize_value(float v, const QuantParams& p, DType type);

// Dynamic quantization (QOperator or weight-only QDQ). The graph stays valid and sorted.
Status quantize_dynamic(ir::Graph& g, const QuantizeOptions& options, QuantizeReport* report);

// An activation's calibrated range.
struct TensorRange {
  float min = 0, max = 0;
};
enum class CalibrationMethod { kMinMax, kPercentile };

// Runs the float graph on the CPU reference path for every input set and records, for each
// float activation feeding a node quantize_static would quantize (with options.format
// kQOperator also that node's output), its min / max (kMinMax) or the `percentile` and
// 100 - `percentile` percentiles over all sets (kPercentile).
Expected<std::map<std::string, TensorRange>> calibrate(
    const ir::Graph& g, const QuantizeOptions& options,
    const std::vector<std::map<std::string, Tensor>>& input_sets, CalibrationMethod method,
    double percentile = 99.99, int threads = 0);

// Static quantization to QDQ: weights as quantize_dynamic's QDQ format, and each quantized
// node's activation input through QuantizeLinear -> DequantizeLinear (uint8, asymmetric) with
// the parameters of its range. Nodes whose activation has no range are skipped (reported).
Status quantize_static(ir::Graph& g, const QuantizeOptions& options,
                       const std::map<std::string, TensorRange>& ranges, QuantizeReport* report);
// Static quantization in QOperator format (ONNX Runtime's quantize_static QOperator):
// QuantizeLinear -> QLinearMatMul / QLinearConv chains with output parameters from the ranges
// of the nodes' outputs; see quantize_static.cpp. options.format is not read by either.
Status quantize_static_qoperator(ir::Graph& g, const QuantizeOptions& options,
                                 const std::map<std::string, TensorRange>& ranges,
                                 QuantizeReport* report);

}  // namespace kiln::passes
