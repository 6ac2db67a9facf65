// The socket calls of the request path, made without glibc's wrappers. recv, send,
// sendmsg, writev and epoll_wait are pthread cancellation points: glibc switches
// asynchronous cancellation on and off around each one, about 60 instructions per call
// and 2 % of a proxied request's user-space instructions. hop never cancels a thread.
// Same contract as the libc functions: the result, or -1 with errno set.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace hop::core {

// syscall() is variadic and reads every argument as a long: ints are widened explicitly.
inline ssize_t sys_recv(int fd, void* buf, size_t len, int flags) {
  return ::syscall(SYS_recvfrom, long{fd}, buf, len, long{flags}, nullptr, nullptr);
}
inline ssize_t sys_send(int fd, const void* buf, size_t len, int flags) {
  return ::syscall(SYS_sendto, long{fd}, buf, len, long{flags}, nullptr, 0L);
}
inline ssize_t sys_sendmsg(int fd, const msghdr* msg, int flags) {
  return ::syscall(SYS_sendmsg, long{fd}, msg, long{flags});
}
inline ssize_t sys_writev(int fd, const iovec* iov, int count) { return ::syscall(SYS_writev, long{fd}, iov, long{count}); }
// epoll_pwait with no signal mask is epoll_wait, and exists on every architecture (arm64
// has no epoll_wait system call).
inline int sys_epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) {
  return static_cast<int>(::syscall(SYS_epoll_pwait, long{epfd}, events, long{max}, long{timeout_ms}, nullptr, 0L));
}

}  // namespace hop::core
