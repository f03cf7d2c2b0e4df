// N-API glue, part 3: see napi_distributed.h. Groups, collectives in flight and reducers are
// type-tagged Externals holding a shared_ptr; distRelease drops it before the finalizer would.
#include "napi_distributed.h"

#include "distributed.h"
#include "napi_values.h"

namespace pdenet::js {

namespace {

constexpr napi_type_tag kGroupTag = {0x7064656e65746772ULL, 0x6f75700000000001ULL};
constexpr napi_type_tag kWorkTag = {0x7064656e6574776fULL, 0x726b000000000001ULL};
constexpr napi_type_tag kReducerTag = {0x7064656e65747265ULL, 0x6475636572000001ULL};

template <typename T>
struct Holder {
  std::shared_ptr<T> ptr;
};

template <typename T>
Napi::Value wrap(Napi::Env env, std::shared_ptr<T> ptr, const napi_type_tag& tag) {
  auto handle = Napi::External<Holder<T>>::New(env, new Holder<T>{std::move(ptr)},
                                               [](Napi::Env, Holder<T>* h) { delete h; });
  handle.TypeTag(&tag);
  return handle;
}

template <typename T>
Holder<T>& holder(const Napi::Value& value, const napi_type_tag& tag, const char* what) {
  if (!value.IsExternal() || !value.As<Napi::External<Holder<T>>>().CheckTypeTag(&tag)) {
    throw ArgumentError(std::string("expected ") + what + ", got " + describe(value));
  }
  return *value.As<Napi::External<Holder<T>>>().Data();
}

template <typename T>
std::shared_ptr<T> unwrap(const Napi::Value& value, const napi_type_tag& tag, const char* what) {
  auto& h = holder<T>(value, tag, what);
  if (!h.ptr) throw ArgumentError(std::string(what) + " was already released");
  return h.ptr;
}

Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

std::shared_ptr<dist::Group> group_arg(const Napi::CallbackInfo& info) {
  return unwrap<dist::Group>(arg(info, 0), kGroupTag, "a process group");
}

std::string string_arg(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw ArgumentError(std::string(what) + " must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

std::chrono::milliseconds ms_arg(const Napi::Value& v, const char* what) {
  int64_t ms = to_int64(v, what);
  if (ms <= 0) throw ArgumentError(std::string(what) + " must be a positive number of milliseconds");
  return std::chrono::milliseconds(ms);
}

Napi::Object torch_error(Napi::Env env, const std::string& op, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->error_class.IsEmpty()) return Napi::Error::New(env, op + ": " + message).Value();
  return data->error_class.New({Napi::String::New(env, message), Napi::String::New(env, op)});
}

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const c10::Error& err) {
    return err.what_without_backtrace();
  } catch (const std::exception& err) {
    return err.what();
  } catch (...) {
    return "unknown C++ exception";
  }
}

// Runs `body` on libuv's thread pool and settles a promise: resolved with `done(env)`, or rejected
// with a TorchError naming `op`. Long waits (rendezvous, collectives) then leave the event loop free.
class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, std::string op, std::function<void()> body, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), op_(std::move(op)),
        body_(std::move(body)), done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      body_();
    } catch (...) {
      SetError(message_of(std::current_exception()));
    }
  }
  void OnOK() override { deferred_.Resolve(done_(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(torch_error(Env(), op_, e.Message())); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string op_;
  std::function<void()> body_;
  std::function<Napi::Value(Napi::Env)> done_;
};

Napi::Value start(Napi::Env env, std::string op, std::function<void()> body,
                  std::function<Napi::Value(Napi::Env)> done) {
  auto* task = new Task(env, std::move(op), std::move(body), std::move(done));
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

}  // namespace

Napi::Value distHasBackend(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "distributed", [&] {
    return Napi::Boolean::New(info.Env(), dist::has_backend(string_arg(arg(info, 0), "the backend")));
  });
}

Napi::Value distInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, "initProcessGroup", [&] {
    if (!arg(info, 0).IsObject()) throw ArgumentError("the options must be an object");
    Napi::Object o = arg(info, 0).As<Napi::Object>();
    dist::GroupOptions options;
    options.master_addr = string_arg(o.Get("masterAddr"), "masterAddr");
    options.master_port = static_cast<int>(to_int64(o.Get("masterPort"), "masterPort"));
    options.rank = static_cast<int>(to_int64(o.Get("rank"), "rank"));
    options.world_size = static_cast<int>(to_int64(o.Get("worldSize"), "worldSize"));
    options.timeout = ms_arg(o.Get("timeoutMs"), "timeoutMs");
    options.backend = string_arg(o.Get("backend"), "backend");
    if (o.Get("interface").IsString()) options.interface = string_arg(o.Get("interface"), "interface");
    if (o.Get("hostname").IsString()) options.hostname = string_arg(o.Get("hostname"), "hostname");
    if (!o.Get("threads").IsUndefined()) options.threads = static_cast<int>(to_int64(o.Get("threads"), "threads"));
    auto joined = std::make_shared<std::shared_ptr<dist::Group>>();
    return start(
        env, "initProcessGroup", [options, joined] { *joined = dist::init_group(options); },
        [joined](Napi::Env e) { return wrap(e, *joined, kGroupTag); });
  });
}

static Napi::Value work_handle(Napi::Env env, std::shared_ptr<dist::Pending> p) {
  return wrap(env, std::move(p), kWorkTag);
}

Napi::Value distAllReduce(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "allReduce", [&] {
    auto g = group_arg(info);
    auto tensors = to_tensor_list(arg(info, 1), "the tensors", false);
    return work_handle(info.Env(), dist::all_reduce(*g, std::move(tensors), string_arg(arg(info, 2), "the reduction")));
  });
}

Napi::Value distBroadcast(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "broadcast", [&] {
    auto g = group_arg(info);
    auto tensors = to_tensor_list(arg(info, 1), "the tensors", false);
    int root = static_cast<int>(to_int64(arg(info, 2), "the root rank"));
    return work_handle(info.Env(), dist::broadcast(*g, std::move(tensors), root));
  });
}

Napi::Value distAllGather(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "allGather", [&] {
    auto g = group_arg(info);
    const at::Tensor& input = unwrap_tensor(arg(info, 1), "the input");
    auto outputs = to_tensor_list(arg(info, 2), "the outputs", false);
    return work_handle(info.Env(), dist::all_gather(*g, input, std::move(outputs)));
  });
}

Napi::Value distBarrier(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "barrier", [&] { return work_handle(info.Env(), dist::barrier(*group_arg(info))); });
}

static std::shared_ptr<dist::Pending> work_arg(const Napi::CallbackInfo& info) {
  return unwrap<dist::Pending>(arg(info, 0), kWorkTag, "a collective's work handle");
}

Napi::Value distWait(const Napi::CallbackInfo& info) {
  auto what = [&] {
    try {
      return work_arg(info)->what;
    } catch (...) {
      return std::string("wait");
    }
  };
  return guard(info.Env(), what, [&] {
    auto p = work_arg(info);
    dist::wait(*p, ms_arg(arg(info, 1), "timeoutMs"));
    return info.Env().Undefined();
  });
}

Napi::Value distWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, "wait", [&] {
    auto p = work_arg(info);
    auto timeout = ms_arg(arg(info, 1), "timeoutMs");
    return start(env, p->what, [p, timeout] { dist::wait(*p, timeout); },
                 [](Napi::Env e) { return e.Undefined(); });
  });
}

Napi::Value distSumGradient(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "sumGradientAcrossRanks", [&] {
    auto g = group_arg(info);
    const at::Tensor& t = unwrap_tensor(arg(info, 1), "the tensor");
    if (!t.requires_grad()) throw ArgumentError("the tensor does not require grad");
    dist::sum_gradient_across_ranks(g, t);
    return info.Env().Undefined();
  });
}

Napi::Value distReducer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "DistributedDataParallel", [&] {
    auto g = group_arg(info);
    auto params = to_tensor_list(arg(info, 1), "the parameters", false);
    std::vector<std::string> names;
    if (!arg(info, 2).IsArray()) throw ArgumentError("the parameter names must be an array");
    Napi::Array a = arg(info, 2).As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) names.push_back(string_arg(a.Get(i), "a parameter name"));
    int64_t bucket = to_int64(arg(info, 3), "bucketBytes");
    int64_t first = to_int64(arg(info, 4), "firstBucketBytes");
    if (bucket <= 0 || first <= 0) throw ArgumentError("bucket sizes must be positive");
    bool find_unused = arg(info, 5).ToBoolean().Value();
    for (size_t i = 0; i < params.size(); ++i) {
      if (!params[i].is_leaf() || !params[i].requires_grad()) {
        throw ArgumentError("parameter " + (i < names.size() ? names[i] : std::to_string(i)) +
                            " is not a leaf tensor requiring grad");
      }
    }
    return wrap(info.Env(), dist::make_reducer(g, params, names, bucket, first, find_unused), kReducerTag);
  });
}

Napi::Value distPrepareBackward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "DistributedDataParallel", [&] {
    auto r = unwrap<c10d::Reducer>(arg(info, 0), kReducerTag, "a reducer");
    auto outputs = to_tensor_list(arg(info, 1), "the outputs", false);
    dist::prepare_for_backward(*r, outputs);
    return info.Env().Undefined();
  });
}

Napi::Value distRelease(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "distributed", [&] {
    Napi::Value v = arg(info, 0);
    if (v.IsExternal()) {
      auto e = v.As<Napi::External<void>>();
      if (e.CheckTypeTag(&kGroupTag)) holder<dist::Group>(v, kGroupTag, "").ptr.reset();
      else if (e.CheckTypeTag(&kReducerTag)) holder<c10d::Reducer>(v, kReducerTag, "").ptr.reset();
      else if (e.CheckTypeTag(&kWorkTag)) holder<dist::Pending>(v, kWorkTag, "").ptr.reset();
      else throw ArgumentError("expected a process group or a reducer, got " + describe(v));
    } else {
      throw ArgumentError("expected a process group or a reducer, got " + describe(v));
    }
    return info.Env().Undefined();
  });
}

}  // namespace pdenet::js
