#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "core/pipe_pool.h"

using hop::core::Pipe;
using hop::core::PipePool;

namespace {
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

TEST(PipePool, MakesNonBlockingPipesAndReusesDrainedOnes) {
  PipePool pool;
  Pipe p = pool.take();
  ASSERT_TRUE(p);
  EXPECT_TRUE(::fcntl(p.read_fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(p.write_fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_GE(::fcntl(p.write_fd, F_GETPIPE_SZ), 64 * 1024);
  pool.give_back(p, true);
  EXPECT_EQ(pool.spare(), 1u);
  Pipe again = pool.take();
  EXPECT_EQ(again.read_fd, p.read_fd);  // the same pipe, no new fds
  EXPECT_EQ(pool.spare(), 0u);
  pool.give_back(again, true);
}

TEST(PipePool, ClosesPipesThatStillHoldBytes) {
  PipePool pool;
  Pipe p = pool.take();
  ASSERT_EQ(::write(p.write_fd, "x", 1), 1);
  pool.give_back(p, false);  // bytes of a body that was cut: never reach another client
  EXPECT_EQ(pool.spare(), 0u);
  EXPECT_FALSE(is_open(p.read_fd));
  EXPECT_FALSE(is_open(p.write_fd));
}

TEST(PipePool, KeepsAtMostKMaxSpare) {
  std::vector<Pipe> taken;
  {
    PipePool pool;
    for (size_t i = 0; i < PipePool::kMaxSpare + 5; ++i) taken.push_back(pool.take());
    for (Pipe p : taken) pool.give_back(p, true);
    EXPECT_EQ(pool.spare(), PipePool::kMaxSpare);
    EXPECT_FALSE(is_open(taken.back().read_fd));  // beyond the bound: closed
    EXPECT_TRUE(is_open(taken.front().read_fd));
  }
  for (Pipe p : taken) EXPECT_FALSE(is_open(p.read_fd));  // the pool closes its spares
}
