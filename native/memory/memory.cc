/*
 * Two ways for a member to give memory back after a burst of writes, neither reachable from
 * JavaScript:
 *
 * trim(): glibc's malloc_trim(0), which hands the free pages inside the malloc heap back to the
 * system. Node's ArrayBuffers and LevelDB allocate with malloc; after a burst most of that memory
 * is free again, but glibc returns only the free space at the top of its heap, so the rest stays
 * resident (measured: 195 MiB free of a 199 MiB heap after a million-key load). Elsewhere (musl,
 * macOS) there is nothing to call: trim() returns false and `supported` is false.
 *
 * relieveHeap(): tells V8 of moderate memory pressure, which starts an incremental, compacting
 * major GC that returns emptied pages (what V8's own memory reducer does once it judges the
 * process idle, measured 30-60 s after a load ended). Its pauses are incremental steps, not one
 * stop; the call itself returns at once.
 *
 * relieveHeap uses V8's C++ API, not Node-API, so the module is built for the Node it is installed
 * with (npm install rebuilds it; src/util/memory-relief.ts copes with a stale build).
 */
#include <node.h>
#include <v8.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

void Trim(const v8::FunctionCallbackInfo<v8::Value>& args) {
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  args.GetReturnValue().Set(released != 0);
}

void RelieveHeap(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  // The level is taken back by V8 itself once the GC has started; kNone only makes sure a later
  // call starts another.
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
}

void Init(v8::Local<v8::Object> exports) {
  v8::Isolate* isolate = exports->GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  NODE_SET_METHOD(exports, "trim", Trim);
  NODE_SET_METHOD(exports, "relieveHeap", RelieveHeap);
#if defined(__GLIBC__)
  bool supported = true;
#else
  bool supported = false;
#endif
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "trimSupported"), v8::Boolean::New(isolate, supported)).Check();
}

}  // namespace

NODE_MODULE(NODE_GYP_MODULE_NAME, Init)
