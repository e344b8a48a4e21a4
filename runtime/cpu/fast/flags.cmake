# Per-file instruction-set flags for the fast CPU kernels (included by the top-level
# CMakeLists.txt right after add_library(kiln_lib ...)). Only the files holding one instruction
# set's loops get its flags; the dispatchers (sgemm.cpp, qgemm.cpp) stay baseline x86-64 and
# check the CPU at run time.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/sgemm_avx512.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mfma")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/sgemm_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/qgemm_avx512.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/qgemm_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/vec_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/runtime/cpu/fast/vec_avx512.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mfma")
endif()
