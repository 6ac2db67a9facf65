# The include half of the layering check (ctest layering_includes; the link checks are the
# other half): fails when a file in src/<folder> includes a header of a folder that is not
# the folder itself or among its declared dependencies (the DEPS of its hop_layer line in
# CMakeLists.txt), that is a folder above it or beside it. Also fails for a file under src/
# in no declared folder, which no check would see.
#
#   cmake -DSOURCE_DIR=<repo> -DLAYERS=<build>/layers.txt -P cmake/check_includes.cmake
#
# layers.txt is written by CMakeLists.txt: one line per folder, "folder dep dep ...".
cmake_minimum_required(VERSION 3.25)

file(STRINGS ${LAYERS} lines)
set(folders)
foreach(line IN LISTS lines)
  string(STRIP "${line}" line)
  string(REPLACE " " ";" words "${line}")
  list(POP_FRONT words folder)
  list(APPEND folders ${folder})
  set(may_include_${folder} ${folder} ${words})
endforeach()

# The declared folder a path (relative to src/) is in: the longest folder it starts with, so
# config/base/errors.h is in config/base, not config. "" when none.
function(owner_of path out)
  set(best "")
  foreach(f IN LISTS folders)
    string(LENGTH "${f}" n)
    string(LENGTH "${best}" best_n)
    string(SUBSTRING "${path}" 0 ${n} head)
    if(head STREQUAL f AND n GREATER best_n)
      string(SUBSTRING "${path}" ${n} 1 next)
      if(next STREQUAL "/")
        set(best ${f})
      endif()
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

set(errors 0)
file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR}/src ${SOURCE_DIR}/src/*.h ${SOURCE_DIR}/src/*.cc)
foreach(file IN LISTS files)
  if(NOT file MATCHES "/")
    continue()  # src/main.cc: the executable, above every folder
  endif()
  owner_of(${file} folder)
  if(folder STREQUAL "")
    message("src/${file}: in no folder of the layering; give its folder a hop_layer line in CMakeLists.txt")
    math(EXPR errors "${errors} + 1")
    continue()
  endif()
  file(STRINGS ${SOURCE_DIR}/src/${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[^\"]+/[^\"]+\"")
  foreach(inc IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" header "${inc}")
    owner_of(${header} target)
    if(target STREQUAL "")
      # Not in a declared folder: another project's header, unless src/ has that folder.
      string(REGEX REPLACE "/.*" "" top "${header}")
      if(IS_DIRECTORY ${SOURCE_DIR}/src/${top})
        message("src/${file}: includes ${header}, but src/${top} has no hop_layer line in CMakeLists.txt")
        math(EXPR errors "${errors} + 1")
      endif()
    elseif(NOT target IN_LIST may_include_${folder})
      list(JOIN may_include_${folder} " " allowed)
      message("src/${file}: includes ${header}, but src/${folder} may include only ${allowed} "
              "(hop_layer(${folder} DEPS ...) in CMakeLists.txt; a folder includes only folders below it)")
      math(EXPR errors "${errors} + 1")
    endif()
  endforeach()
endforeach()

if(errors GREATER 0)
  message(FATAL_ERROR "layering: ${errors} problem(s), listed above")
endif()
list(LENGTH files n)
message("layering: the includes of ${n} files in src/ follow their folders' declared dependencies")
