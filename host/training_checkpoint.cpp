// Training checkpoints (train::checkpoint): written after every epoch, read to continue a
// run. The file is a model file (jcas solve --params reads it) plus Adam's state, the
// loss log and the run's identity (train::check_resume refuses a changed run).
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "h5.hpp"
#include "io.hpp"
#include "training.hpp"

namespace jcas::train {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

}  // namespace

void write_checkpoint(const std::string& path, const checkpoint& c) {
  const auto lock = io::hdf5_lock();  // HDF5 is not thread-safe
  // The model part is an ordinary model file (jcas solve --params accepts a checkpoint).
  h5::output f(path);
  io::write_model_to(f, path, c.model);
  h5::write_doubles(f, path, "adam_m", c.opt.m);
  h5::write_doubles(f, path, "adam_v", c.opt.v);
  std::vector<double> log;
  for (const log_row& r : c.log) log.insert(log.end(), {double(r.epoch), double(r.batch), r.loss, r.validation});
  h5::write_doubles(f, path, "log", log);
  h5::write_doubles(f, path, "state", {double(c.opt.step), double(c.epochs_done), c.lr});
  std::vector<double> values;
  std::string names;
  for (const auto& [name, v] : c.run.fields) {
    names += (names.empty() ? "" : "\n") + name;
    values.push_back(v);
  }
  h5::write_doubles(f, path, "run_values", values);
  h5::write_string(f, "run_fields", names);
  h5::write_string(f, "run_data", c.run.data);
  f.commit();
}

namespace {
checkpoint read_checkpoint_file(const std::string& path) {
  checkpoint c;
  c.source = path;
  c.model = io::read_model(path);
  const h5::input f(path, "a training checkpoint");
  c.opt.m = h5::read_doubles(f, path, "adam_m");
  c.opt.v = h5::read_doubles(f, path, "adam_v");
  const auto st = h5::read_doubles(f, path, "state");
  const auto log = h5::read_doubles(f, path, "log");
  if (st.size() != 3 || log.size() % 4 != 0) fail(path, "corrupt training state");
  c.opt.step = long(st[0]);
  c.epochs_done = int(st[1]);
  c.lr = st[2];
  for (size_t i = 0; i < log.size(); i += 4) c.log.push_back({int(log[i]), int(log[i + 1]), log[i + 2], log[i + 3]});
  if (H5Lexists(f, "run_values", H5P_DEFAULT) > 0) {  // absent in an older jcas's checkpoints
    const std::vector<double> values = h5::read_doubles(f, path, "run_values");
    std::stringstream names(h5::read_string(f, "run_fields"));
    size_t i = 0;
    for (std::string name; std::getline(names, name, '\n');) {
      if (i >= values.size()) fail(path, "corrupt run record");
      c.run.fields.push_back({name, values[i++]});
    }
    if (i != values.size()) fail(path, "corrupt run record");
    c.run.data = h5::read_string(f, "run_data");
  }
  const size_t np = pack(c.model).size();
  if (c.opt.step > 0 && (c.opt.m.size() != np || c.opt.v.size() != np))
    fail(path, "Adam state does not match the model");
  return c;
}
}  // namespace

checkpoint read_checkpoint(const std::string& path) {
  const auto lock = io::hdf5_lock();  // HDF5 is not thread-safe
  if (std::filesystem::exists(path)) io::vet_in_child(path, [&] { read_checkpoint_file(path); });
  return read_checkpoint_file(path);
}

checkpoint resume_checkpoint(const std::string& path, const model_shape& shape) {
  checkpoint c = read_checkpoint(path);
  const unfolded_model& m = c.model;
  if (m.l_out != shape.outer || m.l_in != shape.inner || m.i_w != shape.iw || m.frozen != shape.frozen ||
      m.per_layer_mu != shape.per_layer_mu)
    throw std::invalid_argument(path + ": checkpoint is L_out " + std::to_string(m.l_out) + ", L_in " +
                                std::to_string(m.l_in) + ", I_w " + std::to_string(m.i_w) +
                                (m.frozen ? ", frozen" : "") + (m.per_layer_mu ? ", per-layer mu" : "") +
                                "; the run asks for other settings");
  c.model.loss_final_weight = shape.final_weight;
  c.model.w0 = shape.w0;
  c.model.layer_repeat = shape.layer_repeat;
  return c;
}

}  // namespace jcas::train
