#include <gtest/gtest.h>

#include <string>
#include <thread>

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
