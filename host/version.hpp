// What built this binary: written into every HDF5 file jcas makes (attribute
// `jcas_version`) and printed by `jcas --version`. Defined in a source that the build
// generates (tools/version.cmake) from the project version and the git commit.
#pragma once

namespace jcas {

/// "0.9.0 (<git describe --always --dirty>)".
const char* version();
/// The build's configuration: backends, CUDA architectures, CPU level, build type.
const char* build_config();

}  // namespace jcas
