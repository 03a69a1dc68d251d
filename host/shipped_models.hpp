// The unfolded models shipped with the project (models/, made by tools/train_models.sh),
// compiled into the library (tools/embed_models.cmake) so that every front end finds
// them without a path. jcas::shipped_model (api.hpp) picks one for a delta.
#pragma once
#include <cstddef>
#include <span>

namespace jcas::io {

struct shipped_file {
  const char* name;  // models/FILE
  double delta;      // the trade-off weight it was trained for
  const unsigned char* bytes;
  std::size_t size;
};
std::span<const shipped_file> shipped_files();  // generated: BUILD/shipped_models_data.cpp

}  // namespace jcas::io
