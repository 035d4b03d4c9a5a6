// pybind11 module pyrnn._core: check arguments, allocate outputs, release the GIL,
// call the dispatched kernel. No math here. Argument names and order match
// pyrnn/reference.py; every check names the argument, what was expected and what was given.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "buffers.h"
#include "pyrnn/gemm.h"
#include "pyrnn/kernels.h"
#include "pyrnn/peak.h"
#include "pyrnn/pyrnn.h"
#include "pyrnn/threads.h"

namespace py = pybind11;
using pyrnn::kernels;

constexpr int kMaxThreads = 1024;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

template <typename T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// a's dtype is T's, natively ordered. Not dtype identity: numpy makes equal dtypes that are
// different objects (an unpickled float32 array's, for one, as multiprocessing hands over).
template <typename T>
bool has_dtype(const py::array& a) {
  const py::dtype d = a.dtype();
  const char kind = std::is_floating_point<T>::value ? 'f' : std::is_signed<T>::value ? 'i' : 'u';
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  const char order = '>';
#else
  const char order = '<';
#endif
  const char bo = d.byteorder();
  return d.kind() == kind && d.itemsize() == static_cast<py::ssize_t>(sizeof(T)) &&
         (bo == '=' || bo == '|' || bo == order);
}

// Checks a (dtype T, C-contiguous, exact shape) and returns its data pointer.
// `dims` names the axes for the message, e.g. "(T, B, I)".
template <typename T>
T* checked(const py::handle& obj, const char* name, const std::vector<int64_t>& shape,
           const char* dims, bool writable = false) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy array " + dims + ", got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name<T>() +
                         " (the dtype of x), got " + std::string(py::str(a.dtype())));
  if (shape_of(a) != shape)
    throw py::value_error(std::string(name) + ": expected shape " + dims + " = " +
                          shape_str(shape) + ", got " + shape_str(shape_of(a)));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array, got strides " +
                          std::string(py::str(py::tuple(a.attr("strides")))));
  if (writable && !a.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  // Inputs may be read-only; only `writable` ones are written through this pointer.
  return static_cast<T*>(const_cast<void*>(a.data()));
}

template <typename T>
T* checked_optional(const py::object& obj, const char* name, const std::vector<int64_t>& shape,
                    const char* dims, bool writable = false) {
  return obj.is_none() ? nullptr : checked<T>(obj, name, shape, dims, writable);
}

// Geometry shared by every cell, read from x and the weights; checks them all.
struct Geometry {
  pyrnn::SeqDims d;
  std::vector<int64_t> lengths;
};

Geometry geometry(const py::array& x, const py::array& W_ih, const py::array& W_hh, int64_t G,
                  const py::object& lengths, bool reverse) {
  if (x.ndim() != 3)
    throw py::value_error("x: expected a 3-D array (T, B, I), got shape " + shape_str(shape_of(x)));
  if (W_hh.ndim() != 2)
    throw py::value_error("W_hh: expected a 2-D array (G*H, H), got shape " +
                          shape_str(shape_of(W_hh)));
  Geometry g;
  g.d.T = x.shape(0), g.d.B = x.shape(1), g.d.I = x.shape(2), g.d.H = W_hh.shape(1);
  g.d.reverse = reverse;
  g.d.lengths = nullptr;
  if (g.d.T < 1 || g.d.B < 1 || g.d.I < 1)
    throw py::value_error("x: expected T, B, I >= 1, got shape " + shape_str(shape_of(x)));
  if (g.d.H < 1) throw py::value_error("W_hh: expected H >= 1, got shape " + shape_str(shape_of(W_hh)));
  (void)W_ih;
  if (!lengths.is_none()) {
    if (!py::isinstance<py::array>(lengths))
      throw py::type_error("lengths: expected a numpy int64 array (B,) or None");
    py::array l = py::reinterpret_borrow<py::array>(lengths);
    if (!has_dtype<int64_t>(l))
      throw py::type_error("lengths: expected dtype int64, got " + std::string(py::str(l.dtype())));
    if (l.ndim() != 1 || l.shape(0) != g.d.B)
      throw py::value_error("lengths: expected shape (B,) = (" + std::to_string(g.d.B) +
                            ",), got " + shape_str(shape_of(l)));
    auto r = l.unchecked<int64_t, 1>();
    g.lengths.resize(g.d.B);
    for (int64_t b = 0; b < g.d.B; ++b) {
      if (r(b) < 1 || r(b) > g.d.T)
        throw py::value_error("lengths: expected every length in 1..T = 1.." +
                              std::to_string(g.d.T) + ", got " + std::to_string(r(b)) +
                              " at index " + std::to_string(b));
      g.lengths[b] = r(b);
    }
    g.d.lengths = g.lengths.data();
  }
  return g;
}

template <typename T>
pyrnn::CellWeights<T> weights(const Geometry& g, int64_t G, const py::array& W_ih,
                              const py::array& W_hh, const py::object& b_ih,
                              const py::object& b_hh) {
  const int64_t GH = G * g.d.H;
  return {checked<T>(W_ih, "W_ih", {GH, g.d.I}, "(G*H, I)"),
          checked<T>(W_hh, "W_hh", {GH, g.d.H}, "(G*H, H)"),
          checked_optional<T>(b_ih, "b_ih", {GH}, "(G*H,)"),
          checked_optional<T>(b_hh, "b_hh", {GH}, "(G*H,)")};
}

template <typename T>
pyrnn::CellGrads<T> grads(const Geometry& g, int64_t G, const py::array& dW_ih,
                          const py::array& dW_hh, const py::object& db_ih,
                          const py::object& db_hh) {
  const int64_t GH = G * g.d.H;
  return {checked<T>(dW_ih, "dW_ih", {GH, g.d.I}, "(G*H, I)", true),
          checked<T>(dW_hh, "dW_hh", {GH, g.d.H}, "(G*H, H)", true),
          checked_optional<T>(db_ih, "db_ih", {GH}, "(G*H,)", true),
          checked_optional<T>(db_hh, "db_hh", {GH}, "(G*H,)", true)};
}

// Outputs and workspaces start on a cache line, so the kernels' vector loads and stores of
// whole rows never split one (with AVX-512 every 64-byte access of a 16-byte aligned buffer
// would: LSTM shape (a) inference, 1 thread, ran 69 ms instead of 42 ms in about half of
// all processes, depending on where malloc placed the workspace). buffers.h: large ones on
// huge pages, kept for reuse.
using pyrnn_bindings::aligned_delete;
using pyrnn_bindings::aligned_new;

template <typename T>
py::array_t<T> empty(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  T* p = aligned_new<T>(n);
  py::capsule owner(p, [](void* q) { aligned_delete(q); });
  return py::array_t<T>(shape, p, owner);
}

// A kernel workspace of n elements (at least 1), cache-line aligned.
template <typename T>
struct Workspace {
  explicit Workspace(int64_t n) : p_(aligned_new<T>(n)) {}
  ~Workspace() { aligned_delete(p_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

pyrnn::Activation activation(const std::string& s) {
  if (s == "tanh") return pyrnn::Activation::tanh;
  if (s == "relu") return pyrnn::Activation::relu;
  throw py::value_error("nonlinearity: expected 'tanh' or 'relu', got '" + s + "'");
}

py::tuple as_cache(const py::object& cache, size_t n, const char* fn) {
  if (!py::isinstance<py::tuple>(cache) || py::len(cache) != n)
    throw py::value_error(std::string("cache: expected the cache returned by ") + fn +
                          "(..., store_cache=True), a tuple of " + std::to_string(n) +
                          " arrays, got " + std::string(py::str(py::repr(cache))).substr(0, 80));
  return py::reinterpret_borrow<py::tuple>(cache);
}

// Calls f<float> or f<double> according to x's dtype.
template <template <typename> class F, typename... Args>
auto by_dtype(const py::array& x, Args&&... args) {
  if (has_dtype<float>(x)) return F<float>::call(std::forward<Args>(args)...);
  if (has_dtype<double>(x)) return F<double>::call(std::forward<Args>(args)...);
  throw py::type_error("x: expected dtype float32 or float64, got " + std::string(py::str(x.dtype())));
}

// ---- RNN ----
template <typename T>
struct RnnForward {
  static py::tuple call(py::array x, py::array h0, py::array W_ih, py::array W_hh,
                        py::object b_ih, py::object b_hh, py::object lengths, bool reverse,
                        std::string nonlinearity, bool store_cache) {
    (void)store_cache;  // backward needs only `out`
    auto act = activation(nonlinearity);
    Geometry g = geometry(x, W_ih, W_hh, 1, lengths, reverse);
    const auto& d = g.d;
    auto w = weights<T>(g, 1, W_ih, W_hh, b_ih, b_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    auto out = empty<T>({d.T, d.B, d.H});
    auto h_n = empty<T>({d.B, d.H});
    Workspace<T> work(kernels<T>().rnn_workspace_size(d, false));
    {
      py::gil_scoped_release nogil;
      kernels<T>().rnn_forward(d, act, w, px, ph0, out.mutable_data(), h_n.mutable_data(),
                               work.get());
    }
    return py::make_tuple(out, h_n, py::tuple());
  }
};

template <typename T>
struct RnnBackward {
  static py::tuple call(py::array dout, py::array dh_n, py::array x, py::array h0,
                        py::array W_ih, py::array W_hh, py::array out, py::object cache,
                        py::array dW_ih, py::array dW_hh, py::object db_ih, py::object db_hh,
                        py::object lengths, bool reverse, std::string nonlinearity,
                        py::object dh_all) {
    auto act = activation(nonlinearity);
    Geometry g = geometry(x, W_ih, W_hh, 1, lengths, reverse);
    const auto& d = g.d;
    as_cache(cache, 0, "rnn_forward");
    auto w = weights<T>(g, 1, W_ih, W_hh, py::none(), py::none());
    auto gr = grads<T>(g, 1, dW_ih, dW_hh, db_ih, db_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    const T* pout = checked<T>(out, "out", {d.T, d.B, d.H}, "(T, B, H)");
    const T* pdout = checked<T>(dout, "dout", {d.T, d.B, d.H}, "(T, B, H)");
    const T* pdh = checked<T>(dh_n, "dh_n", {d.B, d.H}, "(B, H)");
    T* pdh_all = checked_optional<T>(dh_all, "dh_all", {d.T, d.B, d.H}, "(T, B, H)", true);
    auto dx = empty<T>({d.T, d.B, d.I});
    auto dh0 = empty<T>({d.B, d.H});
    Workspace<T> work(kernels<T>().rnn_workspace_size(d, true));
    {
      py::gil_scoped_release nogil;
      kernels<T>().rnn_backward(d, act, w, px, ph0, pout, pdout, pdh, dx.mutable_data(),
                                dh0.mutable_data(), pdh_all, gr, work.get());
    }
    return py::make_tuple(dx, dh0);
  }
};

// ---- LSTM ----
template <typename T>
struct LstmForward {
  static py::tuple call(py::array x, py::array h0, py::array c0, py::array W_ih, py::array W_hh,
                        py::object b_ih, py::object b_hh, py::object lengths, bool reverse,
                        bool store_cache) {
    Geometry g = geometry(x, W_ih, W_hh, 4, lengths, reverse);
    const auto& d = g.d;
    auto w = weights<T>(g, 4, W_ih, W_hh, b_ih, b_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    const T* pc0 = checked<T>(c0, "c0", {d.B, d.H}, "(B, H)");
    auto out = empty<T>({d.T, d.B, d.H});
    auto h_n = empty<T>({d.B, d.H});
    auto c_n = empty<T>({d.B, d.H});
    py::array_t<T> gates, c_all;
    if (store_cache) {
      gates = empty<T>({d.T, d.B, 4 * d.H});
      c_all = empty<T>({d.T, d.B, d.H});
    }
    Workspace<T> work(kernels<T>().lstm_workspace_size(d, store_cache));
    {
      py::gil_scoped_release nogil;
      kernels<T>().lstm_forward(d, w, px, ph0, pc0, out.mutable_data(), h_n.mutable_data(),
                                c_n.mutable_data(), store_cache ? gates.mutable_data() : nullptr,
                                store_cache ? c_all.mutable_data() : nullptr, work.get());
    }
    return py::make_tuple(out, h_n, c_n, store_cache ? py::make_tuple(gates, c_all) : py::tuple());
  }
};

template <typename T>
struct LstmBackward {
  static py::tuple call(py::array dout, py::array dh_n, py::array dc_n, py::array x,
                        py::array h0, py::array c0, py::array W_ih, py::array W_hh,
                        py::array out, py::object cache, py::array dW_ih, py::array dW_hh,
                        py::object db_ih, py::object db_hh, py::object lengths, bool reverse,
                        py::object dh_all) {
    Geometry g = geometry(x, W_ih, W_hh, 4, lengths, reverse);
    const auto& d = g.d;
    py::tuple c = as_cache(cache, 2, "lstm_forward");
    auto w = weights<T>(g, 4, W_ih, W_hh, py::none(), py::none());
    auto gr = grads<T>(g, 4, dW_ih, dW_hh, db_ih, db_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    const T* pc0 = checked<T>(c0, "c0", {d.B, d.H}, "(B, H)");
    const T* pout = checked<T>(out, "out", {d.T, d.B, d.H}, "(T, B, H)");
    T* pgates = checked<T>(c[0], "cache[0] (gates)", {d.T, d.B, 4 * d.H}, "(T, B, 4H)", true);
    const T* pc_all = checked<T>(c[1], "cache[1] (c_all)", {d.T, d.B, d.H}, "(T, B, H)");
    const T* pdout = checked<T>(dout, "dout", {d.T, d.B, d.H}, "(T, B, H)");
    const T* pdh = checked<T>(dh_n, "dh_n", {d.B, d.H}, "(B, H)");
    const T* pdc = checked<T>(dc_n, "dc_n", {d.B, d.H}, "(B, H)");
    T* pdh_all = checked_optional<T>(dh_all, "dh_all", {d.T, d.B, d.H}, "(T, B, H)", true);
    auto dx = empty<T>({d.T, d.B, d.I});
    auto dh0 = empty<T>({d.B, d.H});
    auto dc0 = empty<T>({d.B, d.H});
    Workspace<T> work(kernels<T>().lstm_workspace_size(d, true));
    {
      py::gil_scoped_release nogil;
      kernels<T>().lstm_backward(d, w, px, ph0, pc0, pout, pgates, pc_all, pdout, pdh, pdc,
                                 dx.mutable_data(), dh0.mutable_data(), dc0.mutable_data(), pdh_all, gr,
                                 work.get());
    }
    return py::make_tuple(dx, dh0, dc0);
  }
};

// ---- GRU ----
template <typename T>
struct GruForward {
  static py::tuple call(py::array x, py::array h0, py::array W_ih, py::array W_hh,
                        py::object b_ih, py::object b_hh, py::object lengths, bool reverse,
                        bool reset_after, bool store_cache) {
    Geometry g = geometry(x, W_ih, W_hh, 3, lengths, reverse);
    const auto& d = g.d;
    auto w = weights<T>(g, 3, W_ih, W_hh, b_ih, b_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    auto out = empty<T>({d.T, d.B, d.H});
    auto h_n = empty<T>({d.B, d.H});
    py::array_t<T> gates;
    if (store_cache) gates = empty<T>({d.T, d.B, 4 * d.H});
    Workspace<T> work(kernels<T>().gru_workspace_size(d, store_cache));
    {
      py::gil_scoped_release nogil;
      kernels<T>().gru_forward(d, reset_after, w, px, ph0, out.mutable_data(), h_n.mutable_data(),
                               store_cache ? gates.mutable_data() : nullptr, work.get());
    }
    return py::make_tuple(out, h_n, store_cache ? py::make_tuple(gates) : py::tuple());
  }
};

template <typename T>
struct GruBackward {
  static py::tuple call(py::array dout, py::array dh_n, py::array x, py::array h0,
                        py::array W_ih, py::array W_hh, py::array out, py::object cache,
                        py::array dW_ih, py::array dW_hh, py::object db_ih, py::object db_hh,
                        py::object lengths, bool reverse, bool reset_after,
                        py::object dh_all) {
    Geometry g = geometry(x, W_ih, W_hh, 3, lengths, reverse);
    const auto& d = g.d;
    py::tuple c = as_cache(cache, 1, "gru_forward");
    auto w = weights<T>(g, 3, W_ih, W_hh, py::none(), py::none());
    auto gr = grads<T>(g, 3, dW_ih, dW_hh, db_ih, db_hh);
    const T* px = checked<T>(x, "x", {d.T, d.B, d.I}, "(T, B, I)");
    const T* ph0 = checked<T>(h0, "h0", {d.B, d.H}, "(B, H)");
    const T* pout = checked<T>(out, "out", {d.T, d.B, d.H}, "(T, B, H)");
    T* pgates = checked<T>(c[0], "cache[0] (gates)", {d.T, d.B, 4 * d.H}, "(T, B, 4H)", true);
    const T* pdout = checked<T>(dout, "dout", {d.T, d.B, d.H}, "(T, B, H)");
    const T* pdh = checked<T>(dh_n, "dh_n", {d.B, d.H}, "(B, H)");
    T* pdh_all = checked_optional<T>(dh_all, "dh_all", {d.T, d.B, d.H}, "(T, B, H)", true);
    auto dx = empty<T>({d.T, d.B, d.I});
    auto dh0 = empty<T>({d.B, d.H});
    Workspace<T> work(kernels<T>().gru_workspace_size(d, true));
    {
      py::gil_scoped_release nogil;
      kernels<T>().gru_backward(d, reset_after, w, px, ph0, pout, pgates, pdout, pdh,
                                dx.mutable_data(), dh0.mutable_data(), pdh_all, gr, work.get());
    }
    return py::make_tuple(dx, dh0);
  }
};

template <typename T>
struct Gemm {
  static py::array call(bool transA, bool transB, double alpha, py::array A, py::array B,
                        double beta, py::object C) {
    if (A.ndim() != 2 || B.ndim() != 2) throw py::value_error("A, B: expected 2-D arrays");
    const int64_t M = transA ? A.shape(1) : A.shape(0), K = transA ? A.shape(0) : A.shape(1);
    const int64_t N = transB ? B.shape(0) : B.shape(1);
    const int64_t KB = transB ? B.shape(1) : B.shape(0);
    if (K != KB)
      throw py::value_error("B: expected " + std::to_string(K) + " rows in op(B), got " +
                            std::to_string(KB));
    const T* pa = checked<T>(A, "A", shape_of(A), "(rows, cols)");
    const T* pb = checked<T>(B, "B", shape_of(B), "(rows, cols)");
    py::array_t<T> out = C.is_none() ? empty<T>({M, N}) : py::reinterpret_borrow<py::array_t<T>>(C);
    T* pc = checked<T>(out, "C", {M, N}, "(M, N)", true);
    {
      py::gil_scoped_release nogil;
      pyrnn::gemm<T>(transA, transB, M, N, K, T(alpha), pa, A.shape(1), pb, B.shape(1), T(beta),
                     pc, N);
    }
    return out;
  }
};

template <typename T>
struct Activation {
  static py::array call(const std::string& name, py::array x) {
    const int which = name == "exp" ? 0 : name == "sigmoid" ? 1 : name == "tanh" ? 2 : -1;
    if (which < 0)
      throw py::value_error("name: expected 'exp', 'sigmoid' or 'tanh', got '" + name + "'");
    const T* px = checked<T>(x, "x", shape_of(x), "(any shape)");
    py::array_t<T> y(shape_of(x));
    {
      py::gil_scoped_release nogil;
      kernels<T>().activation(which, px, y.mutable_data(), static_cast<int64_t>(x.size()));
    }
    return y;
  }
};

// ---- streaming ----
// cell: 0 rnn, 1 lstm, 2 gru. pack(W_ih, W_hh, b_ih, b_hh) -> packed (1-D, dtype of W_ih).
// cell: 0 rnn, 1 lstm, 2 gru, from its name.
int cell_id(const std::string& cell) {
  if (cell == "rnn") return 0;
  if (cell == "lstm") return 1;
  if (cell == "gru") return 2;
  throw py::value_error("cell: expected 'rnn', 'lstm' or 'gru', got '" + cell + "'");
}

// Elements of a cell's packed weights, and of its step workspace, in a kernel table.
template <typename T>
int64_t packed_size(const pyrnn::KernelTable<T>& k, int cell, int64_t I, int64_t H) {
  return cell == 0 ? k.rnn_packed_size(I, H) : cell == 1 ? k.lstm_packed_size(I, H)
                                                         : k.gru_packed_size(I, H);
}
template <typename T>
int64_t step_workspace_size(const pyrnn::KernelTable<T>& k, int cell, int64_t B, int64_t I,
                            int64_t H) {
  return cell == 0   ? k.rnn_step_workspace_size(B, I, H)
         : cell == 1 ? k.lstm_step_workspace_size(B, I, H)
                     : k.gru_step_workspace_size(B, I, H);
}

template <typename T>
struct Pack {
  static py::array call(int cell, py::array W_ih, py::array W_hh, py::object b_ih,
                        py::object b_hh, bool reset_after) {
    const int64_t G = cell == 0 ? 1 : cell == 1 ? 4 : 3;
    if (W_hh.ndim() != 2 || W_hh.shape(0) != G * W_hh.shape(1) || W_hh.shape(1) < 1)
      throw py::value_error("W_hh: expected shape (G*H, H) with G = " + std::to_string(G) +
                            ", got " + shape_str(shape_of(W_hh)));
    if (W_ih.ndim() != 2 || W_ih.shape(1) < 1)
      throw py::value_error("W_ih: expected shape (G*H, I), got " + shape_str(shape_of(W_ih)));
    const int64_t H = W_hh.shape(1), I = W_ih.shape(1), GH = G * H;
    pyrnn::CellWeights<T> w{checked<T>(W_ih, "W_ih", {GH, I}, "(G*H, I)"),
                            checked<T>(W_hh, "W_hh", {GH, H}, "(G*H, H)"),
                            checked_optional<T>(b_ih, "b_ih", {GH}, "(G*H,)"),
                            checked_optional<T>(b_hh, "b_hh", {GH}, "(G*H,)")};
    const auto& k = kernels<T>();
    auto packed = empty<T>({packed_size(k, cell, I, H)});
    T* p = packed.mutable_data();
    if (cell == 0) k.rnn_pack(w, I, H, p);
    else if (cell == 1) k.lstm_pack(w, I, H, p);
    else k.gru_pack(w, I, H, reset_after, p);
    return packed;
  }
};

pyrnn::SimdTarget parse_target(const std::string& name) {
  pyrnn::SimdTarget t;
  if (pyrnn::parse_target_name(name.c_str(), &t)) return t;
  throw py::value_error("target: expected 'generic', 'avx2' or 'avx512', got '" + name + "'");
}

// ---- layer.stream(): every stacked layer of one step in one call ----
// Holds the packed weights, the state (L, B, H) and the workspaces of a pyrnn Stream (the
// Python object owns them too); step(x) checks x and runs the layers one after another,
// layer k > 0 taking h of layer k - 1. No allocation for a contiguous x of the stream's
// dtype; the result is the last layer's h, the same array object every step. target: the
// SIMD target that packed the weights ("" = the active one); its kernels step them, since
// the packed layout follows that target's vector width.
class StreamSteps {
 public:
  StreamSteps(const std::string& cell, py::list packed, py::array h, py::object c,
              py::list work, int64_t input_size, bool reset_after,
              const std::string& nonlinearity, const std::string& target)
      : h_(h), c_(c), reset_after_(reset_after), act_(activation(nonlinearity)),
        target_(target.empty() ? pyrnn::active_target() : parse_target(target)) {
    cell_ = cell_id(cell);
    if (h.ndim() != 3) throw py::value_error("h: expected shape (L, B, H), got " + shape_str(shape_of(h)));
    L_ = h.shape(0), B_ = h.shape(1), H_ = h.shape(2), I_ = input_size;
    if (L_ < 1 || B_ < 1 || H_ < 1)
      throw py::value_error("h: expected shape (L, B, H) with L, B, H >= 1, got " + shape_str(shape_of(h)));
    if (I_ < 1) throw py::value_error("input_size: expected >= 1, got " + std::to_string(I_));
    if (static_cast<int64_t>(packed.size()) != L_ || static_cast<int64_t>(work.size()) != L_)
      throw py::value_error("packed, work: expected one array per layer (" + std::to_string(L_) + ")");
    double_ = has_dtype<double>(h);
    if (!double_ && !has_dtype<float>(h))
      throw py::type_error("h: expected dtype float32 or float64, got " + std::string(py::str(h.dtype())));
    if ((cell_ == 1) == c.is_none()) throw py::value_error("c: expected the cell state of an LSTM, and only then");
    if (cell_ == 1 && py::isinstance<py::array>(c) &&
        py::reinterpret_borrow<py::array>(c).data() == h.data())
      throw py::value_error("c: expected a buffer of its own, got h's");
    for (int64_t k = 0; k < L_; ++k) {
      packed_.push_back(py::reinterpret_borrow<py::array>(packed[k]));
      work_.push_back(py::reinterpret_borrow<py::array>(work[k]));
    }
    if (double_) validate<double>(); else validate<float>();
    h_ptr_ = h_.mutable_data();
    c_ptr_ = cell_ == 1 ? py::reinterpret_borrow<py::array>(c_).mutable_data() : nullptr;
    for (int64_t l = 0; l < L_; ++l) {
      packed_ptr_.push_back(packed_[l].data());
      work_ptr_.push_back(work_[l].mutable_data());
    }
    last_ = h_.attr("__getitem__")(L_ - 1);  // a view of h, made once
  }

  py::object step(py::handle xh) {
    if (!py::isinstance<py::array>(xh)) bad_input(xh);
    auto x = py::reinterpret_borrow<py::array>(xh);
    if (!has_own_dtype(x) || x.ndim() != 2 ||
        x.shape(0) != B_ || x.shape(1) != I_)
      bad_input(xh);
    if (!(x.flags() & py::array::c_style)) {
      x = py::array::ensure(x, py::array::c_style);
      if (!x) throw py::error_already_set();  // the copy failed (out of memory)
    }
    // Steps of one stream can't overlap: they update the same state and workspaces, and
    // the GIL is let go during large ones. A second thread stepping in gets an error
    // instead. (Writing the state arrays from Python during a step is not guarded: the
    // Stream docstring says a stream belongs to one thread at a time.)
    if (busy_.exchange(true, std::memory_order_acquire))
      throw std::runtime_error("Stream.step: this stream is being stepped by another thread; "
                            "a Stream serves one thread at a time (make one per thread, or "
                            "hold a lock around step)");
    struct Release {
      std::atomic<bool>& f;
      ~Release() { f.store(false, std::memory_order_release); }
    } release{busy_};
    if (double_) run<double>(x); else run<float>(x);
    return last_;
  }

 private:
  template <typename T>
  void validate() {
    const auto& k = kernels<T>(target_);
    checked<T>(h_, "h", {L_, B_, H_}, "(L, B, H)", true);
    if (cell_ == 1) checked<T>(py::reinterpret_borrow<py::array>(c_), "c", {L_, B_, H_}, "(L, B, H)", true);
    for (int64_t l = 0; l < L_; ++l) {
      const int64_t I = l == 0 ? I_ : H_;
      checked<T>(packed_[l], "packed", {packed_size(k, cell_, I, H_)}, "(packed_size(I, H),)");
      checked<T>(work_[l], "work", {step_workspace_size(k, cell_, B_, I, H_)},
                 "(step_workspace_size(B, I, H),)", true);
    }
  }

  template <typename T>
  void run(const py::array& x) {
    const auto& k = kernels<T>(target_);
    T* h = static_cast<T*>(h_ptr_);
    T* c = static_cast<T*>(c_ptr_);
    const T* in = static_cast<const T*>(x.data());
    // Other Python threads get the GIL for steps long enough to notice (releasing and
    // taking it back costs about a tenth of a microsecond, a third of a small step).
    // Nothing of Python is touched without it: the pointers were taken in the constructor.
    std::optional<py::gil_scoped_release> nogil;
    if (B_ * H_ * (I_ + H_) * L_ >= (int64_t(1) << 15)) nogil.emplace();
    for (int64_t l = 0; l < L_; ++l) {
      const int64_t I = l == 0 ? I_ : H_;
      const T* pp = static_cast<const T*>(packed_ptr_[l]);
      T* pw = static_cast<T*>(work_ptr_[l]);
      T* hl = h + l * B_ * H_;
      if (cell_ == 0) k.rnn_step(pp, act_, B_, I, H_, in, hl, pw);
      else if (cell_ == 1) k.lstm_step(pp, B_, I, H_, in, hl, c + l * B_ * H_, pw);
      else k.gru_step(pp, reset_after_, B_, I, H_, in, hl, pw);
      in = hl;
    }
  }

  bool has_own_dtype(const py::array& a) const {
    return double_ ? has_dtype<double>(a) : has_dtype<float>(a);
  }

  [[noreturn]] void bad_input(py::handle x) const {
    const char* dt = double_ ? "float64" : "float32";
    const std::string want = "(B, I) = (" + std::to_string(B_) + ", " + std::to_string(I_) + ")";
    if (!py::isinstance<py::array>(x))
      throw py::type_error(std::string("x: expected a numpy ") + dt + " array " + want + ", got " +
                           std::string(py::str(py::type::handle_of(x).attr("__name__"))));
    auto a = py::reinterpret_borrow<py::array>(x);
    if (!has_own_dtype(a))
      throw py::type_error(std::string("x: expected a numpy ") + dt + " array " + want + ", got " +
                           std::string(py::str(a.dtype())));
    throw py::value_error("x: expected shape " + want + ", got " + shape_str(shape_of(a)));
  }

  py::array h_;
  py::object c_, last_;
  std::vector<py::array> packed_, work_;  // kept alive for the pointers below
  void *h_ptr_ = nullptr, *c_ptr_ = nullptr;
  std::vector<const void*> packed_ptr_;
  std::vector<void*> work_ptr_;
  int cell_ = 0;
  int64_t L_ = 0, B_ = 0, I_ = 0, H_ = 0;
  bool double_ = false, reset_after_ = true;
  pyrnn::Activation act_;
  pyrnn::SimdTarget target_;
  std::atomic<bool> busy_{false};
};

// ---- the C API (pyrnn.h), as an embedding application calls it ----
// For `pyrnn bench`: one model loaded with pyrnn_model_load_memory, one pyrnn_state, and
// pyrnn_step called from C++ loops, so that Python's call overhead is not in the timings.

// Raises the Python exception for a failed C API call, with pyrnn_last_error()'s message.
void capi_check(pyrnn_status s) {
  if (s == PYRNN_OK) return;
  const std::string msg = std::string(pyrnn_last_error()) + " (" + pyrnn_status_string(s) + ")";
  PyObject* type = s == PYRNN_ERR_IO                ? PyExc_OSError
                   : s == PYRNN_ERR_OUT_OF_MEMORY ? PyExc_MemoryError
                   : s == PYRNN_ERR_INTERNAL      ? PyExc_RuntimeError
                                                  : PyExc_ValueError;
  PyErr_SetString(type, msg.c_str());
  throw py::error_already_set();
}

class CapiStream {
 public:
  explicit CapiStream(const py::bytes& model_bytes) {
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(model_bytes.ptr(), &data, &size) != 0) throw py::error_already_set();
    pyrnn_model* m = nullptr;
    capi_check(pyrnn_model_load_memory(data, size_t(size), &m));
    model_.reset(m);
    capi_check(pyrnn_model_get_info(model_.get(), &info_));
    if (info_.input_is_tokens)
      throw py::value_error("model_bytes: the model takes token ids; CapiStream steps features");
    if (!info_.can_step)
      throw py::value_error("model_bytes: the model has a bidirectional layer; pyrnn_step cannot "
                            "stream it");
    pyrnn_state* st = nullptr;
    capi_check(pyrnn_state_create(model_.get(), &st));
    state_.reset(st);
    y_.assign(info_.output_size, 0.f);  // time_steps' output buffer, allocated once here
  }

  const pyrnn_model_info& info() const { return info_; }

  void set_state(const py::array& s) {
    const float* p = checked_f32(s, "state", {int64_t(info_.state_size)}, "(state_size,)");
    capi_check(pyrnn_state_set(state_.get(), p, info_.state_size));
  }

  py::array_t<float> get_state() const {
    py::array_t<float> s(std::vector<int64_t>{int64_t(info_.state_size)});
    capi_check(pyrnn_state_get(state_.get(), s.mutable_data(), info_.state_size));
    return s;
  }

  void reset() { capi_check(pyrnn_state_reset(state_.get())); }

  // One pyrnn_step per row of x (steps, input_size), state carried: y (steps, output_size).
  py::array_t<float> steps(const py::array& x) {
    const int64_t T = rows(x);
    const float* px = checked_f32(x, "x", {T, int64_t(info_.input_size)}, "(steps, input_size)");
    py::array_t<float> y(std::vector<int64_t>{T, int64_t(info_.output_size)});
    float* out = y.mutable_data();
    const size_t I = info_.input_size, O = info_.output_size;
    pyrnn_status s = PYRNN_OK;
    {
      Busy busy(this);
      py::gil_scoped_release nogil;
      for (int64_t t = 0; t < T && s == PYRNN_OK; ++t)
        s = pyrnn_step(state_.get(), px + t * I, I, out + t * O, O);
    }
    capi_check(s);
    return y;
  }

  // n calls of pyrnn_step, cycling through the rows of x from where the previous call left
  // off, state carried; returns the seconds the n calls took (a steady clock around the
  // loop). Nothing is allocated inside the loop.
  double time_steps(const py::array& x, int64_t n) {
    if (n < 1) throw py::value_error("n: expected a number of steps >= 1, got " + std::to_string(n));
    const int64_t T = rows(x);
    const float* px = checked_f32(x, "x", {T, int64_t(info_.input_size)}, "(steps, input_size)");
    const size_t I = info_.input_size, O = info_.output_size;
    pyrnn_state* st = state_.get();
    float* y = y_.data();
    int64_t row = next_row_ < T ? next_row_ : 0;
    pyrnn_status s = PYRNN_OK;
    double seconds = 0.0;
    {
      Busy busy(this);
      py::gil_scoped_release nogil;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n; ++i) {
        s = pyrnn_step(st, px + row * I, I, y, O);
        if (s != PYRNN_OK) break;
        if (++row == T) row = 0;
      }
      const auto t1 = std::chrono::steady_clock::now();
      seconds = std::chrono::duration<double>(t1 - t0).count();
    }
    next_row_ = row;
    capi_check(s);
    return seconds;
  }

 private:
  struct ModelFree {
    void operator()(pyrnn_model* m) const { pyrnn_model_free(m); }
  };
  struct StateFree {
    void operator()(pyrnn_state* s) const { pyrnn_state_free(s); }
  };
  // A state is used by one thread at a time (pyrnn.h); the loops run without the GIL.
  struct Busy {
    explicit Busy(CapiStream* c) : c_(c) {
      if (c_->busy_) throw py::value_error("CapiStream: already stepping in another thread");
      c_->busy_ = true;
    }
    ~Busy() { c_->busy_ = false; }
    CapiStream* c_;
  };

  static int64_t rows(const py::array& x) {
    if (x.ndim() != 2 || x.shape(0) < 1)
      throw py::value_error("x: expected a 2-D array (steps, input_size) with steps >= 1, got "
                            "shape " + shape_str(shape_of(x)));
    return x.shape(0);
  }

  static const float* checked_f32(const py::handle& a, const char* name,
                                  const std::vector<int64_t>& shape, const char* dims) {
    if (py::isinstance<py::array>(a) &&
        !has_dtype<float>(py::reinterpret_borrow<py::array>(a)))
      throw py::type_error(std::string(name) + ": the C API takes float32 only, got " +
                           std::string(py::str(py::reinterpret_borrow<py::array>(a).dtype())));
    return checked<float>(a, name, shape, dims);
  }

  // State before model: pyrnn.h asks states to be freed first (members die in reverse).
  std::unique_ptr<pyrnn_model, ModelFree> model_;
  std::unique_ptr<pyrnn_state, StateFree> state_;
  pyrnn_model_info info_{};
  std::vector<float> y_;
  int64_t next_row_ = 0;
  bool busy_ = false;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrnn engine: dispatched C++ kernels. Use pyrnn.functional, not this module.";
  using py::arg;
  const auto none = py::none();

  m.def("rnn_forward",
        [](py::array x, py::array h0, py::array W_ih, py::array W_hh, py::object b_ih,
           py::object b_hh, py::object lengths, bool reverse, std::string nonlinearity,
           bool store_cache) {
          return by_dtype<RnnForward>(x, x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                      nonlinearity, store_cache);
        },
        arg("x"), arg("h0"), arg("W_ih"), arg("W_hh"), arg("b_ih"), arg("b_hh"),
        arg("lengths") = none, arg("reverse") = false, arg("nonlinearity") = "tanh",
        arg("store_cache") = true);
  m.def("rnn_backward",
        [](py::array dout, py::array dh_n, py::array x, py::array h0, py::array W_ih,
           py::array W_hh, py::array out, py::object cache, py::array dW_ih, py::array dW_hh,
           py::object db_ih, py::object db_hh, py::object lengths, bool reverse,
           std::string nonlinearity, py::object dh_all) {
          return by_dtype<RnnBackward>(x, dout, dh_n, x, h0, W_ih, W_hh, out, cache, dW_ih,
                                       dW_hh, db_ih, db_hh, lengths, reverse, nonlinearity,
                                       dh_all);
        },
        arg("dout"), arg("dh_n"), arg("x"), arg("h0"), arg("W_ih"), arg("W_hh"), arg("out"),
        arg("cache"), arg("dW_ih"), arg("dW_hh"), arg("db_ih"), arg("db_hh"),
        arg("lengths") = none, arg("reverse") = false, arg("nonlinearity") = "tanh",
        arg("dh_all") = none);
  m.def("lstm_forward",
        [](py::array x, py::array h0, py::array c0, py::array W_ih, py::array W_hh,
           py::object b_ih, py::object b_hh, py::object lengths, bool reverse, bool store_cache) {
          return by_dtype<LstmForward>(x, x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                       store_cache);
        },
        arg("x"), arg("h0"), arg("c0"), arg("W_ih"), arg("W_hh"), arg("b_ih"), arg("b_hh"),
        arg("lengths") = none, arg("reverse") = false, arg("store_cache") = true);
  m.def("lstm_backward",
        [](py::array dout, py::array dh_n, py::array dc_n, py::array x, py::array h0,
           py::array c0, py::array W_ih, py::array W_hh, py::array out, py::object cache,
           py::array dW_ih, py::array dW_hh, py::object db_ih, py::object db_hh,
           py::object lengths, bool reverse, py::object dh_all) {
          return by_dtype<LstmBackward>(x, dout, dh_n, dc_n, x, h0, c0, W_ih, W_hh, out, cache,
                                        dW_ih, dW_hh, db_ih, db_hh, lengths, reverse, dh_all);
        },
        arg("dout"), arg("dh_n"), arg("dc_n"), arg("x"), arg("h0"), arg("c0"), arg("W_ih"),
        arg("W_hh"), arg("out"), arg("cache"), arg("dW_ih"), arg("dW_hh"), arg("db_ih"),
        arg("db_hh"), arg("lengths") = none, arg("reverse") = false, arg("dh_all") = none);
  m.def("gru_forward",
        [](py::array x, py::array h0, py::array W_ih, py::array W_hh, py::object b_ih,
           py::object b_hh, py::object lengths, bool reverse, bool reset_after,
           bool store_cache) {
          return by_dtype<GruForward>(x, x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                      reset_after, store_cache);
        },
        arg("x"), arg("h0"), arg("W_ih"), arg("W_hh"), arg("b_ih"), arg("b_hh"),
        arg("lengths") = none, arg("reverse") = false, arg("reset_after") = true,
        arg("store_cache") = true);
  m.def("gru_backward",
        [](py::array dout, py::array dh_n, py::array x, py::array h0, py::array W_ih,
           py::array W_hh, py::array out, py::object cache, py::array dW_ih, py::array dW_hh,
           py::object db_ih, py::object db_hh, py::object lengths, bool reverse,
           bool reset_after, py::object dh_all) {
          return by_dtype<GruBackward>(x, dout, dh_n, x, h0, W_ih, W_hh, out, cache, dW_ih,
                                       dW_hh, db_ih, db_hh, lengths, reverse, reset_after,
                                       dh_all);
        },
        arg("dout"), arg("dh_n"), arg("x"), arg("h0"), arg("W_ih"), arg("W_hh"), arg("out"),
        arg("cache"), arg("dW_ih"), arg("dW_hh"), arg("db_ih"), arg("db_hh"),
        arg("lengths") = none, arg("reverse") = false, arg("reset_after") = true,
        arg("dh_all") = none);
  m.def("gemm",
        [](bool transA, bool transB, double alpha, py::array A, py::array B, double beta,
           py::object C) { return by_dtype<Gemm>(A, transA, transB, alpha, A, B, beta, C); },
        arg("transA"), arg("transB"), arg("alpha"), arg("A"), arg("B"), arg("beta") = 0.0,
        arg("C") = none, "C = alpha op(A) op(B) + beta C (for tests and benchmarks)");

  m.def("fma_peak",
        [](const std::string& dtype, double seconds, int repeats) {
          if (dtype != "float32" && dtype != "float64")
            throw py::value_error("dtype: expected 'float32' or 'float64', got '" + dtype + "'");
          if (!(seconds > 0) || seconds > 60)
            throw py::value_error("seconds: expected a duration in (0, 60], got " +
                                  std::to_string(seconds));
          if (repeats < 1)
            throw py::value_error("repeats: expected at least 1, got " + std::to_string(repeats));
          py::gil_scoped_release nogil;
          return dtype == "float32" ? pyrnn::fma_peak_gflops<float>(seconds, repeats)
                                    : pyrnn::fma_peak_gflops<double>(seconds, repeats);
        },
        arg("dtype") = "float32", arg("seconds") = 0.1, arg("repeats") = 3,
        "GFLOP/s of independent vector FMAs of the active SIMD target on every engine thread "
        "at once (best of `repeats` runs of about `seconds`): the FMA peak pyrnn bench "
        "measures % of peak against");

  m.def("activation",
        [](const std::string& name, py::array x) { return by_dtype<Activation>(x, name, x); },
        arg("name"), arg("x"), "The kernels' exp/sigmoid/tanh, elementwise (for accuracy tests)");

  m.def("pack_cell",
        [](const std::string& cell, py::array W_ih, py::array W_hh, py::object b_ih,
                  py::object b_hh, bool reset_after) {
          return by_dtype<Pack>(W_ih, cell_id(cell), W_ih, W_hh, b_ih, b_hh, reset_after);
        },
        arg("cell"), arg("W_ih"), arg("W_hh"), arg("b_ih"), arg("b_hh"),
        arg("reset_after") = true, "Weights of one layer and direction packed for the step kernels (StreamSteps)");
  m.def("step_workspace_size",
        [](const std::string& cell, int64_t B, int64_t I, int64_t H) {
          // sizes do not depend on the dtype
          return step_workspace_size(kernels<float>(), cell_id(cell), B, I, H);
        },
        arg("cell"), arg("B"), arg("I"), arg("H"));
  m.def("set_num_threads", [](int n) {
    // Creating thousands of OpenMP threads can fail inside the runtime, which aborts.
    if (n < 1 || n > kMaxThreads)
      throw py::value_error("n: expected a thread count in 1.." + std::to_string(kMaxThreads) +
                            ", got " + std::to_string(n));
    pyrnn::set_num_threads(n);
  }, arg("n"));
  m.def("get_num_threads", &pyrnn::get_num_threads);
  m.def("_parallel_min_work", &pyrnn::parallel_min_work);
  m.def("_set_parallel_min_work", &pyrnn::set_parallel_min_work, arg("fmas"),
        "Steps with fewer multiply-adds run on one thread (tests set 0).");
  m.def("_projection_mode", [] {
    const auto mode = pyrnn::projection_mode();
    return std::string(mode == pyrnn::ProjectionMode::fused     ? "fused"
                       : mode == pyrnn::ProjectionMode::chunked ? "chunked"
                                                                : "auto");
  });
  m.def("_set_projection_mode", [](const std::string& mode) {
    if (mode == "auto") pyrnn::set_projection_mode(pyrnn::ProjectionMode::automatic);
    else if (mode == "fused") pyrnn::set_projection_mode(pyrnn::ProjectionMode::fused);
    else if (mode == "chunked") pyrnn::set_projection_mode(pyrnn::ProjectionMode::chunked);
    else throw py::value_error("mode: expected 'auto', 'fused' or 'chunked', got '" + mode + "'");
  }, arg("mode"),
        "How RNN, LSTM and reset-after GRU forwards compute the input projection: 'auto' per "
        "shape, or one path forced on every shape (tests check both).");
  m.attr("has_openmp") = pyrnn::has_openmp();
  m.def("release_cached_buffers", [] { return pyrnn_bindings::BufferPool::instance().release_cached(); },
        "Free the large buffers kept for reuse; returns the bytes released.");
  m.def("cached_buffer_bytes", [] { return pyrnn_bindings::BufferPool::instance().cached_bytes(); },
        "Bytes of large buffers kept for reuse.");
  m.def("simd_target", [] { return std::string(pyrnn::target_name(pyrnn::active_target())); });
  m.def("available_simd_targets", [] {
    std::vector<std::string> v;
    for (auto t : pyrnn::kAllTargets)
      if (pyrnn::target_supported(t)) v.emplace_back(pyrnn::target_name(t));
    return v;
  });
  m.def("set_simd_target", [](const std::string& name) {
    if (!pyrnn::set_active_target(parse_target(name)))
      throw py::value_error("target: '" + name + "' is not supported on this CPU; available: " +
                            std::string(py::str(py::module_::import("pyrnn._core")
                                                    .attr("available_simd_targets")())));
  }, arg("target"));

  // The C API (pyrnn.h) compiled into this module, for `pyrnn bench` (capi).
  m.def("capi_version", [] { return std::string(pyrnn_version()); },
        "pyrnn_version() of the C API compiled into this module");
  m.def("capi_set_num_threads", [](int n) {
    if (n < 1 || n > kMaxThreads)
      throw py::value_error("n: expected a thread count in 1.." + std::to_string(kMaxThreads) +
                            ", got " + std::to_string(n));
    pyrnn_set_num_threads(n);
  }, arg("n"), "pyrnn_set_num_threads(n)");
  m.def("capi_get_num_threads", [] { return pyrnn_get_num_threads(); },
        "pyrnn_get_num_threads()");
  py::class_<StreamSteps>(m, "StreamSteps",
                          "The engine side of pyrnn's Stream: one step of every stacked layer per call")
      .def(py::init<const std::string&, py::list, py::array, py::object, py::list, int64_t, bool,
                    const std::string&, const std::string&>(),
           arg("cell"), arg("packed"), arg("h"), arg("c"), arg("work"), arg("input_size"),
           arg("reset_after") = true, arg("nonlinearity") = "tanh", arg("target") = "")
      .def("step", &StreamSteps::step, arg("x"),
           "x (B, I) -> h of the last layer (B, H), state updated in place");
  py::class_<CapiStream>(m, "CapiStream",
                         "One model (pyrnn_model_load_memory of a .pyrnn file's bytes) and one "
                         "pyrnn_state, stepped by pyrnn_step from C++ loops. float32 features "
                         "only; C API errors raise with pyrnn_last_error()'s message.")
      .def(py::init<const py::bytes&>(), arg("model_bytes"))
      .def_property_readonly("input_size", [](const CapiStream& c) { return c.info().input_size; })
      .def_property_readonly("output_size", [](const CapiStream& c) { return c.info().output_size; })
      .def_property_readonly("state_size", [](const CapiStream& c) { return c.info().state_size; })
      .def("set_state", &CapiStream::set_state, arg("state"),
           "pyrnn_state_set: float32 (state_size,), layout of pyrnn.h (per layer: h, then c)")
      .def("get_state", &CapiStream::get_state, "pyrnn_state_get: float32 (state_size,)")
      .def("reset", &CapiStream::reset, "pyrnn_state_reset: zero h and c")
      .def("steps", &CapiStream::steps, arg("x"),
           "pyrnn_step on each row of x (steps, input_size), state carried: (steps, output_size)")
      .def("time_steps", &CapiStream::time_steps, arg("x"), arg("n"),
           "Seconds taken by n pyrnn_step calls cycling through the rows of x (continuing "
           "where the previous call stopped), state carried; outputs are discarded");
}
