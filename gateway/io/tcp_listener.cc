// TcpListener: bind, listen, and hand every accepted connection over as a TcpTransport.
#include "gateway/io/tcp_listener.h"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "gateway/io/tcp_transport.h"

namespace popgate::io {

namespace {

void free_tcp(uv_handle_t* handle) {
  delete reinterpret_cast<uv_tcp_t*>(handle);
}

// A classic BPF program for the SO_REUSEPORT group: it returns the index of the listener that gets
// the connection, from the client's source address only (IPv4: the address; IPv6: its last 32
// bits), folded and taken modulo the group size. The kernel runs it on the SYN with the data
// pointer past the TCP header, so the IP header is read at SKF_NET_OFF. It is set on every
// listener of the group; the last one set is the group's.
bool steer_by_client_address(int fd, unsigned group_size) {
  sock_filter code[] = {
      {BPF_LD | BPF_B | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_NET_OFF)},       // A = version/IHL
      {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4},                                       // A = IP version
      {BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 6},                                       // IPv6: skip 2
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_NET_OFF + 12)},  // IPv4 source
      {BPF_JMP | BPF_JA, 0, 0, 1},
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_NET_OFF + 20)},  // IPv6 source, low 32 bits
      {BPF_MISC | BPF_TAX, 0, 0, 0},                                              // X = A
      {BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16},                                      // fold the high half
      {BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0},                                       // into the low one
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, group_size},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) == 0;
}

Error bind_error(const SocketAddress& address, int status) {
  // Another process holding the port may go away (a restart overlapping the old
  // instance); permissions and foreign addresses won't fix themselves.
  ErrorKind kind = status == UV_EADDRINUSE ? ErrorKind::Temporary : ErrorKind::Permanent;
  return make_error(kind, "bind " + address.to_string() + ": " + uv_strerror(status));
}

}  // namespace

TcpListener::TcpListener(Loop& loop, Options options, AcceptFn on_accept)
    : loop_(loop), options_(std::move(options)), on_accept_(std::move(on_accept)) {}

TcpListener::~TcpListener() {
  close();
}

Result<std::unique_ptr<TcpListener>> TcpListener::listen(Loop& loop, const SocketAddress& address,
                                                         Options options, AcceptFn on_accept) {
  std::unique_ptr<TcpListener> listener(new TcpListener(loop, std::move(options), std::move(on_accept)));
  // With a family, uv_tcp_init_ex creates the socket now, so options can be set before bind.
  auto* handle = new uv_tcp_t;
  int status = uv_tcp_init_ex(loop.raw(), handle, address.get()->sa_family);
  if (status != 0) {
    delete handle;  // never initialised: nothing to close
    return bind_error(address, status);
  }
  handle->data = listener.get();
  listener->handle_ = handle;  // from here on, the destructor closes it

  if (listener->options_.reuse_port) {
    uv_os_fd_t fd = -1;
    status = uv_fileno(reinterpret_cast<uv_handle_t*>(handle), &fd);
    int on = 1;
    if (status == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
      status = uv_translate_sys_error(errno);
    }
    if (status != 0) return bind_error(address, status);
  }
  // uv_tcp_bind sets SO_REUSEADDR; it reports EADDRINUSE only from uv_listen.
  status = uv_tcp_bind(handle, address.get(), 0);
  if (status == 0) {
    status = uv_listen(reinterpret_cast<uv_stream_t*>(handle), listener->options_.backlog,
                       &TcpListener::on_connection);
  }
  if (status != 0) return bind_error(address, status);
  // After listen: set on a socket that is not in the group yet, the program would start a group
  // of its own, and the port would be "in use".
  if (listener->options_.reuse_port && listener->options_.steer_by_client_address > 1) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(handle), &fd) != 0 ||
        !steer_by_client_address(fd, listener->options_.steer_by_client_address)) {
      return make_error(ErrorKind::Permanent,
                        "listen " + address.to_string() +
                            ": cannot steer connections by client address: " + std::strerror(errno));
    }
  }

  sockaddr_storage bound{};
  int length = sizeof(bound);
  if (uv_tcp_getsockname(handle, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    listener->local_ = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&bound));
  } else {
    listener->local_ = address;
  }
  return listener;
}

SocketAddress TcpListener::local_address() const {
  return local_;
}

void TcpListener::close() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_tcp);
  handle_ = nullptr;
}

void TcpListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  // An accept error (EMFILE after libuv's reserve-fd trick, ENOBUFS) costs only that
  // connection attempt; libuv keeps the listener armed without spinning.
  if (self == nullptr || status != 0) return;
  auto* client = new uv_tcp_t;
  if (uv_tcp_init(self->loop_.raw(), client) != 0) {
    delete client;
    return;
  }
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), free_tcp);
    return;
  }
  TransportPtr transport = TcpTransport::adopt(self->loop_, client, self->options_.watermarks);
  // A copy: the callback may destroy this listener, and with it on_accept_.
  AcceptFn on_accept = self->on_accept_;
  if (on_accept) on_accept(std::move(transport));
}

}  // namespace popgate::io
