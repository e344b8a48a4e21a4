// Storage element types for the float shaders (included after the #version line and before the
// buffers): FT / FT4 are float / vec4, or float16_t / f16vec4 with -DF16 (16-bit storage only:
// values are loaded into float, all arithmetic is float, stores round once to float16).
#ifdef F16
#extension GL_EXT_shader_16bit_storage : require
#define FT float16_t
#define FT4 f16vec4
#else
#define FT float
#define FT4 vec4
#endif
