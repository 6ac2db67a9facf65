#include "core/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/sys_io.h"

namespace hop::core {

// The eventfd that post() writes to; reading it just clears the wake-up.
class EventLoop::Waker final : public IoHandler {
 public:
  explicit Waker(EventLoop& loop) : loop_(loop) {}
  void on_io(uint32_t) override {
    uint64_t v;
    while (::read(loop_.wakefd_, &v, sizeof v) == sizeof v) {
    }
    loop_.drain_posted();
  }

 private:
  EventLoop& loop_;
};



EventLoop::EventLoop() : now_(Clock::now()) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::runtime_error(std::string("epoll/eventfd: ") + strerror(errno));
  heap_.reserve(1024);
}

EventLoop::~EventLoop() {
  for (Timer* t : heap_) t->heap_index_ = Timer::kNotArmed;
  if (wakefd_ >= 0) ::close(wakefd_);
  if (epfd_ >= 0) ::close(epfd_);
}

bool EventLoop::add(int fd, IoHandler* handler, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, IoHandler* handler, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = ::write(wakefd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
}

void EventLoop::drain_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::stop() { running_ = false; }

int EventLoop::next_timeout_ms() const {
  if (!deferred_.empty()) return 0;
  if (heap_.empty()) return 1000;
  auto d = std::chrono::duration_cast<Millis>(heap_[0]->heap_key_ - now_).count();
  if (d <= 0) return 0;
  // Round up so a timer never fires early and the loop never spins on a 0 ms wait.
  return static_cast<int>(d < 1000 ? d + 1 : 1000);
}

void EventLoop::run() {
  Waker waker(*this);
  add(wakefd_, &waker, EPOLLIN | EPOLLET);
  running_ = true;
  drain_posted();
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (running_) {
    int n = sys_epoll_wait(epfd_, events, kMaxEvents, next_timeout_ms());
    update_time();
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      static_cast<IoHandler*>(events[i].data.ptr)->on_io(events[i].events);
    }
    run_timers();
    run_deferred();
    if (iteration_hook_) iteration_hook_();
  }
  remove(wakefd_);
  drain_posted();
  run_deferred();
}

void EventLoop::run_deferred() {
  // A deferred function may defer more work; run until quiet so destruction is complete.
  while (!deferred_.empty()) {
    deferred_running_.swap(deferred_);
    for (auto& fn : deferred_running_) fn();
    deferred_running_.clear();
  }
}

void EventLoop::run_timers() {
  running_timers_ = true;
  while (!heap_.empty() && heap_[0]->heap_key_ <= now_) {
    Timer* t = heap_[0];
    if (t->deadline_ > now_) {
      // Moved later since it was placed: sift it to its real deadline now, once, instead
      // of on every re-arm (connections push their timers out several times a request).
      t->heap_key_ = t->deadline_;
      heap_down(0);
      continue;
    }
    timer_cancel(t);
    t->on_fire_();
  }
  running_timers_ = false;
}

void EventLoop::heap_swap(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a]->heap_index_ = a;
  heap_[b]->heap_index_ = b;
}

void EventLoop::heap_up(size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (heap_[p]->heap_key_ <= heap_[i]->heap_key_) break;
    heap_swap(i, p);
    i = p;
  }
}

void EventLoop::heap_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_.size() && heap_[l]->heap_key_ < heap_[m]->heap_key_) m = l;
    if (r < heap_.size() && heap_[r]->heap_key_ < heap_[m]->heap_key_) m = r;
    if (m == i) return;
    heap_swap(i, m);
    i = m;
  }
}

void EventLoop::timer_arm(Timer* t, TimePoint deadline) {
  // A timer armed for "now" from a timer callback (a connection yielding again after its
  // share of work) fires on the next turn, after the I/O that is waiting: a deadline of
  // now_ would fire inside this same run_timers pass, again and again, and starve every
  // socket. Armed from an I/O handler it still fires in this turn's pass, as before.
  if (running_timers_ && deadline <= now_) deadline = now_ + std::chrono::nanoseconds(1);
  if (t->heap_index_ != Timer::kNotArmed) {
    t->deadline_ = deadline;
    if (deadline < t->heap_key_) {
      t->heap_key_ = deadline;
      heap_up(t->heap_index_);
    }  // later: leave it; run_timers moves it when its old key comes up
    return;
  }
  t->deadline_ = deadline;
  t->heap_key_ = deadline;
  t->heap_index_ = heap_.size();
  heap_.push_back(t);
  heap_up(t->heap_index_);
}

void EventLoop::timer_cancel(Timer* t) {
  size_t i = t->heap_index_;
  if (i == Timer::kNotArmed) return;
  size_t last = heap_.size() - 1;
  if (i != last) heap_swap(i, last);
  heap_.pop_back();
  t->heap_index_ = Timer::kNotArmed;
  if (i < heap_.size()) {
    heap_up(i);
    heap_down(i);
  }
}

Timer::Timer(EventLoop& loop, std::function<void()> on_fire) : loop_(loop), on_fire_(std::move(on_fire)) {}
Timer::~Timer() { cancel(); }
void Timer::arm(Millis after) { loop_.timer_arm(this, loop_.now() + after); }
void Timer::arm_at(TimePoint deadline) { loop_.timer_arm(this, deadline); }
void Timer::cancel() { loop_.timer_cancel(this); }

}  // namespace hop::core
