# Shader variants for runtime/vulkan/ops_data*.cpp ("name|file.comp|defines"): Pad/Tile per
# element size, ArgMax/ArgMin, float32 Range, and the windowed Gather for data above the binding
# limit.
list(APPEND KILN_SHADER_VARIANTS
  "pad_1|pad.comp|-DBYTES"
  "pad_2|pad.comp|-DHALVES"
  "pad_4|pad.comp|"
  "pad_8|pad.comp|-DPAIRS"
  "argmax_f32|argmax.comp|"
  "range_f32|range.comp|"
  "gather_win_4_i64|gather_win.comp|-DELEM=uint"
  "gather_win_8_i64|gather_win.comp|-DELEM=uvec2"
  "gather_win_1_i64|gather_win.comp|-DBYTES"
  "gather_win_2_i64|gather_win.comp|-DHALVES"
  "gather_win_4_i32|gather_win.comp|-DELEM=uint -DIDX32"
  "gather_win_8_i32|gather_win.comp|-DELEM=uvec2 -DIDX32"
  "gather_win_1_i32|gather_win.comp|-DBYTES -DIDX32"
  "gather_win_2_i32|gather_win.comp|-DHALVES -DIDX32"
)
