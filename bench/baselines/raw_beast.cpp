// Baseline for the /healthz benchmark: the smallest reasonable Beast server,
// written the way Beast's own async example is (tcp_stream with timeouts,
// keep-alive, one thread). It answers every request with the same small
// JSON body, so the service is compared with "HTTP parsing and writing
// only" on the same machine in the same run.
//
// Usage: raw_beast <port>   (0 = pick one; the port is printed on stdout)

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <iostream>
#include <memory>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class connection : public std::enable_shared_from_this<connection> {
public:
  explicit connection(tcp::socket s) : stream_(std::move(s)) {}

  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec)
        return self->stream_.close();
      self->respond();
    });
  }

private:
  void respond() {
    response_ = {http::status::ok, request_.version()};
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = R"({"status":"ok"})";
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->response_.keep_alive())
        return self->stream_.close();
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay{true});
      std::make_shared<connection>(std::move(socket))->read();
    }
    accept(acceptor);
  });
}

} // namespace

int main(int argc, char** argv) {
  unsigned short port = argc > 1 ? static_cast<unsigned short>(std::stoi(argv[1])) : 0;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc, {asio::ip::make_address("127.0.0.1"), port}};
  std::cout << acceptor.local_endpoint().port() << std::endl;
  accept(acceptor);
  ioc.run();
}
