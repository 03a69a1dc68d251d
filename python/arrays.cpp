#include "arrays.hpp"

#include <cstring>
#include <stdexcept>

namespace jcas::python {

namespace {

std::string where_name(const place& p) { return p.gpu() ? "cuda:" + std::to_string(p.device) : "the host"; }

std::string dims_text(const std::vector<std::int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

/// Row-major element strides of a shape (DLPack's meaning of absent strides).
std::vector<std::int64_t> row_major(const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

[[noreturn]] void dtype_error(const std::string& name, const std::string& dtype) {
  throw py::type_error(name + ": dtype " + dtype + "; expected complex128 (complex64 is converted)");
}

borrowed from_numpy(const py::array& a, const std::string& name) {
  const py::dtype dt = a.dtype();
  if (dt.kind() != 'c' || (dt.itemsize() != 16 && dt.itemsize() != 8))
    dtype_error(name, py::str(static_cast<const py::handle&>(dt)).cast<std::string>());
  borrowed b;
  b.name = name;
  b.bits = int(dt.itemsize()) * 8;
  b.data = a.data();
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    b.shape.push_back(a.shape(i));
    if (a.strides(i) % dt.itemsize() != 0) {  // unaligned strides: a contiguous copy by NumPy
      const py::array c = py::module_::import("numpy").attr("ascontiguousarray")(a);
      return from_numpy(c, name);
    }
    b.strides.push_back(a.strides(i) / dt.itemsize());
  }
  b.owner = a;
  return b;
}

void release_dltensor(DLManagedTensor* t) {
  if (t && t->deleter) t->deleter(t);
}

borrowed from_dlpack(const py::handle& obj, const std::string& name, std::uintptr_t stream) {
  // A producer on a GPU orders its pending work before the stream the consumer names
  // (DLPack: 1 = the legacy default stream, the one jcas reads on); on the CPU no stream.
  int type = kDLCPU;
  if (py::hasattr(obj, "__dlpack_device__")) type = obj.attr("__dlpack_device__")().cast<py::tuple>()[0].cast<int>();
  py::object cap = type == kDLCUDA || type == kDLCUDAManaged
                       ? obj.attr("__dlpack__")(py::arg("stream") = stream > 0 ? stream : std::uintptr_t(1))
                       : obj.attr("__dlpack__")();
  PyObject* c = cap.ptr();
  if (!PyCapsule_IsValid(c, "dltensor")) throw py::type_error(name + ": __dlpack__ did not return a DLPack capsule");
  auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
  if (PyCapsule_SetName(c, "used_dltensor") != 0) throw py::error_already_set();
  borrowed b;
  b.name = name;
  b.managed = {t, release_dltensor};  // ours now: released after the call
  const DLTensor& d = t->dl_tensor;
  if (d.dtype.code != kDLComplex || d.dtype.lanes != 1 || (d.dtype.bits != 128 && d.dtype.bits != 64)) {
    const std::string kind = d.dtype.code == kDLFloat     ? "float"
                             : d.dtype.code == kDLInt     ? "int"
                             : d.dtype.code == kDLUInt    ? "uint"
                             : d.dtype.code == kDLComplex ? "complex"
                                                          : "(DLPack code " + std::to_string(d.dtype.code) + ") ";
    dtype_error(name,
                kind + std::to_string(d.dtype.bits) + (d.dtype.lanes != 1 ? " x" + std::to_string(d.dtype.lanes) : ""));
  }
  b.bits = d.dtype.bits;
  if (d.device.device_type == kDLCPU || d.device.device_type == kDLCUDAHost)
    b.where = {};
  else if (d.device.device_type == kDLCUDA)
    b.where = {int(d.device.device_id)};
  else
    throw py::type_error(name + ": DLPack device type " + std::to_string(int(d.device.device_type)) +
                         "; expected the CPU or a CUDA device");
  b.data = static_cast<const char*>(d.data) + d.byte_offset;
  b.shape.assign(d.shape, d.shape + d.ndim);
  b.strides = d.strides ? std::vector<std::int64_t>(d.strides, d.strides + d.ndim) : row_major(b.shape);
  b.owner = py::reinterpret_borrow<py::object>(obj);
  return b;
}

borrowed from_cuda_interface(const py::handle& obj, const std::string& name, int device) {
  const py::dict cai = obj.attr("__cuda_array_interface__");
  // Version 3: the stream the data are being written on, which the consumer waits for.
  if (cai.contains("stream") && !cai["stream"].is_none())
    cuda::order_after(cai["stream"].cast<std::uintptr_t>(), device);
  const std::string ts = cai["typestr"].cast<std::string>();
  borrowed b;
  b.name = name;
  if (ts == "<c16")
    b.bits = 128;
  else if (ts == "<c8")
    b.bits = 64;
  else
    dtype_error(name, ts);
  b.data = reinterpret_cast<const void*>(cai["data"].cast<py::tuple>()[0].cast<std::uintptr_t>());
  for (auto e : cai["shape"].cast<py::tuple>()) b.shape.push_back(e.cast<std::int64_t>());
  if (cai.contains("strides") && !cai["strides"].is_none())
    for (auto e : cai["strides"].cast<py::tuple>()) b.strides.push_back(e.cast<std::int64_t>() / (b.bits / 8));
  else
    b.strides = row_major(b.shape);
  b.where = {device};  // the interface names no device: the one the call runs on
  b.owner = py::reinterpret_borrow<py::object>(obj);
  return b;
}

/// True where element strides s address `shape` as the canonical strides c do (a
/// dimension of extent 1 may have any stride).
bool same_layout(const borrowed& a, const std::vector<std::int64_t>& c) {
  for (size_t i = 0; i < c.size(); ++i)
    if (a.shape[i] != 1 && a.strides[i] != c[i]) return false;
  return true;
}

/// a's elements in canonical order (strides c) as complex<double>, read from the host or
/// the device.
std::vector<zd> gather(const borrowed& a, const std::vector<std::int64_t>& c) {
  long n = 1;
  for (auto e : a.shape) n *= long(e);
  std::vector<zd> out(static_cast<size_t>(n));
  if (n == 0) return out;
  const std::size_t elem = std::size_t(a.bits / 8);
  const char* base = static_cast<const char*>(a.data);
  std::vector<char> staged;  // device memory copied to the host first
  if (a.where.gpu()) {
    std::int64_t span = 1;
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (a.strides[i] < 0) throw py::value_error(a.name + ": negative strides on a GPU are not supported");
      span += (a.shape[i] - 1) * a.strides[i];
    }
    staged.resize(std::size_t(span) * elem);
    cuda::copy_to_host(staged.data(), a.data, staged.size(), a.where.device);
    base = staged.data();
  }
  std::vector<std::int64_t> idx(a.shape.size(), 0);
  for (long e = 0; e < n; ++e) {
    std::int64_t src = 0, dst = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      src += idx[i] * a.strides[i];
      dst += idx[i] * c[i];
    }
    if (a.bits == 128) {
      std::memcpy(&out[size_t(dst)], base + src * std::int64_t(elem), sizeof(zd));
    } else {
      std::complex<float> z;
      std::memcpy(&z, base + src * std::int64_t(elem), sizeof z);
      out[size_t(dst)] = zd(z);
    }
    for (size_t i = idx.size(); i-- > 0;) {  // next index, last dimension fastest
      if (++idx[i] < a.shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/// Points *at at a's memory where it can be read in place, else fills `copy` and
/// returns why it was copied.
std::string take(const borrowed& a, const std::vector<std::int64_t>& c, const zd*& at, std::vector<zd>& copy,
                 const std::string& layout) {
  std::string why;
  if (a.where.gpu())
    why = "on " + where_name(a.where) + ": the CUDA backend reads host memory";
  else if (a.bits != 128)
    why = "complex64: converted to complex128";
  else if (!same_layout(a, c))
    why = "strides " + dims_text(a.strides) + " (elements) are not the solver's layout " + layout + ", strides " +
          dims_text(c);
  if (why.empty()) {
    at = static_cast<const zd*>(a.data);
    return why;
  }
  copy = gather(a, c);
  at = copy.data();
  return why;
}

}  // namespace

std::uintptr_t stream_of(const py::object& s) {
  if (s.is_none()) return 0;
  if (py::isinstance<py::int_>(s)) {
    const long long v = s.cast<long long>();
    if (v < 0) throw py::value_error("stream = " + std::to_string(v) + ": a cudaStream_t is not negative");
    return std::uintptr_t(v);
  }
  for (const char* attr : {"cuda_stream", "ptr"})
    if (py::hasattr(s, attr)) return stream_of(s.attr(attr));
  throw py::type_error("stream: expected None, an int (a cudaStream_t) or a stream with .cuda_stream or .ptr, not " +
                       py::str(s.get_type().attr("__name__")).cast<std::string>());
}

borrowed borrow(const py::handle& obj, const std::string& name, int rank, int device, std::uintptr_t stream) {
  borrowed b;
  if (py::isinstance<py::array>(obj))
    b = from_numpy(py::reinterpret_borrow<py::array>(obj), name);
  else if (py::hasattr(obj, "__dlpack__"))
    b = from_dlpack(obj, name, stream);
  else if (py::hasattr(obj, "__cuda_array_interface__"))
    b = from_cuda_interface(obj, name, device < 0 ? 0 : device);
  else
    b = from_numpy(py::module_::import("numpy").attr("asarray")(obj), name);
  // Memory on a GPU is read (copied) here, before the solve: the caller's stream first,
  // whichever interface handed it over (a DLPack producer has ordered its own work before
  // the stream it was given).
  if (b.where.gpu()) cuda::order_after(stream, b.where.device);
  if (int(b.shape.size()) != rank)
    throw py::value_error(name + ": " + std::to_string(b.shape.size()) + " dimensions " + dims_text(b.shape) +
                          "; expected " + std::to_string(rank));
  return b;
}

namespace {
/// The sizes of H (count, Nt, K) beside a G-side array `g` of `count_g` realizations, J
/// blocks of Nr rows and `nt_g` transmit antennas (G itself, or U and V), checked.
problem_dims checked_dims(const borrowed& h, const borrowed& g, std::int64_t j, std::int64_t nr, std::int64_t nt_g,
                          const std::string& nt_axis, int targets) {
  const std::int64_t count = h.shape[0], nt = h.shape[1], k = h.shape[2];
  if (g.shape[0] != count)
    throw py::value_error(g.name + ": " + std::to_string(g.shape[0]) + " realizations; H has " + std::to_string(count));
  if (nt_g != nt)
    throw py::value_error(g.name + ": Nt = " + std::to_string(nt_g) + " (" + nt_axis +
                          "); H has Nt = " + std::to_string(nt) + " (its second axis)");
  if (h.where.device != g.where.device)
    throw py::value_error("H is on " + where_name(h.where) + ", " + g.name + " on " + where_name(g.where) +
                          ": pass them on one device");
  if (targets < 1 || targets > j)
    reject("targets", targets,
           "must be in 1 .. J = " + std::to_string(j) + " (" + g.name + "'s second axis: targets, then clutter)");
  for (auto e : {nt, k, j, nr})
    if (e < 1 || e > (1 << 20)) reject("dimension", double(e), "must be in 1 .. 2^20");
  problem_dims d;
  d.nt = index_t(nt);
  d.nr = index_t(nr);
  d.k = index_t(k);
  d.m = index_t(targets);
  d.c = index_t(j - targets);
  return d;
}
}  // namespace

channel_input take_channels(borrowed h, borrowed g, int targets, double snr_db) {
  // H (count, Nt, K); G (count, J, Nr, Nt).
  const std::int64_t count = h.shape[0], nt = h.shape[1], k = h.shape[2];
  const std::int64_t j = g.shape[1], nr = g.shape[2];
  const problem_dims d = checked_dims(h, g, j, nr, g.shape[3], "its last axis", targets);
  channel_input in;
  in.where = h.where;
  const zd *hp = nullptr, *gp = nullptr;
  in.h_copied = take(h, {nt * k, 1, nt}, hp, in.h_copy, "(count, Nt, K)");
  in.g_copied = take(g, {j * nr * nt, nr * nt, 1, nr}, gp, in.g_copy, "(count, J, Nr, Nt)");
  in.h_pointer = h.data;
  in.g_pointer = g.data;
  in.view = channel_view(d, long(count), hp, gp, snr_db);
  return in;
}

channel_input take_rank_one(borrowed h, borrowed u, borrowed v, int targets, double snr_db) {
  // H (count, Nt, K); U (count, J, Nr); V (count, J, Nt).
  const std::int64_t count = h.shape[0], nt = h.shape[1], k = h.shape[2];
  const std::int64_t j = u.shape[1], nr = u.shape[2];
  if (v.shape[1] != j)
    throw py::value_error("V: J = " + std::to_string(v.shape[1]) +
                          " (its second axis); U has J = " + std::to_string(j));
  checked_dims(h, v, j, nr, v.shape[2], "its last axis", targets);
  const problem_dims d = checked_dims(h, u, j, nr, nt, "", targets);
  channel_input in;
  in.where = h.where;
  const zd *hp = nullptr, *up = nullptr, *vp = nullptr;
  in.h_copied = take(h, {nt * k, 1, nt}, hp, in.h_copy, "(count, Nt, K)");
  in.g_copied = take(u, {j * nr, nr, 1}, up, in.g_copy, "(count, J, Nr)");
  in.v_copied = take(v, {j * nt, nt, 1}, vp, in.v_copy, "(count, J, Nt)");
  in.h_pointer = h.data;
  in.g_pointer = u.data;
  in.v_pointer = v.data;
  in.view = channel_view(d, long(count), hp, nullptr, snr_db);
  in.view.rank_one = true;
  in.view.gu = up;
  in.view.gv = vp;
  return in;
}

// ---- device_array ----

struct device_array::shared {
  void* p = nullptr;
  int device = 0;
  ~shared() { cuda::device_free(p, device); }
};

namespace {
/// What a DLPack export keeps alive: the allocation and the shape / strides it points to.
struct export_ctx {
  std::shared_ptr<void> mem;
  std::vector<std::int64_t> shape, strides;
};
void delete_export(DLManagedTensor* t) {
  delete static_cast<export_ctx*>(t->manager_ctx);
  delete t;
}
void capsule_destructor(PyObject* c) {
  if (PyCapsule_IsValid(c, "dltensor"))  // never consumed
    delete_export(static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor")));
}
}  // namespace

device_array::device_array(const void* host, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
                           int code, int bits, int device)
    : mem_(std::make_shared<shared>()),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      code_(code),
      bits_(bits),
      device_(device) {
  std::int64_t n = 1;
  for (auto e : shape_) n *= e;
  bytes_ = std::size_t(n) * std::size_t(bits / 8);
  mem_->device = device;
  mem_->p = cuda::device_alloc(bytes_ ? bytes_ : 1, device);
  if (bytes_) cuda::copy_to_device(mem_->p, host, bytes_, device);
}

device_array::~device_array() = default;

py::capsule device_array::dlpack(const py::object&) const {
  // The copy into this memory was synchronous: no stream needs to wait for it.
  auto* ctx = new export_ctx{std::shared_ptr<void>(mem_, mem_->p), shape_, strides_};
  auto* t = new DLManagedTensor{};
  t->dl_tensor.data = mem_->p;
  t->dl_tensor.device = {kDLCUDA, device_};
  t->dl_tensor.ndim = int(shape_.size());
  t->dl_tensor.dtype = {std::uint8_t(code_), std::uint8_t(bits_), 1};
  t->dl_tensor.shape = ctx->shape.data();
  t->dl_tensor.strides = ctx->strides.data();
  t->manager_ctx = ctx;
  t->deleter = delete_export;
  return py::capsule(t, "dltensor", capsule_destructor);
}

py::tuple device_array::dlpack_device() const { return py::make_tuple(int(kDLCUDA), device_); }

std::string device_array::typestr() const {
  const char kind = code_ == kDLComplex ? 'c' : code_ == kDLFloat ? 'f' : 'i';
  return std::string("<") + kind + std::to_string(bits_ / 8);
}

py::dict device_array::cuda_array_interface() const {
  py::list shape, strides;
  for (auto e : shape_) shape.append(e);
  for (auto e : strides_) strides.append(e * (bits_ / 8));
  py::dict d;
  d["shape"] = py::tuple(shape);
  d["strides"] = py::tuple(strides);
  d["typestr"] = typestr();
  d["data"] = py::make_tuple(reinterpret_cast<std::uintptr_t>(mem_->p), false);
  d["version"] = 3;
  d["stream"] = py::none();  // written synchronously
  return d;
}

py::object device_array::numpy() const {
  std::vector<char> host(bytes_);
  if (bytes_) cuda::copy_to_host(host.data(), mem_->p, bytes_, device_);
  std::vector<py::ssize_t> shape(shape_.begin(), shape_.end()), strides;
  for (auto e : strides_) strides.push_back(py::ssize_t(e * (bits_ / 8)));
  py::array a(py::dtype(typestr()), shape, strides);
  if (bytes_) std::memcpy(a.mutable_data(), host.data(), bytes_);
  return a;
}

}  // namespace jcas::python
