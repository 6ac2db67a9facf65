#include "core/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace hop::core {

namespace {
void close_pipe(Pipe p) {
  ::close(p.read_fd);
  ::close(p.write_fd);
}
}  // namespace

PipePool::~PipePool() {
  for (Pipe p : spare_) close_pipe(p);
}

Pipe PipePool::take() {
  if (!spare_.empty()) {
    Pipe p = spare_.back();
    spare_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  ::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);  // best effort: the default size works too
  return {fds[0], fds[1]};
}

void PipePool::give_back(Pipe p, bool drained) {
  if (!p) return;
  if (drained && spare_.size() < kMaxSpare) spare_.push_back(p);
  else close_pipe(p);
}

}  // namespace hop::core
