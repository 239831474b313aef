// run_on_threadpool: a heap WorkRequest owns the uv_work_t and is freed in its after-work
// callback, the only point where libuv is done with it; the handle only ever detaches from it.
//
// Threads: `work` runs on the pool between uv_queue_work and the after-work callback and is the
// only field the pool touches; everything else (`done`, the handle link) is the loop thread's.
#include "gateway/io/threadpool_work.h"

#include <cstdlib>
#include <utility>

namespace popgate::io {

namespace {

class WorkHandle;

struct WorkRequest {
  uv_work_t request{};
  std::function<void()> work;
  std::function<void()> done;
  WorkHandle* handle = nullptr;  // null once the handle is gone: the completion is cancelled
};

class WorkHandle final : public ThreadpoolWork {
 public:
  explicit WorkHandle(WorkRequest* request) : request_(request) { request_->handle = this; }
  ~WorkHandle() override {
    if (request_ == nullptr) return;  // completed already
    request_->handle = nullptr;
    request_->done = nullptr;
  }
  void detach() { request_ = nullptr; }

 private:
  WorkRequest* request_;  // owned by libuv until its after-work callback
};

void run_work(uv_work_t* request) {
  static_cast<WorkRequest*>(request->data)->work();
}

// Nothing here calls uv_cancel, so the status is always 0: the work ran.
void after_work(uv_work_t* request, int /*status*/) {
  std::unique_ptr<WorkRequest> owned(static_cast<WorkRequest*>(request->data));
  if (owned->handle != nullptr) owned->handle->detach();
  // Moved out first: `done` may destroy the handle, and with it whatever owns the job.
  std::function<void()> done = std::move(owned->done);
  owned.reset();
  if (done) done();
}

}  // namespace

ThreadpoolWorkPtr run_on_threadpool(Loop& loop, std::function<void()> work, std::function<void()> done) {
  auto* request = new WorkRequest{{}, std::move(work), std::move(done), nullptr};
  request->request.data = request;
  auto handle = std::make_unique<WorkHandle>(request);
  // libuv refuses only a null work callback (UV_EINVAL): a bug here, not a condition to handle,
  // like the loop's own start-up failures.
  if (uv_queue_work(loop.raw(), &request->request, run_work, after_work) != 0) std::abort();
  return handle;
}

}  // namespace popgate::io
