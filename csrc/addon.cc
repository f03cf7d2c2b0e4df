// Registers the native functions of pdenet. Nothing else happens here.
#include <napi.h>

#include "napi_distributed.h"
#include "napi_functions.h"
#include "napi_values.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pdenet::init_addon(env);
  using namespace pdenet::js;
  const std::pair<const char*, Napi::Function::Callback> functions[] = {
      {"findOp", findOp},           {"opSchema", opSchema},
      {"call", call},               {"callInPlace", callInPlace},
      {"fromBytes", fromBytes},     {"toBytes", toBytes},
      {"shape", shape},             {"dtype", dtype},
      {"device", device},           {"isContiguous", isContiguous},
      {"dispose", dispose},
      {"pickleSave", pickleSave},
      {"requiresGrad", requiresGrad}, {"setRequiresGrad", setRequiresGrad},
      {"isLeaf", isLeaf},           {"grad", grad},
      {"setGrad", setGrad},         {"backward", backward},
      {"autogradGrad", autogradGrad}, {"gradEnabled", gradEnabled},
      {"setGradEnabled", setGradEnabled}, {"autocastEnabled", autocastEnabled},
      {"autocastDtype", autocastDtype}, {"setAutocast", setAutocast},
      {"numThreads", numThreads},
      {"setNumThreads", setNumThreads}, {"manualSeed", manualSeed},
      {"memory", memory},           {"resetPeakMemory", resetPeakMemory},
      {"releaseCachedMemory", releaseCachedMemory},
      {"buildInfo", buildInfo},     {"setErrorClass", setErrorClass},
      {"distHasBackend", distHasBackend}, {"distInit", distInit},
      {"distAllReduce", distAllReduce}, {"distBroadcast", distBroadcast},
      {"distAllGather", distAllGather}, {"distBarrier", distBarrier},
      {"distWait", distWait},       {"distWaitAsync", distWaitAsync},
      {"distSumGradient", distSumGradient}, {"distReducer", distReducer},
      {"distPrepareBackward", distPrepareBackward}, {"distRelease", distRelease},
  };
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
  return exports;
}

}  // namespace

NODE_API_MODULE(pdenet, Init)
