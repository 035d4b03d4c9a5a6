# ctest: no per-target object defines a weak (COMDAT) symbol outside its own namespace.
#   cmake -DNM=<nm> -DTARGET=<name> -DOBJECTS=<a;b;...> -P check_target_symbols.cmake
# Each SIMD target's objects are compiled with that target's instruction set. An inline
# function that is not in pyrnn::<target> (std::fill_n, say, when the compiler does not
# inline it) is emitted as a weak symbol in every object that uses it, and the linker
# keeps one copy for the whole program: if it kept the AVX-512 copy, the generic and AVX2
# paths would run AVX-512 instructions on CPUs without them. Optimised builds inline all
# of these today; this test keeps it so (and fails, listing them, when it does not).
if(NOT NM OR NOT OBJECTS)
  message(FATAL_ERROR "check_target_symbols: NM and OBJECTS are required")
endif()
set(bad "")
foreach(obj IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C --defined-only ${obj} OUTPUT_VARIABLE out
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_target_symbols: ${NM} failed on ${obj}: ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    # "<address> <type> <name>"; weak: W/w/V/v, unique global: u
    if(line MATCHES "^[0-9a-fA-F]+ ([WwVvu]) (.*)$")
      set(name "${CMAKE_MATCH_2}")
      if(NOT name MATCHES "pyrnn::${TARGET}::" AND NOT name MATCHES "^DW\\.ref\\.__gxx_personality")
        list(APPEND bad "${obj}: ${name}")
      endif()
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "weak symbols outside pyrnn::${TARGET} in the ${TARGET} objects "
                      "(the linker may use these copies on every target):\n  ${text}")
endif()
list(LENGTH OBJECTS n)
message(STATUS "${TARGET}: ${n} objects, no weak symbols outside pyrnn::${TARGET}")
