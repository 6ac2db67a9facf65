#include <gtest/gtest.h>

#include <string>
#include <thread>

#include <unistd.h>

#include "core/event_loop.h"

using namespace hop::core;

TEST(EventLoop, TimersFireInDeadlineOrder) {
  EventLoop loop;
  std::string order;
  Timer a(loop, [&] { order += 'a'; });
  Timer b(loop, [&] { order += 'b'; });
  Timer c(loop, [&] {
    order += 'c';
    loop.stop();
  });
  a.arm(Millis(20));
  b.arm(Millis(5));
  c.arm(Millis(40));
  loop.run();
  EXPECT_EQ(order, "bac");
}

TEST(EventLoop, ReArmingLaterDelaysAndEarlierAdvances) {
  EventLoop loop;
  std::string order;
  Timer a(loop, [&] { order += 'a'; });
  Timer b(loop, [&] { order += 'b'; });
  Timer stop(loop, [&] { loop.stop(); });
  a.arm(Millis(5));
  b.arm(Millis(30));
  a.arm(Millis(60));  // pushed past b: must not fire at 5 ms
  b.arm(Millis(10));  // pulled in
  stop.arm(Millis(100));
  auto start = Clock::now();
  loop.run();
  EXPECT_EQ(order, "ba");
  EXPECT_GE(Clock::now() - start, Millis(60));
}

TEST(EventLoop, CancelledTimerNeverFires) {
  EventLoop loop;
  bool fired = false;
  Timer a(loop, [&] { fired = true; });
  Timer stop(loop, [&] { loop.stop(); });
  a.arm(Millis(5));
  a.arm(Millis(50));
  a.cancel();
  stop.arm(Millis(80));
  loop.run();
  EXPECT_FALSE(fired);
}

namespace {
struct PipeReader final : IoHandler {
  bool read = false;
  void on_io(uint32_t) override { read = true; }
};
}  // namespace

// A handler that yields with arm(0) and re-arms from its own callback must let the loop
// poll sockets in between, or yielding would starve every other connection.
TEST(EventLoop, ATimerReArmedForNowLetsWaitingIoRunFirst) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  PipeReader reader;
  ASSERT_TRUE(loop.add(fds[0], &reader));
  int fired_before_io = 0;
  Timer spin(loop, [&] {
    if (reader.read || fired_before_io == 1000) {
      loop.stop();
      return;
    }
    if (fired_before_io++ == 0) {
      EXPECT_EQ(::write(fds[1], "x", 1), 1);  // I/O arrives while spinning
    }
    spin.arm(Millis(0));
  });
  spin.arm(Millis(0));
  loop.run();
  EXPECT_TRUE(reader.read);
  EXPECT_LE(fired_before_io, 2);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoop, PostRunsOnTheLoopThread) {
  EventLoop loop;
  std::thread::id ran_on;
  std::thread t([&] { loop.post([&] {
    ran_on = std::this_thread::get_id();
    loop.stop();
  }); });
  loop.run();
  t.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}
