// N-API glue, part 1: see napi_values.h.
#include "napi_values.h"

#include "torch_api.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace pdenet {

namespace {

constexpr napi_type_tag kTensorTag = {0x7064656e65747465ULL, 0x6e736f7268616e64ULL};
constexpr napi_type_tag kOpTag = {0x7064656e65746f70ULL, 0x68616e646c650001ULL};

std::atomic<int64_t> g_live{0};

struct TensorBox {
  at::Tensor tensor;
  void release() {
    if (tensor.defined()) {
      tensor.reset();
      --g_live;
    }
  }
};

bool has_tag(const Napi::Value& v, const napi_type_tag& tag) {
  return v.As<Napi::Object>().CheckTypeTag(&tag);
}

bool is_tensor_handle(const Napi::Value& v) { return v.IsObject() && has_tag(v, kTensorTag); }

}  // namespace

// How an error message shows a value: numbers and bigints as JavaScript spells them, long strings cut.
std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return v.ToString().Utf8Value();
    case napi_bigint: return "the bigint " + v.ToString().Utf8Value() + "n";
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      if (s.size() > 64) return "a string of " + std::to_string(s.size()) + " bytes";
      return "the string \"" + s + "\"";
    }
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_external:
      if (has_tag(v, kOpTag)) return "an operator handle";
      return "a foreign handle";
    default:
      if (is_tensor_handle(v)) return "a tensor";
      if (v.IsArray()) return "an array";
      if (v.IsArrayBuffer() || v.IsTypedArray() || v.IsDataView()) return "binary data (an ArrayBuffer or a view of one)";
      return "an object";
  }
}

// Names the value being converted ("argument 'stride'[1]"); built into text only when reporting an
// error, so that converting arguments allocates nothing.
struct Where {
  const std::string* text = nullptr;  // a whole description, or
  const std::string* arg = nullptr;   // an argument name,
  int64_t index = -1;                 // with an optional list index
  std::string str() const {
    std::string s = text ? *text : "argument '" + *arg + "'";
    return index < 0 ? s : s + "[" + std::to_string(index) + "]";
  }
  Where at(int64_t i) const { return {text, arg, i}; }
};

[[noreturn]] static void bad(const Where& what, const std::string& expected, const Napi::Value& got) {
  throw ArgumentError(what.str() + " must be " + expected + ", got " + describe(got));
}

// ---- handles -----------------------------------------------------------------------------------

// A tensor handle is a plain object wrapping a TensorBox (napi_wrap), rather than an External: dispose()
// can then remove the wrap, freeing the box and N-API's finalizer record at once. Node defers finalizers
// to the event loop, so with Externals a synchronous loop kept ~100 bytes per disposed handle until it
// yielded (34 MB per 10,000 training steps).

static void finalize_tensor(napi_env, void* data, void*) {
  auto* box = static_cast<TensorBox*>(data);
  box->release();
  delete box;
}

Napi::Value wrap_tensor(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  Napi::Object handle = Napi::Object::New(env);
  auto* box = new TensorBox{std::move(tensor)};
  if (napi_wrap(env, handle, box, finalize_tensor, nullptr, nullptr) != napi_ok) {
    delete box;
    throw ArgumentError("could not create a tensor handle");
  }
  ++g_live;
  handle.TypeTag(&kTensorTag);
  return handle;
}

// The box of a tensor handle, or null for a disposed one.
static TensorBox* tensor_box(const Napi::Value& value, const Where& what) {
  if (!is_tensor_handle(value)) bad(what, "a tensor", value);
  void* data = nullptr;
  if (napi_unwrap(value.Env(), value, &data) != napi_ok) return nullptr;  // the wrap was removed: disposed
  return static_cast<TensorBox*>(data);
}

static const at::Tensor& unwrap(const Napi::Value& value, const Where& what) {
  TensorBox* box = tensor_box(value, what);
  if (box == nullptr || !box->tensor.defined()) {
    throw ArgumentError(what.str() + " is a tensor that was already disposed");
  }
  return box->tensor;
}

const at::Tensor& unwrap_tensor(const Napi::Value& value, const std::string& what) {
  return unwrap(value, Where{&what});
}

void dispose_tensor(const Napi::Value& value) {
  static const std::string what = "the argument";
  if (tensor_box(value, Where{&what}) == nullptr) return;  // disposed before: harmless
  void* data = nullptr;
  if (napi_remove_wrap(value.Env(), value, &data) == napi_ok) finalize_tensor(nullptr, data, nullptr);
}

int64_t live_tensors() { return g_live.load(); }

Napi::Value wrap_op(Napi::Env env, const c10::OperatorHandle& op) {
  auto handle = Napi::External<c10::OperatorHandle>::New(
      env, new c10::OperatorHandle(op), [](Napi::Env, c10::OperatorHandle* p) { delete p; });
  handle.TypeTag(&kOpTag);
  return handle;
}

const c10::OperatorHandle& unwrap_op(const Napi::Value& value) {
  static const std::string what = "the operator";
  if (!value.IsExternal() || !value.As<Napi::External<c10::OperatorHandle>>().CheckTypeTag(&kOpTag)) {
    bad(Where{&what}, "an operator handle from findOp()", value);
  }
  return *value.As<Napi::External<c10::OperatorHandle>>().Data();
}

// ---- scalars and lists -------------------------------------------------------------------------

static bool is_safe_integer(double d) {
  return std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740991.0;
}

static int64_t int64_of(const Napi::Value& value, const Where& what) {
  if (value.IsBigInt()) {
    bool lossless = false;
    int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) bad(what, "an integer that fits in 64 bits", value);
    return v;
  }
  if (!value.IsNumber()) bad(what, "an integer", value);
  double d = value.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && std::floor(d) == d && !is_safe_integer(d)) {
    bad(what, "an integer of magnitude at most 2^53 - 1 (larger ones as a bigint)", value);
  }
  if (!is_safe_integer(d)) bad(what, "an integer", value);
  return static_cast<int64_t>(d);
}

int64_t to_int64(const Napi::Value& value, const std::string& what) { return int64_of(value, Where{&what}); }

static double double_of(const Napi::Value& value, const Where& what) {
  if (!value.IsNumber()) bad(what, "a number", value);
  return value.As<Napi::Number>().DoubleValue();
}

static bool bool_of(const Napi::Value& value, const Where& what) {
  if (!value.IsBoolean()) bad(what, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

// A JavaScript number becomes an integer Scalar when it holds an integer, as a Python int would, so
// that `intTensor.add(1)` stays an integer tensor; otherwise a double.
static c10::Scalar scalar_of(const Napi::Value& value, const Where& what) {
  if (value.IsBoolean()) return c10::Scalar(value.As<Napi::Boolean>().Value());
  if (value.IsBigInt()) return c10::Scalar(int64_of(value, what));
  if (!value.IsNumber()) bad(what, "a number", value);
  double d = value.As<Napi::Number>().DoubleValue();
  if (is_safe_integer(d)) return c10::Scalar(static_cast<int64_t>(d));
  return c10::Scalar(d);
}

static Napi::Array array_of(const Napi::Value& value, const Where& what) {
  if (!value.IsArray()) bad(what, "an array", value);
  return value.As<Napi::Array>();
}

std::vector<int64_t> to_int64_list(const Napi::Value& value, const std::string& what) {
  Napi::Array a = array_of(value, Where{&what});
  // The length is read once: a getter run by a.Get(i) may resize the array.
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < out.size(); ++i) out[i] = int64_of(a.Get(i), Where{&what}.at(i));
  return out;
}

std::vector<at::Tensor> to_tensor_list(const Napi::Value& value, const std::string& what, bool allow_null) {
  Napi::Array a = array_of(value, Where{&what});
  std::vector<at::Tensor> out(a.Length());  // the length is read once, as above
  for (uint32_t i = 0; i < out.size(); ++i) {
    Napi::Value item = a.Get(i);
    if (allow_null && (item.IsNull() || item.IsUndefined())) continue;
    out[i] = unwrap(item, Where{&what}.at(i));
  }
  return out;
}

Napi::Array from_tensor_list(Napi::Env env, const std::vector<at::Tensor>& tensors) {
  Napi::Array out = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) out.Set(i, wrap_tensor(env, tensors[i]));
  return out;
}

// A value of a libtorch enum (ScalarType, Layout, MemoryFormat) given as its code, which must be one of the
// enum's `count` values: any other integer cast to the enum would make a tensor nothing can use.
static int64_t code_of(const Napi::Value& value, const Where& what, int64_t count, const char* kind) {
  const int64_t code = int64_of(value, what);
  if (code < 0 || code >= count) {
    bad(what, std::string("a ") + kind + " code from 0 to " + std::to_string(count - 1), value);
  }
  return code;
}

// Scalar types run up to Undefined, which no tensor may have.
constexpr int64_t kScalarTypes = static_cast<int64_t>(at::ScalarType::Undefined);
constexpr int64_t kLayouts = static_cast<int64_t>(at::Layout::NumOptions);
constexpr int64_t kMemoryFormats = static_cast<int64_t>(at::MemoryFormat::NumOptions);

at::ScalarType to_dtype(const Napi::Value& value) {
  static const std::string what = "the dtype";
  return static_cast<at::ScalarType>(code_of(value, Where{&what}, kScalarTypes, "libtorch scalar type"));
}

// ---- schema-driven arguments -------------------------------------------------------------------

template <typename T, typename Convert>
static c10::List<T> list_of(const Napi::Array& a, const Where& what, Convert&& convert) {
  c10::List<T> out;
  const uint32_t n = a.Length();
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(convert(a.Get(i), what.at(i)));
  return out;
}

static c10::IValue convert_list(const Napi::Value& v, const c10::TypePtr& elem, const c10::Argument& arg,
                                const Where& what) {
  using c10::TypeKind;
  const TypeKind kind = elem->kind();
  const bool ints = kind == TypeKind::IntType || kind == TypeKind::SymIntType;
  // `int[2] stride=1` accepts one integer for every entry, as in Python.
  if (ints && !v.IsArray() && arg.N()) {
    return c10::List<int64_t>(std::vector<int64_t>(*arg.N(), int64_of(v, what)));
  }
  Napi::Array a = array_of(v, what);
  if (ints) return list_of<int64_t>(a, what, int64_of);
  switch (kind) {
    case TypeKind::FloatType:
      return list_of<double>(a, what, double_of);
    case TypeKind::BoolType:
      return list_of<bool>(a, what, bool_of);
    case TypeKind::TensorType:
      return list_of<at::Tensor>(a, what, unwrap);
    case TypeKind::OptionalType:  // Tensor?[], as in index()
      return list_of<c10::optional<at::Tensor>>(a, what, [](const Napi::Value& x, const Where& w) {
        return (x.IsNull() || x.IsUndefined()) ? c10::optional<at::Tensor>() : unwrap(x, w);
      });
    default:
      throw ArgumentError(what.str() + " is a list of " + elem->str() + ", which pdenet cannot pass");
  }
}

// The code of a ScalarType, Layout or MemoryFormat argument, checked; nullopt for an argument of another kind.
static c10::optional<int64_t> enum_code(const Napi::Value& v, c10::TypeKind kind, const Where& what) {
  switch (kind) {
    case c10::TypeKind::ScalarTypeType:
      return code_of(v, what, kScalarTypes, "libtorch scalar type");
    case c10::TypeKind::LayoutType:
      return code_of(v, what, kLayouts, "libtorch layout");
    case c10::TypeKind::MemoryFormatType:
      return code_of(v, what, kMemoryFormats, "libtorch memory format");
    default:
      return c10::nullopt;
  }
}

// A schema's types (what the boxed stack holds) show ScalarType, Layout and MemoryFormat as int; the argument's
// real type says which it is.
static c10::TypeKind real_kind(const c10::Argument& arg) {
  const c10::TypePtr& t = arg.real_type();
  if (t->kind() != c10::TypeKind::OptionalType) return t->kind();
  return t->castRaw<c10::OptionalType>()->getElementType()->kind();
}

static c10::IValue convert(const Napi::Value& v, const c10::TypePtr& type, const c10::Argument& arg,
                           const Where& what) {
  using c10::TypeKind;
  switch (type->kind()) {
    case TypeKind::TensorType:
      return unwrap(v, what);
    case TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return convert(v, type->castRaw<c10::OptionalType>()->getElementType(), arg, what);
    case TypeKind::IntType:
    case TypeKind::SymIntType: {
      if (auto code = enum_code(v, real_kind(arg), what)) return *code;
      const int64_t i = int64_of(v, what);
      // libtorch's convolutions narrow `groups` to 32 bits: 2^32 would become 0 and divide by zero.
      if (i > std::numeric_limits<int32_t>::max() && arg.name() == "groups") bad(what, "below 2^31", v);
      return i;
    }
    case TypeKind::ScalarTypeType:
    case TypeKind::LayoutType:
    case TypeKind::MemoryFormatType:
      return *enum_code(v, type->kind(), what);
    case TypeKind::FloatType:
      return double_of(v, what);
    case TypeKind::BoolType:
      return bool_of(v, what);
    case TypeKind::NumberType:
      return scalar_of(v, what);
    case TypeKind::StringType:
      if (!v.IsString()) bad(what, "a string", v);
      return v.As<Napi::String>().Utf8Value();
    case TypeKind::DeviceObjType:
      if (!v.IsString()) bad(what, "a device string such as \"cpu\" or \"cuda:0\"", v);
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case TypeKind::ListType:
      return convert_list(v, type->castRaw<c10::ListType>()->getElementType(), arg, what);
    default:
      throw ArgumentError(what.str() + " has type " + type->str() + ", which pdenet cannot pass");
  }
}

void push_arguments(const Napi::CallbackInfo& info, size_t first, const c10::FunctionSchema& schema,
                    torch::jit::Stack& stack) {
  const auto& args = schema.arguments();
  const size_t given = info.Length() - first;
  if (given > args.size()) {
    throw ArgumentError("takes at most " + std::to_string(args.size()) + " arguments, got " +
                        std::to_string(given));
  }
  stack.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const c10::Argument& arg = args[i];
    Napi::Value v = i < given ? info[first + i] : info.Env().Undefined();
    if (v.IsUndefined() && arg.default_value()) {
      stack.push_back(*arg.default_value());
    } else if (v.IsUndefined() && arg.type()->kind() != c10::TypeKind::OptionalType) {
      throw ArgumentError("argument '" + arg.name() + "' is missing");
    } else {
      stack.push_back(convert(v, arg.type(), arg, Where{nullptr, &arg.name()}));
    }
  }
}

// ---- results -----------------------------------------------------------------------------------

Napi::Value to_js(Napi::Env env, const c10::IValue& value) {
  if (value.isTensor()) return wrap_tensor(env, value.toTensor());
  if (value.isNone()) return env.Null();
  if (value.isInt()) return Napi::Number::New(env, static_cast<double>(value.toInt()));
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isBool()) return Napi::Boolean::New(env, value.toBool());
  if (value.isString()) return Napi::String::New(env, value.toStringRef());
  if (value.isTuple()) {
    const auto& elems = value.toTupleRef().elements();
    Napi::Array out = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) out.Set(i, to_js(env, elems[i]));
    return out;
  }
  if (value.isList()) {
    auto list = value.toListRef();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(i, to_js(env, list[i]));
    return out;
  }
  if (value.isGenericDict()) {
    Napi::Object map = env.Global().Get("Map").As<Napi::Function>().New({});
    Napi::Function set = map.Get("set").As<Napi::Function>();
    for (const auto& entry : value.toGenericDict()) set.Call(map, {to_js(env, entry.key()), to_js(env, entry.value())});
    return map;
  }
  throw ArgumentError("returns a " + value.tagKind() + ", which pdenet cannot convert");
}

c10::IValue to_generic_ivalue(const Napi::Value& v, const std::string& what) {
  // A cyclic or absurdly deep value would overflow the C++ stack: limit the nesting.
  static thread_local int depth = 0;
  struct Nesting {
    Nesting(const std::string& what) {
      if (depth >= 256) {
        throw ArgumentError(what.substr(0, what.find_first_of(".[")) +
                            " is nested more than 256 levels deep (does it contain itself?)");
      }
      ++depth;
    }
    ~Nesting() { --depth; }
  } nesting(what);
  if (v.IsNull() || v.IsUndefined()) return c10::IValue();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsNumber() || v.IsBigInt()) {
    c10::Scalar s = scalar_of(v, Where{&what});
    return s.isIntegral(false) ? c10::IValue(s.toLong()) : c10::IValue(s.toDouble());
  }
  if (v.IsExternal() || is_tensor_handle(v)) return unwrap(v, Where{&what});
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    c10::impl::GenericList list(c10::AnyType::get());
    for (uint32_t i = 0; i < a.Length(); ++i) list.push_back(to_generic_ivalue(a.Get(i), what + "[" + std::to_string(i) + "]"));
    return list;
  }
  if (v.IsObject()) {
    // A Map or a plain object: a dict with string keys, in insertion order.
    Napi::Object o = v.As<Napi::Object>();
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    Napi::Function map_ctor = v.Env().Global().Get("Map").As<Napi::Function>();
    if (o.InstanceOf(map_ctor)) {
      Napi::Array entries = v.Env().Global().Get("Array").As<Napi::Object>().Get("from").As<Napi::Function>()
                                .Call({o}).As<Napi::Array>();
      for (uint32_t i = 0; i < entries.Length(); ++i) {
        Napi::Array kv = entries.Get(i).As<Napi::Array>();
        if (!kv.Get(0u).IsString()) throw ArgumentError(what + ": dict keys must be strings");
        std::string key = kv.Get(0u).As<Napi::String>().Utf8Value();
        dict.insert(key, to_generic_ivalue(kv.Get(1u), what + "." + key));
      }
    } else {
      Napi::Array keys = o.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
        dict.insert(key, to_generic_ivalue(o.Get(key), what + "." + key));
      }
    }
    return dict;
  }
  throw ArgumentError(what + " cannot be saved: " + describe(v));
}

// ---- set-up, errors and memory -------------------------------------------------------------------------

void init_addon(Napi::Env env) {
  env.SetInstanceData(new AddonData());
  install_counting_allocator();
  skip_error_backtraces();
}

void throw_torch_error(Napi::Env env, const std::string& op, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->error_class.IsEmpty()) throw Napi::Error::New(env, op + ": " + message);
  Napi::Object error = data->error_class.New({Napi::String::New(env, message), Napi::String::New(env, op)});
  throw Napi::Error(env, error);
}

void report_external_memory(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  const int64_t now = memory_counts().bytes;
  const int64_t delta = now - data->reported_bytes;
  if (delta > (1 << 20) || delta < -(1 << 20)) {
    Napi::MemoryManagement::AdjustExternalMemory(env, delta);
    data->reported_bytes = now;
  }
}

}  // namespace pdenet
