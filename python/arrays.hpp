// Arrays between Python and the solver: the caller's arrays read in place where their
// layout is the solver's (channel_view), copied otherwise; results handed to NumPy
// without a copy, or, for inputs that live on a GPU, to device memory that PyTorch and
// CuPy take through DLPack or __cuda_array_interface__.
//
// The solver's layout (jcas/api.hpp): realization slowest, each matrix column-major. In
// NumPy terms H (count, Nt, K) with element strides (Nt K, 1, Nt) and G (count, J, Nr, Nt)
// with (J Nr Nt, Nr Nt, 1, Nr): what jcas.generate returns and what H.transpose(0, 2, 1)
// of a C-contiguous (count, K, Nt) array is. A C-contiguous (count, Nt, K) array (an
// h5py read of a channel file) is another layout: it is copied, and the result says so.
#pragma once
#include <dlpack/dlpack.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jcas/api.hpp"
#include "jcas/cuda_backend.hpp"

namespace jcas::python {

namespace py = pybind11;

/// Where an array lives: the host (-1) or a CUDA device.
struct place {
  int device = -1;
  bool gpu() const { return device >= 0; }
};

/// An array the caller passed: its memory as DLPack describes it (element strides), and
/// what keeps that memory alive for the call.
struct borrowed {
  std::string name;  // "H", "G": for messages
  const void* data = nullptr;
  std::vector<std::int64_t> shape, strides;  // strides in elements
  int bits = 0;                              // 128: complex128, 64: complex64
  place where;
  py::object owner;                                                    // NumPy array or the object itself
  std::unique_ptr<DLManagedTensor, void (*)(DLManagedTensor*)> managed{// a consumed DLPack capsule
                                                                       nullptr, [](DLManagedTensor*) {}};
};

/// The array's memory, from NumPy's buffer, a DLPack producer (__dlpack__: PyTorch, CuPy,
/// JAX) or __cuda_array_interface__ (Numba, CuPy); anything else is converted by
/// numpy.asarray. Raises TypeError for a dtype that is not complex (complex64 and
/// complex128 are taken; the solver computes in double or in f32 by `precision`), and
/// ValueError for another rank. `device`: the CUDA device the call runs on, where
/// __cuda_array_interface__ (which names none) says the memory is on a GPU. `stream`: the
/// caller's stream (executor::stream; 0 none): a DLPack producer on a GPU is asked to
/// order its work before it (before the legacy default stream jcas reads on where 0), and
/// the stream an __cuda_array_interface__ names is waited for (cuda::order_after).
borrowed borrow(const py::handle& obj, const std::string& name, int rank, int device, std::uintptr_t stream = 0);

/// A stream argument: None (0), an int (a cudaStream_t; 1 and 2 the legacy and per-thread
/// default streams), or a stream object with .cuda_stream (PyTorch) or .ptr (CuPy).
std::uintptr_t stream_of(const py::object& s);

/// A view of H and G in the solver's layout: the caller's memory where it already is that
/// layout in complex128 on the host, else a copy (whose reason is kept).
/// For G as its rank-one factors (view.rank_one), U and V take G's place: g_* hold U's,
/// v_* V's.
struct channel_input {
  channel_view view;
  std::vector<zd> h_copy, g_copy, v_copy;
  std::string h_copied, g_copied, v_copied;  // empty: read in place; else why it was copied
  const void* h_pointer = nullptr;
  const void* g_pointer = nullptr;  // the caller's memory
  const void* v_pointer = nullptr;
  place where;  // of the inputs (all on one device)
};
/// targets: M (the first M of G's J blocks are targets, the rest clutter).
channel_input take_channels(borrowed h, borrowed g, int targets, double snr_db);
/// H with G's rank-one factors instead of G: U (count, J, Nr) and V (count, J, Nt),
/// G_j = u_j v_j^H (what jcas.generate(rank_one=True) returns).
channel_input take_rank_one(borrowed h, borrowed u, borrowed v, int targets, double snr_db);

/// A result array: owns its host vector and hands it to NumPy without a copy.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape, std::vector<py::ssize_t> strides_elems) {
  auto* keep = new std::vector<T>(std::move(v));
  py::capsule free_when_done(keep, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  for (auto& s : strides_elems) s *= py::ssize_t(sizeof(T));
  return py::array_t<T>(shape, strides_elems, keep->data(), free_when_done);
}

/// Device memory holding a result for callers whose inputs were on a GPU: exposes
/// __dlpack__ / __dlpack_device__ (torch.from_dlpack, cupy.from_dlpack) and
/// __cuda_array_interface__; .numpy() copies it to the host.
class device_array {
 public:
  device_array(const void* host, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides, int code, int bits,
               int device);
  ~device_array();
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  py::capsule dlpack(const py::object& stream) const;
  py::tuple dlpack_device() const;
  py::dict cuda_array_interface() const;
  py::object numpy() const;
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::string typestr() const;

 private:
  struct shared;  // the allocation, shared with every DLPack export
  std::shared_ptr<shared> mem_;
  std::vector<std::int64_t> shape_, strides_;
  int code_, bits_, device_;
  std::size_t bytes_ = 0;
};

/// A result vector on the inputs' place: a NumPy array (the host) or a device_array.
template <class T>
py::object result(std::vector<T>&& v, std::vector<py::ssize_t> shape, std::vector<py::ssize_t> strides,
                  const place& where) {
  if (!where.gpu()) return to_numpy<T>(std::move(v), std::move(shape), std::move(strides));
  const int code = std::is_same_v<T, zd> ? kDLComplex : std::is_floating_point_v<T> ? kDLFloat : kDLInt;
  return py::cast(std::make_unique<device_array>(v.data(), std::vector<std::int64_t>(shape.begin(), shape.end()),
                                                 std::vector<std::int64_t>(strides.begin(), strides.end()), code,
                                                 int(8 * sizeof(T)), where.device));
}

}  // namespace jcas::python
