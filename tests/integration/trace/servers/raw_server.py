"""A one-behaviour TCP server for failure tests: it answers every connection with fixed
bytes, then either closes or stays silent. Usage: raw_server.py PORT MODE
MODE: truncated   head says 100 body bytes, sends 10, closes        (fails in transfer)
      garbage     a response that is not HTTP                        (fails in ttfb)
      one-per-conn a keep-alive response, then closes the connection (reuse must recover)
      slow-body   head at once, body 300 ms later                   (time lands in transfer)
Prints "ready" once listening."""
import socket
import sys
import threading
import time

RESPONSES = {
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    "garbage": b"SSH-2.0-OpenSSH_9.2\r\n",
    "one-per-conn": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def serve(conn, mode):
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        if mode == "slow-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            time.sleep(0.3)
            conn.sendall(b"body")
            return
        conn.sendall(RESPONSES[mode])
        if mode == "one-per-conn":
            time.sleep(0.05)  # closes while the client believes the connection is idle


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
