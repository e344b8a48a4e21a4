// Shared helpers for kiln's compute shaders (included by every shaders/*.comp).
// Every shader takes its tensors as storage buffers at bindings 0..3 and starts its push-constant
// block with `uint off[4]`: the element offset of each tensor inside its bound range (the backend
// binds from an offset aligned down to minStorageBufferOffsetAlignment). Loops are grid-stride,
// so any element count runs with at most 65535 workgroups.

#define GRID_STRIDE (gl_NumWorkGroups.x * gl_WorkGroupSize.x)

// erf with max abs error ~1.2e-7 (Numerical Recipes erfc, Chebyshev fit), in float.
float kiln_erf(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 +
                    t * (1.00002368 +
                         t * (0.37409196 +
                              t * (0.09678418 +
                                   t * (-0.18628806 +
                                        t * (0.27886807 +
                                             t * (-1.13520398 +
                                                  t * (1.48851587 +
                                                       t * (-0.82215223 + t * 0.17087277)))))))));
  float e = 1.0 - r;
  return x >= 0.0 ? e : -e;
}

// tanh without overflow for large |x|.
float kiln_tanh(float x) {
  float a = abs(x);
  if (a < 0.0005) return x;
  float t = exp(-2.0 * a);
  float r = (1.0 - t) / (1.0 + t);
  return x >= 0.0 ? r : -r;
}

bool kiln_isnan(float x) { return isnan(x); }

// pow with the C semantics the CPU reference has for negative bases and integer exponents.
float kiln_pow(float a, float b) {
  if (b == 2.0) return a * a;
  if (b == 1.0) return a;
  if (b == 0.0) return 1.0;
  if (b == 0.5 && a >= 0.0) return sqrt(a);
  if (isnan(a) || isnan(b)) return a + b;
  if (a == 0.0) {
    if (b < 0.0) return 1.0 / 0.0;
    return 0.0;
  }
  float m = pow(abs(a), b);
  if (a < 0.0) {
    if (b != floor(b)) return 0.0 / 0.0;
    // odd integer exponent keeps the sign
    if (mod(b, 2.0) != 0.0) m = -m;
  }
  return m;
}
