#!/usr/bin/env bash
# The C++ package as a user gets it: install the build into a scratch prefix (headers,
# libjcas.so, jcasConfig.cmake), then configure, build and run examples/consumer against
# it with find_package(jcas). Usage: package_test.sh CMAKE BUILD_DIR CONSUMER_SOURCE
set -euxo pipefail
cmake=$1 build=$2 src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cmake" --install "$build" --prefix "$work/prefix" --component cpp
test -f "$work/prefix/include/jcas/api.hpp"
test -f "$work/prefix/lib/cmake/jcas/jcasConfig.cmake"
"$cmake" -S "$src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
"$cmake" --build "$work/build"
# The consumer links the installed library, not the build tree's.
# (grep reads all of ldd's output: grep -q under pipefail would fail when ldd got SIGPIPE.)
libs=$(ldd "$work/build/consumer")
grep -F "$work/prefix/lib/libjcas.so" <<<"$libs" >/dev/null || { echo "$libs"; exit 1; }
out=$("$work/build/consumer")
echo "$out"
grep "^mean objective" <<<"$out" >/dev/null
