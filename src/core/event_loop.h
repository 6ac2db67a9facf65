// One epoll event loop per thread. Everything registered on a loop is owned by the thread
// that runs it; the only thread-safe entry point is post().
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "core/clock.h"

namespace hop::core {

// Receives readiness for one file descriptor. Sockets are registered edge-triggered for
// EPOLLIN|EPOLLOUT|EPOLLRDHUP once, so backpressure never costs an epoll_ctl: a handler
// remembers that it stopped reading with data pending and resumes by reading again.
class IoHandler {
 public:
  virtual void on_io(uint32_t events) = 0;

 protected:
  ~IoHandler() = default;
};

class EventLoop;

// A one-shot timer owned by the object whose deadline it tracks. Re-arming an armed timer
// moves it; destroying an armed timer cancels it.
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> on_fire);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm(Millis after);
  void arm_at(TimePoint deadline);
  void cancel();
  bool armed() const { return heap_index_ != kNotArmed; }
  TimePoint deadline() const { return deadline_; }

 private:
  friend class EventLoop;
  static constexpr size_t kNotArmed = static_cast<size_t>(-1);
  EventLoop& loop_;
  std::function<void()> on_fire_;
  TimePoint deadline_{};  // when it should fire
  TimePoint heap_key_{};  // where it sits in the heap: ≤ deadline_ (pushed back lazily)
  size_t heap_index_ = kNotArmed;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Edge-triggered registration; returns false (errno set) when epoll refuses the fd.
  bool add(int fd, IoHandler* handler, uint32_t events = kDefaultEvents);
  bool modify(int fd, IoHandler* handler, uint32_t events);
  void remove(int fd);

  // Runs fn on this loop's thread at the end of the current iteration: the safe place to
  // destroy an object whose method is still on the stack.
  void defer(std::function<void()> fn);
  // Thread-safe: queues fn for this loop's thread and wakes it.
  void post(std::function<void()> fn);

  // Runs after every loop iteration (after timers and deferred work): where batched
  // output such as the access log is flushed.
  void set_iteration_hook(std::function<void()> fn) { iteration_hook_ = std::move(fn); }

  void run();
  // Runs deferred work outside run(): for teardown after the loop has stopped.
  void run_deferred_now() { run_deferred(); }
  void stop();  // from the loop's own thread; other threads post([&]{ loop.stop(); })

  TimePoint now() const { return now_; }
  void update_time() { now_ = Clock::now(); }

  static constexpr uint32_t kDefaultEvents = 0x001 /*IN*/ | 0x004 /*OUT*/ | 0x2000 /*RDHUP*/ |
                                             (1u << 31) /*ET*/;

 private:
  friend class Timer;
  void timer_arm(Timer* t, TimePoint deadline);
  void timer_cancel(Timer* t);
  void heap_up(size_t i);
  void heap_down(size_t i);
  void heap_swap(size_t a, size_t b);
  void run_timers();
  void run_deferred();
  void drain_posted();
  int next_timeout_ms() const;

  class Waker;
  int epfd_ = -1;
  int wakefd_ = -1;
  bool running_ = false;
  bool running_timers_ = false;  // inside run_timers: see timer_arm
  TimePoint now_;
  std::vector<Timer*> heap_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> deferred_running_;
  std::function<void()> iteration_hook_;
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace hop::core
