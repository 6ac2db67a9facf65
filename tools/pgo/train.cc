// Drives an instrumented hop (-fprofile-generate) through the request paths production
// traffic takes, so that GCC's profile-guided optimisation can lay the release binary out
// for them: hot code together, likely branches straight, cold paths out of the way. The
// build runs it between the instrumented and the final compile (cmake/pgo.cmake).
//
//   pgo_train HOP_BINARY [SECONDS]
//
// It starts `hop backend` and `hop proxy --to backend` on free loopback ports and sends,
// over 50 client connections: keep-alive GETs (most of the time, as in benchmark 1), a new
// connection per request (`Connection: close`), POSTs with Content-Length and chunked
// bodies, HEAD, an upstream error status and 256 KiB responses (the splice path). Then it
// stops both with SIGTERM so that they write their profiles. The mix decides what the
// compiler treats as hot, so it is weighted like real traffic: mostly small keep-alive
// requests, every other path present but rarer. Exit status 0 only if every phase ran.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Two distinct free loopback ports: both are held until both are known.
void free_ports(int& first, int& second) {
  int fds[2];
  int ports[2];
  for (int i = 0; i < 2; ++i) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fds[i] < 0 || bind(fds[i], reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fds[i], reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("pgo_train: free port");
      std::exit(1);
    }
    ports[i] = ntohs(a.sin_port);
  }
  close(fds[0]);
  close(fds[1]);
  first = ports[0];
  second = ports[1];
}

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  if (fd >= 0) close(fd);
  return -1;
}

pid_t spawn(const std::vector<std::string>& args) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // If the trainer dies (its alarm, a signal), hop goes with it: no orphan keeps the
    // ports, and SIGKILL writes no late, partial profile over the finished build's.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

bool wait_listening(int port) {
  for (int i = 0; i < 200; ++i) {
    int fd = connect_to(port);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    usleep(25000);
  }
  return false;
}

// One request and what ends its response: responses from `hop backend` through hop always
// carry Content-Length (HEAD: the head alone).
struct Request {
  std::string bytes;
  bool head_only = false;
  bool close_after = false;
};

// Bytes of a complete response at the start of buf, or 0 if it is not all there yet.
size_t response_length(std::string_view buf, bool head_only) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  size_t head = end + 4;
  if (head_only) return head;
  uint64_t body = 0;
  std::string_view h = buf.substr(0, head);
  for (size_t pos = h.find("\r\n"); pos != std::string_view::npos && pos + 2 < head; pos = h.find("\r\n", pos + 2)) {
    std::string_view line = h.substr(pos + 2);
    if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) body = std::strtoull(line.data() + 15, nullptr, 10);
  }
  return buf.size() >= head + body ? head + body : 0;
}

struct Conn {
  int fd = -1;
  std::string in;
  const Request* req = nullptr;
};

// Sends `req` round and round over `conns` connections for `seconds`; a request that asks
// to close gets a new connection each time. Returns completed responses (-1 on failure).
long run_phase(int port, int conns, const Request& req, double seconds) {
  std::vector<Conn> cs(static_cast<size_t>(conns));
  struct Closer {  // every connection closes on every way out, so hop's drain is quick
    std::vector<Conn>& cs;
    ~Closer() {
      for (auto& c : cs)
        if (c.fd >= 0) close(c.fd);
    }
  } closer{cs};
  auto send_on = [&](Conn& c) {
    if (c.fd < 0 && (c.fd = connect_to(port)) < 0) return false;
    c.in.clear();
    c.req = &req;
    size_t off = 0;
    while (off < req.bytes.size()) {
      ssize_t n = send(c.fd, req.bytes.data() + off, req.bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  };
  for (auto& c : cs)
    if (!send_on(c)) return -1;
  long done = 0;
  auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<pollfd> pfds(cs.size());
  char buf[65536];
  while (Clock::now() < until) {
    for (size_t i = 0; i < cs.size(); ++i) pfds[i] = {cs[i].fd, POLLIN, 0};
    if (poll(pfds.data(), pfds.size(), 2000) <= 0) return -1;  // hop stopped answering
    for (size_t i = 0; i < cs.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = cs[i];
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) return -1;
      c.in.append(buf, static_cast<size_t>(n));
      size_t len = response_length(c.in, req.head_only);
      if (!len) continue;
      ++done;
      if (req.close_after) {
        close(c.fd);
        c.fd = -1;
      }
      if (!send_on(c)) return -1;
    }
  }
  return done;
}

Request get(const std::string& path, const std::string& extra = "") {
  return {"GET " + path + " HTTP/1.1\r\nHost: pgo.test\r\nUser-Agent: pgo-train\r\nAccept: */*\r\n" + extra + "\r\n"};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pgo_train HOP_BINARY [SECONDS]\n");
    return 2;
  }
  std::string hop = argv[1];
  double seconds = argc > 2 ? std::atof(argv[2]) : 8.0;
  signal(SIGPIPE, SIG_IGN);
  alarm(static_cast<unsigned>(seconds * 3 + 60));  // a stuck hop must never hang the build

  int backend_port = 0, proxy_port = 0;
  free_ports(backend_port, proxy_port);
  std::string bp = std::to_string(backend_port), pp = std::to_string(proxy_port);
  pid_t backend = spawn({hop, "backend", "--listen", "127.0.0.1:" + bp});
  pid_t proxy = spawn({hop, "proxy", "--listen", "127.0.0.1:" + pp, "--to", "127.0.0.1:" + bp, "--workers", "1"});
  bool ok = backend > 0 && proxy > 0 && wait_listening(backend_port) && wait_listening(proxy_port);

  std::string body(1024, 'x');
  Request close_req = get("/", "Connection: close\r\n");
  close_req.close_after = true;
  Request head = {"HEAD / HTTP/1.1\r\nHost: pgo.test\r\n\r\n", true};
  Request post = {"POST /submit HTTP/1.1\r\nHost: pgo.test\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body};
  Request chunked = {"POST /upload HTTP/1.1\r\nHost: pgo.test\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + body +
                     "\r\n400\r\n" + body + "\r\n0\r\n\r\n"};
  struct Phase {
    const char* name;
    Request req;
    int conns;
    double share;
  } phases[] = {
      {"keep-alive GET", get("/"), 50, 0.70},
      {"Connection: close", close_req, 20, 0.08},
      {"POST Content-Length", post, 20, 0.07},
      {"POST chunked", chunked, 10, 0.04},
      {"HEAD", head, 10, 0.03},
      {"256 KiB responses", get("/bytes/262144"), 4, 0.05},
      // Last: a run of 5xx may eject the host, which changes what later phases would see.
      {"upstream 503", get("/status/503"), 10, 0.03},
  };
  for (const auto& ph : phases) {
    if (!ok) break;
    long n = run_phase(proxy_port, ph.conns, ph.req, seconds * ph.share);
    std::printf("pgo_train: %-20s %ld responses\n", ph.name, n);
    ok = n > 0;
  }
  // SIGTERM drains and exits normally: that is when the profile counters are written.
  for (pid_t p : {proxy, backend}) {
    if (p <= 0) continue;  // fork failed: kill(-1) would signal every process
    kill(p, SIGTERM);
    int status = 0;
    waitpid(p, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = false;
  }
  if (!ok) std::fprintf(stderr, "pgo_train: training did not complete\n");
  return ok ? 0 : 1;
}
