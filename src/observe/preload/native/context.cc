// The tracing preload's context slot (context-native.cjs): V8's continuation-preserved embedder
// data, one value per JavaScript context that V8 itself carries into every promise continuation
// (an `await`, a `then`) from where it was scheduled. Node 22's AsyncLocalStorage is built on the
// same slot (AsyncContextFrame); Node 20's uses async_hooks and V8 promise hooks instead, whose
// first use slows every promise of the process for good (decision 0015).
//
// Two functions: get() returns the value, set(value) replaces it.
#include <node.h>

namespace {

void GetSlot(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(info.GetIsolate()->GetCurrentContext()->GetContinuationPreservedEmbedderData());
}

void SetSlot(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetIsolate()->GetCurrentContext()->SetContinuationPreservedEmbedderData(info[0]);
}

}  // namespace

// Context-aware: loadable in worker threads too (the preload uses it on the main thread only).
NODE_MODULE_INIT() {
  NODE_SET_METHOD(exports, "get", GetSlot);
  NODE_SET_METHOD(exports, "set", SetSlot);
}
