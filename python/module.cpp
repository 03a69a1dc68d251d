// The Python module `jcas`: the batch API (jcas/api.hpp) on arrays the caller already
// has. One entry point per operation, each with the executor of the C++ API (device,
// threads); the GIL is released while the solver runs; bad input raises ValueError or
// TypeError with the command line's one-line messages.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "arrays.hpp"
#include "io.hpp"
#include "jcas/api.hpp"
#include "montecarlo.hpp"
#include "progress.hpp"
#include "solve_request.hpp"
#include "training.hpp"
#include "version.hpp"

namespace py = pybind11;
using namespace jcas;
using jcas::python::place;

namespace {

/// The CPU threads of a call: 0 (all cores) .. max_threads.
int checked_threads(int threads) {
  if (threads < 0 || threads > max_threads)
    reject("threads", threads, "must be an integer in 0 .. " + std::to_string(max_threads));
  return threads;
}

executor executor_of(const std::string& device, int threads, const py::object& stream = py::none()) {
  executor ex{parse_device(device), checked_threads(threads)};
  ex.stream = python::stream_of(stream);
  if (ex.stream != 0 && !ex.gpu())
    throw py::value_error("stream = " + std::to_string(ex.stream) +
                          ": a stream orders work on a CUDA device, but device = " + device);
  return ex;
}

/// A layer_repeat argument: "users" or a whole number >= 1 (parse_layer_repeat's words).
int layer_repeat_of(const py::object& r) {
  if (py::isinstance<py::str>(r)) return parse_layer_repeat(r.cast<std::string>());
  if (py::isinstance<py::int_>(r) && !py::isinstance<py::bool_>(r))
    return parse_layer_repeat(std::to_string(r.cast<long long>()));
  throw py::type_error("layer_repeat: expected 'users' or a whole number, not " +
                       py::str(r.get_type().attr("__name__")).cast<std::string>());
}

/// A training's init argument: None (none), a path, or a jcas.Model.
std::optional<unfolded_model> model_of(const py::object& m, const char* field = "init") {
  if (m.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(m)) return io::read_model(m.cast<std::string>());
  if (py::isinstance<unfolded_model>(m)) return m.cast<unfolded_model>();
  throw py::type_error(std::string(field) + ": expected None, a path or a jcas.Model, not " +
                       py::str(m.get_type().attr("__name__")).cast<std::string>());
}

/// A solve's model argument, as the command line's --params: None (the model shipped for
/// the run's delta), "untrained", a path, or a jcas.Model.
model_choice choice_of(const py::object& m) {
  model_choice c;
  if (py::isinstance<py::str>(m) && m.cast<std::string>() == "untrained")
    c.untrained = true;
  else
    c.trained = model_of(m, "model");
  return c;
}

/// The scenario of generate / montecarlo: a preset ("code" or "paper") with the named
/// constants replaced where given (None keeps the preset's).
scenario scenario_of(const std::string& preset, const py::dict& kw) {
  scenario sc;
  if (preset == "paper")
    sc = scenario::paper_text();
  else if (preset != "code")
    throw std::invalid_argument("preset = " + preset + ": must be code or paper");
  struct int_field {
    const char* name;
    index_t problem_dims::*member;
    int least;
  };
  static const int_field ints[] = {{"users", &problem_dims::k, 1},
                                   {"targets", &problem_dims::m, 1},
                                   {"clutter", &problem_dims::c, 0},
                                   {"nt", &problem_dims::nt, 1},
                                   {"nr", &problem_dims::nr, 1}};
  for (auto [key, value] : kw) {
    if (value.is_none()) continue;
    const std::string k = py::str(key);
    bool known = false;
    for (const io::scenario_constant& f : io::scenario_constants)
      if (k == f.keyword) {
        sc.*f.member = value.cast<double>();
        known = true;
      }
    for (const int_field& f : ints)
      if (k == f.name) {
        const long v = value.cast<long>();
        if (v < f.least || v > (1 << 20))
          reject(k, double(v), "must be an integer in " + std::to_string(f.least) + " .. 2^20");
        sc.dims.*f.member = index_t(v);
        known = true;
      }
    if (k == "independent_clutter") {
      sc.clutter_reuses_target_pathloss = !value.cast<bool>();
      known = true;
    }
    if (!known) throw py::type_error("unknown scenario option '" + k + "'");
  }
  validate(sc);
  return sc;
}

/// Solver results as NumPy arrays (or device arrays, for inputs on a GPU) and numbers.
py::dict results_dict(solve_output&& out, const place& where) {
  const problem_dims d = out.dims;
  const py::ssize_t n = out.count, nt = d.nt, k = d.k, nr = d.nr, m = d.m;
  const summary s = summarize(out);
  py::dict r;
  r["algo"] = to_string(out.algo);
  r["W"] = python::result(std::move(out.w), {n, nt, k}, {nt * k, 1, nt}, where);
  r["F"] = python::result(std::move(out.f), {n, nr, m}, {nr * m, 1, nr}, where);
  r["curve"] =
      python::result(std::move(out.curve), {n, py::ssize_t(out.curve_len)}, {py::ssize_t(out.curve_len), 1}, where);
  r["objective"] = python::result(std::move(out.objective), {n}, {1}, where);
  r["min_sinr"] = python::result(std::move(out.min_sinr), {n}, {1}, where);
  r["min_scnr"] = python::result(std::move(out.min_scnr), {n}, {1}, where);
  r["outer"] = python::result(std::move(out.outer), {n}, {1}, where);
  r["inner"] = python::result(std::move(out.inner), {n}, {1}, where);
  r["seconds"] = out.seconds;
  r["mean_objective"] = s.mean_objective;
  r["min_sinr_db"] = s.min_sinr_db;
  r["min_scnr_db"] = s.min_scnr_db;
  r["mean_iterations"] = s.mean_iterations;
  return r;
}

py::dict input_note(const void* pointer, const std::string& copied) {
  py::dict d;
  d["pointer"] = reinterpret_cast<std::uintptr_t>(pointer);
  d["copied"] = !copied.empty();
  d["why"] = copied;
  return d;
}

/// The progress bar of a call (stderr), or none.
struct progress_option {
  std::optional<host::progress_bar> bar;
  progress_option(bool on, const std::string& label) {
    if (on) bar.emplace(label);
  }
  std::function<void(long, long)> callback() {
    if (!bar) return {};
    return [this](long done, long total) { bar->update(done, total); };
  }
  void finish() {
    if (bar) bar->finish();
  }
};

/// Ctrl-C during a call that released the GIL: the library's stop poll. From the calling
/// thread, at most every 50 ms, it takes the GIL and runs Python's signal handlers; once
/// one raises (KeyboardInterrupt), the exception stays set, the call ends with
/// jcas::stopped, and the module's translator hands Python that exception.
class interrupt_poll {
 public:
  std::function<bool()> callback() {
    return [this] { return poll(); };
  }
  /// After the call (GIL held): a Ctrl-C polled during its last group, which the library
  /// finished anyway, is raised still, not left pending beside a result.
  void raise_pending() const {
    if (raised_ && PyErr_Occurred()) throw py::error_already_set();
  }

 private:
  bool poll() {
    if (raised_ || std::this_thread::get_id() != caller_) return raised_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(50)) return false;
    last_ = now;
    const py::gil_scoped_acquire hold;
    raised_ = PyErr_CheckSignals() != 0;
    return raised_;
  }
  std::thread::id caller_ = std::this_thread::get_id();
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool raised_ = false;
};

py::tuple generate(long count, std::uint64_t seed, long first, const std::string& device, int threads,
                   const std::string& preset, bool rank_one, const py::kwargs& kw) {
  const scenario sc = scenario_of(preset, kw);
  validate_draw(sc, first, count);
  const executor ex = executor_of(device, threads);
  channel_set cs;
  {
    py::gil_scoped_release free;
    cs = generate_batch(ex, sc, seed, first, count, rank_one);
  }
  const py::ssize_t n = count, nt = sc.dims.nt, k = sc.dims.k, j = sc.dims.j(), nr = sc.dims.nr;
  py::array h = python::to_numpy(std::move(cs.h), {n, nt, k}, {nt * k, 1, nt});
  if (rank_one)  // G as its factors: U (count, J, Nr), V (count, J, Nt), G_j = u_j v_j^H
    return py::make_tuple(h, py::make_tuple(python::to_numpy(std::move(cs.gu), {n, j, nr}, {j * nr, nr, 1}),
                                            python::to_numpy(std::move(cs.gv), {n, j, nt}, {j * nt, nt, 1})));
  return py::make_tuple(h, python::to_numpy(std::move(cs.g), {n, j, nr, nt}, {j * nr * nt, nr * nt, 1, nr}));
}

/// H and G as a call passes them: G a (count, J, Nr, Nt) array, or a pair (U, V) of its
/// rank-one factors (jcas.generate(rank_one=True)).
python::channel_input channels_of(const py::object& H, const py::object& G, int targets, double snr_db,
                                  const executor& ex) {
  python::borrowed h = python::borrow(H, "H", 3, ex.device, ex.stream);
  if (py::isinstance<py::tuple>(G) || py::isinstance<py::list>(G)) {
    const py::sequence uv = G;
    if (uv.size() != 2)
      throw py::type_error("G: expected an array (count, J, Nr, Nt) or a pair (U, V) of its rank-one factors, not " +
                           std::to_string(uv.size()) + " items");
    return python::take_rank_one(std::move(h), python::borrow(uv[0], "U", 3, ex.device, ex.stream),
                                 python::borrow(uv[1], "V", 3, ex.device, ex.stream), targets, snr_db);
  }
  return python::take_channels(std::move(h), python::borrow(G, "G", 4, ex.device, ex.stream), targets, snr_db);
}

py::dict solve(const py::object& H, const py::object& G, const std::string& device, int targets, double snr_db,
               bool progress, solve_request& r, const py::object& model, const py::object& stream) {
  const executor ex = executor_of(device, r.threads, stream);
  r.pt = pt_of_snr_db(snr_db);
  const model_choice c = choice_of(model);
  r.model.trained = c.trained;
  r.model.untrained = c.untrained;
  solve_options o = to_options(r, ex.gpu());
  python::channel_input in = channels_of(H, G, targets, snr_db, ex);
  progress_option bar(progress, "solve " + r.algo);
  o.progress = bar.callback();
  interrupt_poll ctrl_c;
  o.stop = ctrl_c.callback();
  solve_output out;
  {
    py::gil_scoped_release free;
    out = solve_batch(ex, in.view, o);
  }
  ctrl_c.raise_pending();
  bar.finish();
  py::dict res = results_dict(std::move(out), in.where);
  py::dict inputs;
  inputs["H"] = input_note(in.h_pointer, in.h_copied);
  if (in.view.rank_one) {
    inputs["U"] = input_note(in.g_pointer, in.g_copied);
    inputs["V"] = input_note(in.v_pointer, in.v_copied);
  } else {
    inputs["G"] = input_note(in.g_pointer, in.g_copied);
  }
  res["inputs"] = inputs;
  return res;
}

/// Arrays into an owned channel set (training keeps its data for many epochs).
channel_set owned_channels(const py::object& H, const py::object& G, int targets, double snr_db, const executor& ex) {
  const python::channel_input in = channels_of(H, G, targets, snr_db, ex);
  channel_set cs = copy_of(in.view);
  cs.snr_db = snr_db;
  validate(cs);
  return cs;
}

/// Where a Python training keeps its checkpoint (none: empty), and whether it continues it.
struct checkpoint_option {
  std::optional<std::string> path;
  bool resume = false;
};

unfolded_model train_model(const py::object& H, const py::object& G, int targets, const train::settings& ts,
                           const train::model_shape& shape, const py::object& init, double snr_db, double delta,
                           const py::object& validation, const std::string& device, int threads, bool progress,
                           const checkpoint_option& ck, const py::object& stream) {
  if (ck.resume && !ck.path) throw std::invalid_argument("resume = True: give checkpoint = the file to continue");
  if (ck.path && ck.path->empty()) throw std::invalid_argument("checkpoint = '': name a file");
  const executor ex = executor_of(device, threads, stream);
  train::validate(ts);
  const channel_set data = owned_channels(H, G, targets, snr_db, ex);
  system_params<double> sys;
  sys.pt = pt_of_snr_db(snr_db);
  sys.delta = delta;
  {
    solve_options o;
    o.sys = sys;
    validate(o, data.dims);
  }
  channel_set val;
  if (!validation.is_none()) {
    const py::tuple v = validation.cast<py::tuple>();
    if (v.size() != 2) throw py::type_error("validation: expected a pair (H, G)");
    val = owned_channels(v[0], v[1], targets, snr_db, ex);
  }
  const std::optional<unfolded_model> start = model_of(init);
  train::checkpoint c;
  if (ck.resume)
    c = train::resume_checkpoint(*ck.path, shape);  // train::run refuses changed data or settings
  else
    c.model = train::initial_model(shape, start ? &*start : nullptr, "a jcas.Model");
  std::optional<host::progress_bar> bar;
  if (progress) bar.emplace("train");
  train::callbacks cb;
  if (bar)
    cb.on_batch = [&](int e, int b, int nb, double loss) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "epoch %d loss %.4f", e, loss);
      bar->update(long(e - 1) * nb + b, long(ts.epochs) * nb, extra);
    };
  const std::vector<channel_set> vals = train::validation_sets(val, ts);
  if (!vals.empty())
    cb.validate = [&](const unfolded_model& m) { return train::validation_objective(ex, vals, m, sys); };
  if (ck.path) cb.on_epoch = [&](const train::checkpoint& cc) { train::write_checkpoint(*ck.path, cc); };
  interrupt_poll ctrl_c;
  cb.stop = ctrl_c.callback();
  {
    py::gil_scoped_release free;
    train::run(data, sys, ts, c, cb, ex);
  }
  ctrl_c.raise_pending();
  if (bar) bar->finish();
  c.model.provenance = train::provenance("arrays (Python)", data, ts, shape, sys, start ? "a jcas.Model" : "",
                                         start ? &*start : nullptr);
  return c.model;
}

py::dict stats_dict(const mc::stats& r) {
  py::dict d;
  d["realizations"] = r.n;
  d["mean_objective"] = r.mean;
  d["ci95_objective"] = r.ci95;
  d["min_sinr_db"] = r.min_sinr_db;
  d["min_scnr_db"] = r.min_scnr_db;
  d["q05"] = r.q05;
  d["q25"] = r.q25;
  d["q50"] = r.q50;
  d["q75"] = r.q75;
  d["q95"] = r.q95;
  d["sampled"] = r.sampled;
  return d;
}

py::dict montecarlo(long count, const std::vector<std::string>& algos, std::uint64_t seed, const py::object& model,
                    const std::string& device, int threads, std::optional<long> chunk, double delta, double snr_db,
                    const std::string& preset, bool progress, const py::kwargs& kw) {
  const executor ex = executor_of(device, threads);
  mc::settings s;
  s.sc = scenario_of(preset, kw);
  s.seed = seed;
  if (count < 1) reject("count", double(count), "must be >= 1");
  s.count = count;
  s.device = ex.device;
  s.chunk = chunk ? *chunk : ex.gpu() ? 65536 : 4096;
  if (s.chunk < 1) reject("chunk", double(s.chunk), "must be >= 1");
  s.algos.clear();
  for (const std::string& a : algos) s.algos.push_back(parse_algorithm(a));
  if (s.algos.empty()) throw std::invalid_argument("algos = (): name at least one algorithm");
  s.solve.sys.pt = pt_of_snr_db(snr_db);
  s.solve.sys.delta = delta;
  s.solve.model = resolve_model(choice_of(model), delta);
  s.solve.threads = ex.threads;
  validate(s.solve, s.sc.dims);
  interrupt_poll ctrl_c;
  s.solve.stop = ctrl_c.callback();
  mc::state st;
  progress_option bar(progress, "montecarlo");
  {
    py::gil_scoped_release free;
    mc::run(s, st, bar.callback(), {});
  }
  ctrl_c.raise_pending();
  bar.finish();
  py::dict r;
  for (size_t i = 0; i < s.algos.size(); ++i)
    r[py::str(to_string(s.algos[i]))] = stats_dict(mc::summarize(st.algos[i]));
  return r;
}

}  // namespace

PYBIND11_MODULE(jcas, m) {
  m.doc() =
      "jcas: beamforming for joint communications and sensing (deep-unfolded and classic solvers).\n"
      "Arrays: H (count, Nt, K) and G (count, J, Nr, Nt) complex; read without a copy when complex128 in\n"
      "the solver's layout (each matrix column-major: what jcas.generate returns), else copied (the\n"
      "result's 'inputs' entry says which and why).";
  m.attr("__version__") = jcas::version();
  // A call ended by interrupt_poll: Python's pending exception (KeyboardInterrupt) is the
  // answer; a stop without one (none here) reads as KeyboardInterrupt with the library's words.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const stopped& e) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });

  py::class_<unfolded_model>(m, "Model", "Parameters of the unfolded optimiser (jcas train / jcas.train).")
      .def(py::init<>())
      .def_readonly("l_out", &unfolded_model::l_out)
      .def_readonly("l_in", &unfolded_model::l_in)
      .def_readonly("i_w", &unfolded_model::i_w)
      .def_readonly("frozen", &unfolded_model::frozen)
      .def_readonly("mu_c", &unfolded_model::mu_c)
      .def_readonly("mu_s", &unfolded_model::mu_s)
      .def_readonly("per_layer_mu", &unfolded_model::per_layer_mu)
      .def_readonly("provenance", &unfolded_model::provenance)
      .def_property_readonly("w0", [](const unfolded_model& x) { return x.w0 == w0_method::zf ? "zf" : "mrt"; })
      .def_property_readonly("layer_repeat",
                             [](const unfolded_model& x) -> py::object {
                               if (x.layer_repeat == 0) return py::str("users");
                               return py::int_(x.layer_repeat);
                             })
      .def_property_readonly("beta",
                             [](const unfolded_model& x) {
                               unfolded_model f = x;
                               f.finalize();
                               return python::to_numpy(std::vector<double>(f.beta), {f.l_out, f.l_in}, {f.l_in, 1});
                             })
      .def(
          "save", [](const unfolded_model& x, const std::string& path) { io::write_model(path, x); }, py::arg("path"),
          "Writes the model file (HDF5, atomically).")
      .def("__repr__", [](const unfolded_model& x) {
        return "jcas.Model(l_out=" + std::to_string(x.l_out) + ", l_in=" + std::to_string(x.l_in) +
               ", mu_c=" + std::to_string(x.mu_c) + ", mu_s=" + std::to_string(x.mu_s) + ")";
      });

  py::class_<python::device_array>(m, "DeviceArray",
                                   "A result in GPU memory (inputs on a GPU): torch.from_dlpack(a), "
                                   "cupy.from_dlpack(a), or a.numpy() for a host copy.")
      .def("__dlpack__", &python::device_array::dlpack, py::arg("stream") = py::none())
      .def("__dlpack_device__", &python::device_array::dlpack_device)
      .def_property_readonly("__cuda_array_interface__", &python::device_array::cuda_array_interface)
      .def_property_readonly("shape", [](const python::device_array& a) { return py::tuple(py::cast(a.shape())); })
      .def("numpy", &python::device_array::numpy);

  m.def(
      "load_model", [](const std::string& path) { return io::read_model(path); }, py::arg("path"),
      "Reads a model file written by jcas train or Model.save.");
  m.def("shipped_model", &shipped_model, py::arg("delta") = 1.0,
        "The unfolded model shipped with jcas for this delta (the one trained for the nearest delta;\n"
        "models/, tools/train_models.sh): what solve and montecarlo run when model is None.");

  m.def("generate", &generate, py::arg("count"), py::arg("seed") = 1, py::arg("first") = 0, py::kw_only(),
        py::arg("device") = "cpu", py::arg("threads") = 0, py::arg("preset") = "code", py::arg("rank_one") = false,
        "Channels of realizations first .. first+count-1 of the scenario: (H, G) as NumPy complex128\n"
        "arrays in the solver's layout; rank_one=True: G as its line-of-sight factors, a pair (U, V) of\n"
        "(count, J, Nr) and (count, J, Nt) with G_j = u_j v_j^H, 5.7x less memory at the default sizes,\n"
        "which solve and train take in G's place. Scenario options as jcas generate's, with underscores:\n"
        "users, targets, clutter, nt, nr, user_dist, user_dist_std, sens_dist, sens_dist_std, height,\n"
        "zeta0_db, eps_c, eps_s, angle_min, angle_max, rician_k, noise_db, independent_clutter.");

  const solve_request defaults{};
  const ao_settings& ao = defaults.ao;
  const ascent_settings& as = defaults.ascent;
  m.def(
      "solve",
      [](const py::object& H, const py::object& G, const std::string& algo, const py::object& model,
         const std::string& device, const std::string& precision, int targets, double snr_db, double delta, int threads,
         bool progress, std::optional<int> outer, std::optional<int> inner, std::optional<int> iw, bool frozen,
         std::optional<double> mu, int max_outer, double outer_tol, double inner_tol, double step, double ascent_mu,
         double ascent_mu_last, int ascent_stages, int ascent_steps, double ascent_tol,
         const std::string& ascent_starts, std::uint64_t ascent_seed, const std::string& f0,
         std::optional<std::string> w0, const py::object& layer_repeat, const std::string& products, bool simd,
         double gpu_watchdog, int team_lanes, const py::object& stream) {
        solve_request r;
        r.algo = algo;
        r.precision = precision;
        r.delta = delta;
        r.threads = threads;
        r.model.outer = outer;
        r.model.inner = inner;
        r.model.iw = iw;
        r.model.frozen = frozen;
        r.mu = mu;
        r.ao.max_outer = max_outer;
        r.ao.outer_tol = outer_tol;
        r.ao.inner_tol = inner_tol;
        r.ao.fixed_step = step;
        r.ascent.mu_first = ascent_mu;
        r.ascent.mu_last = ascent_mu_last;
        r.ascent.stages = ascent_stages;
        r.ascent.max_steps = ascent_steps;
        r.ascent.tol = ascent_tol;
        r.ascent.seed = ascent_seed;
        r.ascent_starts = ascent_starts;
        r.f0 = f0;
        r.w0 = w0;
        if (!layer_repeat.is_none()) r.model.layer_repeat = layer_repeat_of(layer_repeat);
        r.products = products;
        r.simd = simd;
        r.gpu_watchdog = gpu_watchdog;
        r.team_lanes = team_lanes;
        return solve(H, G, device, targets, snr_db, progress, r, model, stream);
      },
      py::arg("H"), py::arg("G"), py::arg("algo") = defaults.algo, py::arg("model") = py::none(),
      py::arg("device") = "cpu", py::arg("precision") = defaults.precision, py::kw_only(),
      py::arg("targets") = problem_dims{}.m, py::arg("snr_db") = 20.0, py::arg("delta") = 1.0, py::arg("threads") = 0,
      py::arg("progress") = false, py::arg("outer") = py::none(), py::arg("inner") = py::none(),
      py::arg("iw") = py::none(), py::arg("frozen") = false, py::arg("mu") = py::none(),
      py::arg("max_outer") = ao.max_outer, py::arg("outer_tol") = ao.outer_tol, py::arg("inner_tol") = ao.inner_tol,
      py::arg("step") = ao.fixed_step, py::arg("ascent_mu") = as.mu_first, py::arg("ascent_mu_last") = as.mu_last,
      py::arg("ascent_stages") = as.stages, py::arg("ascent_steps") = as.max_steps, py::arg("ascent_tol") = as.tol,
      py::arg("ascent_starts") = defaults.ascent_starts, py::arg("ascent_seed") = as.seed, py::arg("f0") = defaults.f0,
      py::arg("w0") = py::none(), py::arg("layer_repeat") = py::none(), py::arg("products") = defaults.products,
      py::arg("simd") = defaults.simd, py::arg("gpu_watchdog") = defaults.gpu_watchdog,
      py::arg("team_lanes") = defaults.team_lanes, py::arg("stream") = py::none(),
      "Runs a solver on every realization of (H, G); G may be a pair (U, V) of its rank-one factors\n"
      "(jcas.generate(rank_one=True)). Returns a dict: W (count, Nt, K), F (count, Nr, M),\n"
      "curve, objective, min_sinr, min_scnr (linear), outer, inner, seconds, the summary (mean_objective,\n"
      "min_sinr_db, min_scnr_db, mean_iterations) and 'inputs' (each array's pointer and whether it was\n"
      "copied, and why; U and V in G's place). Results are NumPy arrays, or jcas.DeviceArray where\n"
      "the inputs were on a GPU.\n"
      "targets: M, the first M of G's J blocks (the rest are clutter). model: None (the model shipped\n"
      "for delta; untrained where outer/inner are given), 'untrained', a path or a jcas.Model.\n"
      "layer_repeat: each layer run N times, or 'users' (by K); default the model's (the shipped: 'users').\n"
      "stream (device='cuda'): the caller's CUDA stream (a torch.cuda.Stream, cupy Stream or int) whose\n"
      "queued work, e.g. the kernels writing H and G, precedes the solve. Options as jcas solve's.");

  const train::settings ts{};
  const train::model_shape shape{};
  m.def(
      "train",
      [](const py::object& H, const py::object& G, int targets, int epochs, int batch, double lr, double weight_decay,
         double lr_decay, double mu_lr_factor, std::uint64_t seed, const std::vector<int>& users_mix, int outer,
         int inner, int iw, bool frozen, bool per_layer_mu, const std::string& w0, const py::object& layer_repeat,
         double final_weight, const py::object& init, double snr_db, double delta, const py::object& validation,
         const std::string& device, int threads, bool progress, const std::optional<std::string>& checkpoint,
         bool resume, const py::object& stream) {
        train::settings s;
        s.epochs = epochs;
        s.batch = batch;
        s.lr = lr;
        s.weight_decay = weight_decay;
        s.lr_decay = lr_decay;
        s.mu_lr_factor = mu_lr_factor;
        s.seed = seed;
        s.users_mix = users_mix;
        train::model_shape sh;
        sh.outer = outer;
        sh.inner = inner;
        sh.iw = iw;
        sh.frozen = frozen;
        sh.per_layer_mu = per_layer_mu;
        sh.w0 = parse_w0(w0);
        sh.final_weight = final_weight;
        sh.layer_repeat = layer_repeat_of(layer_repeat);
        return train_model(H, G, targets, s, sh, init, snr_db, delta, validation, device, threads, progress,
                           {checkpoint, resume}, stream);
      },
      py::arg("H"), py::arg("G"), py::kw_only(), py::arg("targets") = problem_dims{}.m, py::arg("epochs") = ts.epochs,
      py::arg("batch") = ts.batch, py::arg("lr") = ts.lr, py::arg("weight_decay") = ts.weight_decay,
      py::arg("lr_decay") = ts.lr_decay, py::arg("mu_lr_factor") = ts.mu_lr_factor, py::arg("seed") = ts.seed,
      py::arg("users_mix") = std::vector<int>{}, py::arg("outer") = shape.outer, py::arg("inner") = shape.inner,
      py::arg("iw") = shape.iw, py::arg("frozen") = false, py::arg("per_layer_mu") = false, py::arg("w0") = "mrt",
      py::arg("layer_repeat") = 1, py::arg("final_weight") = 0.0, py::arg("init") = py::none(),
      py::arg("snr_db") = 20.0, py::arg("delta") = 1.0, py::arg("validation") = py::none(), py::arg("device") = "cpu",
      py::arg("threads") = 0, py::arg("progress") = false, py::arg("checkpoint") = py::none(),
      py::arg("resume") = false, py::arg("stream") = py::none(),
      "Trains the unfolded optimiser on (H, G) (copied: training keeps its data for every epoch) and\n"
      "returns the jcas.Model; the same model as jcas train for the same channels and settings.\n"
      "checkpoint=PATH writes the training state there after every epoch (jcas train's .ckpt.h5);\n"
      "resume=True continues it (the same channels and settings, else ValueError naming the field)\n"
      "to the same model as an uninterrupted run. users_mix=[2, 4, ..., 12] trains one model for\n"
      "all these K (jcas train --users-mix): each realization of a batch at its K, on its first K users.\n"
      "The GIL is released while it trains: models trained in several Python threads at once train\n"
      "side by side (on a GPU each on a stream of its own, as jcas train with several --out files).");

  m.def("montecarlo", &montecarlo, py::arg("count"), py::arg("algos") = std::vector<std::string>{"unfolded"},
        py::kw_only(), py::arg("seed") = 1, py::arg("model") = py::none(), py::arg("device") = "cpu",
        py::arg("threads") = 0, py::arg("chunk") = py::none(), py::arg("delta") = 1.0, py::arg("snr_db") = 20.0,
        py::arg("preset") = "code", py::arg("progress") = false,
        "Statistics of each algorithm over `count` realizations generated chunk by chunk (memory bounded\n"
        "whatever the count): {algo: {realizations, mean_objective, ci95_objective, min_sinr_db,\n"
        "min_scnr_db, q05, q25, q50, q75, q95, sampled}}. Scenario options as generate's.");

  m.def(
      "device_count",
      [] {
        std::string why;
        return cuda::device_count(&why);
      },
      "Usable CUDA devices (0 without a GPU, a driver, or a CUDA build).");
}
