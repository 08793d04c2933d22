# The floors of include/ptq (docs/architecture.md): a header may include headers of its own folder and of lower
# floors only, so no two folders include each other and io/ reads nothing but core/. Run by CTest as `layering`:
#   cmake -DINCLUDE_DIR=<repo>/include -P tests/layering.cmake
set(floor_core 0)
set(floor_scheme 1)        # device-safe ground floor: QuantScheme, QuantSpec, packed layout, grids
set(floor_io 1)            # files, safetensors, JSON fields, corpora, model folders
set(floor_tokenizer 2)
set(floor_kernels 2)       # ref/ (CPU) and cuda/ (GPU) kernels
set(floor_quant 3)         # per-linear algorithms, packed weights
set(floor_checkpoint 4)    # quantized checkpoint formats: read, bind, write
set(floor_model 5)         # Qwen2 config, weights, forward passes
set(floor_pipeline 6)      # whole-model quantization drivers
set(floor_eval 6)          # perplexity protocols and tasks
set(floor_leaderboard 7)
file(GLOB_RECURSE headers RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/ptq/*.hpp ${INCLUDE_DIR}/ptq/*.cuh)
set(violations 0)
foreach(h IN LISTS headers)
  string(REGEX MATCH "^ptq/([a-z_]+)/" _ ${h})
  set(from ${CMAKE_MATCH_1})
  if(NOT from)  # ptq/ptq.hpp, the umbrella
    continue()
  endif()
  if(NOT DEFINED floor_${from})
    message(SEND_ERROR "${h}: folder '${from}' has no floor in tests/layering.cmake")
    math(EXPR violations "${violations} + 1")
    continue()
  endif()
  file(STRINGS ${INCLUDE_DIR}/${h} includes REGEX "^#include \"ptq/[a-z_]+/")
  foreach(line IN LISTS includes)
    string(REGEX MATCH "\"ptq/([a-z_]+)/([^\"]+)\"" _ "${line}")
    set(to ${CMAKE_MATCH_1})
    if(to STREQUAL from)
      continue()
    endif()
    if(NOT DEFINED floor_${to} OR NOT floor_${to} LESS floor_${from})
      message(SEND_ERROR "${h} (floor ${floor_${from}}) includes ptq/${to}/${CMAKE_MATCH_2} (floor ${floor_${to}})")
      math(EXPR violations "${violations} + 1")
    endif()
  endforeach()
endforeach()
list(LENGTH headers n)
if(violations)
  message(FATAL_ERROR "${violations} include(s) break the floors")
endif()
message(STATUS "layering: ${n} headers, every include goes to the same folder or a lower floor")
