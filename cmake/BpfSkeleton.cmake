# bpf_skeleton(<name> SOURCE <file.bpf.c> [INCLUDES dir...] [FLAGS clang-flag...])
#
# Compiles a CO-RE BPF object with clang and generates <name>.skel.h with
# bpftool. Everything generated stays in the build tree; header dependencies
# of the BPF source are tracked through clang's depfile, so editing a shared
# header rebuilds the object and the skeleton. Defines an INTERFACE target
# <name>_skel whose include directory holds the skeleton.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "sanwatch: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(bpf_skeleton name)
  cmake_parse_arguments(ARG "" "SOURCE" "INCLUDES;FLAGS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  set(dep ${out_dir}/${name}.bpf.d)
  get_filename_component(src ${ARG_SOURCE} ABSOLUTE)
  set(inc_flags)
  foreach(dir ${ARG_INCLUDES})
    get_filename_component(abs ${dir} ABSOLUTE)
    list(APPEND inc_flags -I${abs})
  endforeach()
  # asm/types.h lives under the multiarch include dir on Debian.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                  OUTPUT_VARIABLE multiarch OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(multiarch)
    list(APPEND inc_flags -idirafter /usr/include/${multiarch})
  endif()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror ${ARG_FLAGS} ${inc_flags} -MD -MF ${dep} -c ${src} -o ${obj}.tmp
    # Strip DWARF but keep BTF: smaller object embedded in the binary.
    COMMAND ${BPFTOOL} gen object ${obj} ${obj}.tmp
    DEPENDS ${src}
    DEPFILE ${dep}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir})
endfunction()
