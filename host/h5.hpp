// Small HDF5 building blocks shared by the host's file writers (io_hdf5.cpp, training
// checkpoints, Monte Carlo summaries); implemented in io_hdf5.cpp. Internal to the host
// library: it includes <hdf5.h>, which the public headers do not. Errors throw
// std::runtime_error as "PATH: what".
#pragma once
#include <hdf5.h>

#include <memory>
#include <string>
#include <vector>

#include "io.hpp"

namespace jcas::h5 {

/// A new HDF5 file at `path`, written under a temporary name (io::atomic_path) and put in
/// place only by commit(), which first closes the file and checks that HDF5 wrote
/// everything (a full disk or a file size limit is named): no file under `path` is ever
/// half written. Stamped with the attribute jcas_version. Destroyed without commit(), it
/// leaves nothing behind.
class output {
 public:
  explicit output(const std::string& path);
  ~output();
  output(const output&) = delete;
  output& operator=(const output&) = delete;
  hid_t id() const { return f_; }
  operator hid_t() const { return f_; }  // NOLINT: used where HDF5 takes a location
  const std::string& path() const { return path_; }
  void commit();

 private:
  std::string path_;
  std::unique_ptr<io::atomic_path> ap_;
  hid_t f_ = -1;
};

/// An existing HDF5 file opened read-only (throws naming the path when it is missing or
/// not HDF5: `what` says what it should have been); closed on destruction.
class input {
 public:
  explicit input(const std::string& path, const char* what = "an HDF5 file");
  ~input();
  input(const input&) = delete;
  input& operator=(const input&) = delete;
  operator hid_t() const { return f_; }  // NOLINT
 private:
  hid_t f_ = -1;
};

/// 1-D dataset of doubles (empty allowed).
void write_doubles(hid_t loc, const std::string& path, const std::string& name, const std::vector<double>& v);
std::vector<double> read_doubles(hid_t loc, const std::string& path, const std::string& name);
/// String attribute ("" when absent).
void write_string(hid_t loc, const char* name, const std::string& v);
std::string read_string(hid_t loc, const char* name);
/// Scalar double attribute.
void write_attr(hid_t loc, const char* name, double v);
double read_attr(hid_t loc, const std::string& path, const char* name);

}  // namespace jcas::h5

namespace jcas::io {
/// A model's datasets and attributes (write_model's file) into an open file: a training
/// checkpoint is a model file with the optimizer's state beside it.
void write_model_to(hid_t f, const std::string& path, const unfolded_model& m);
}  // namespace jcas::io
