// Small HDF5 building blocks shared by the host's file writers (io_hdf5.cpp, training
// checkpoints, Monte Carlo summaries); implemented in io_hdf5.cpp. Internal to the host
// library: it includes <hdf5.h>, which the public headers do not. Errors throw
// std::runtime_error as "PATH: what".
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace jcas::h5 {

/// A new HDF5 file at tmp_path (an atomic_path temporary; errors name `path`), stamped
/// with the attribute jcas_version. The caller closes it (H5Fclose).
hid_t create_file(const std::string& tmp_path, const std::string& path);
/// 1-D dataset of doubles (empty allowed).
void write_doubles(hid_t loc, const std::string& path, const std::string& name, const std::vector<double>& v);
std::vector<double> read_doubles(hid_t loc, const std::string& path, const std::string& name);
/// Scalar double attribute.
void write_attr(hid_t loc, const char* name, double v);
double read_attr(hid_t loc, const std::string& path, const char* name);

}  // namespace jcas::h5
