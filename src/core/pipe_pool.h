// A worker's spare pipes for splice(2). A pipe carries a body from one socket to another
// without the bytes entering user space; a connection takes one for the span of one
// response body and gives it back. Bounded: at most kMaxSpare idle pipes (two fds each)
// are kept, so idle connections never hold pipes. One pool per worker thread, no locks.
#pragma once

#include <cstddef>
#include <vector>

namespace hop::core {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  explicit operator bool() const { return read_fd >= 0; }
};

class PipePool {
 public:
  static constexpr size_t kMaxSpare = 16;
  // Asked of the kernel for each new pipe (F_SETPIPE_SZ; the default 64 KiB is kept when
  // the system's pipe-max-size is lower): a 1 MiB body crosses in 4 splices a side.
  static constexpr int kPipeBytes = 256 * 1024;

  PipePool() = default;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();

  // A spare pipe, else a new one; an empty Pipe (errno set) when none can be made.
  Pipe take();
  // `drained`: nothing is left inside, so it can carry another body; otherwise (or when
  // kMaxSpare are already kept) it is closed.
  void give_back(Pipe p, bool drained);
  size_t spare() const { return spare_.size(); }

 private:
  std::vector<Pipe> spare_;
};

}  // namespace hop::core
