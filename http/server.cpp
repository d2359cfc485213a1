#include "http/server.hpp"

#include "http/gateway.hpp"
#include "http/request_id.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <pthread.h>

#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

namespace clean::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using telemetry::log;

namespace {

class session;

constexpr std::string_view request_id_header = "X-Request-ID";

/// Bytes asked of the socket per read; bodies arrive in pieces of this size.
constexpr size_t read_chunk = 16 * 1024;

constexpr std::array<std::string_view, 5> status_classes{"1xx", "2xx", "3xx", "4xx", "5xx"};

size_t status_class_index(unsigned status) {
  auto i = status / 100;
  return i >= 1 && i <= 5 ? i - 1 : 4;
}

/// Metric children of one route template, created on first use and cached,
/// so the hot path never builds label maps or takes the family's lock.
struct route_stats {
  std::string label;
  std::array<std::array<std::atomic<prometheus::Histogram*>, 5>, method_count> latency{};
  prometheus::Counter* errors_5xx = nullptr;
};

/// Reasons a request is refused before it reaches a handler.
enum class reject_reason : uint8_t {
  bad_request,
  header_too_large,
  body_too_large,
  timeout,
  too_many_connections,
  count_
};
constexpr std::array<std::string_view, 5> reject_labels{"bad_request", "header_too_large", "body_too_large",
                                                        "timeout", "too_many_connections"};

/// The log lines (access log and every other line logged on the loop's
/// thread) of one event-loop pass, written as one logger message: a queue
/// hand-off per line cost ~40 % of /healthz throughput with the access log
/// on, and a Stripe delivery logs a line of its own.
class pass_lines final : public telemetry::line_batch {
public:
  explicit pass_lines(asio::io_context& ioc) : ioc_(ioc) {}

  void add(spdlog::level::level_enum level, std::string line) override {
    bool first = lines_.empty();
    if (!first)
      lines_ += '\n';
    lines_ += line;
    level_ = std::max(level_, level);
    if (lines_.size() > 64 * 1024)
      return flush();
    // Runs after the handlers already queued in this pass, so one flush
    // carries the lines of every request completed meanwhile.
    if (first)
      asio::post(ioc_, [this] { flush(); });
  }

  void flush() override {
    telemetry::write_lines(level_, lines_);
    lines_.clear();
    level_ = spdlog::level::info;
  }

private:
  asio::io_context& ioc_;
  std::string lines_;
  spdlog::level::level_enum level_ = spdlog::level::info;
};

/// One event loop with its own thread and actor gateway. Members are
/// declared so that the io_context (and the sessions its pending handlers
/// own) is destroyed before the session registry.
struct worker {
  std::unordered_set<session*> sessions; // only touched on this loop's thread
  asio::io_context ioc{1};
  pass_lines lines{ioc};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::unique_ptr<gateway> actors;
  std::thread thread;
};

} // namespace

struct server::impl {
  impl(server_config c, const route_table& r, const telemetry::http_metrics& m, caf::actor_system& s);

  route_stats& stats_for(const route_table::route* r) {
    return r == nullptr ? unmatched : *stats[static_cast<size_t>(r - routes.routes().data())];
  }
  void record(route_stats& rs, method_kind method, unsigned status, double seconds);
  void reject(reject_reason why) { rejected[static_cast<size_t>(why)]->Increment(); }
  void accept_next();
  void refuse_overload(tcp::socket socket);
  void connection_closed();

  server_config cfg;
  const route_table& routes;
  const telemetry::http_metrics& metrics;
  caf::actor_system& system;

  std::vector<std::unique_ptr<route_stats>> stats; // parallel to routes.routes()
  route_stats unmatched;
  std::array<prometheus::Counter*, static_cast<size_t>(reject_reason::count_)> rejected{};

  std::vector<std::unique_ptr<worker>> workers;
  std::optional<tcp::acceptor> acceptor; // lives on workers[0]
  std::optional<asio::steady_timer> accept_retry;
  size_t next_worker = 0;

  std::atomic<bool> closing{false};
  std::atomic<size_t> connections{0};
  std::mutex drain_mutex;
  std::condition_variable drained;
  bool started = false;
  bool stopped = false;

  ~impl() {
    // The acceptor and timer belong to workers[0]'s io_context; sessions
    // still owned by pending handlers reach back into this object while the
    // io_contexts are destroyed, so workers go first, explicitly.
    accept_retry.reset();
    acceptor.reset();
    workers.clear();
  }
};

namespace {

/// One HTTP/1.1 connection. Requests are handled strictly one at a time:
/// a pipelined request waits in the read buffer until the previous response
/// is written, which keeps responses in order without any queue.
class session final : public response_sink, public std::enable_shared_from_this<session> {
public:
  session(server::impl& srv, worker& w, tcp::socket socket) :
      srv_(srv), worker_(w), stream_(std::move(socket)) {}

  ~session() override {
    worker_.sessions.erase(this);
    srv_.connection_closed();
  }

  void start() {
    worker_.sessions.insert(this);
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      peer_address_ = ep.address().to_string();
      peer_ = peer_address_ + ":" + std::to_string(ep.port());
    }
    await_request();
  }

  void deliver(uint64_t seq, response res) override {
    asio::dispatch(worker_.ioc, [self = shared_from_this(), seq, res = std::move(res)]() mutable {
      self->on_response(seq, std::move(res));
    });
  }

  /// Shutdown: a connection waiting for its next request closes now; one
  /// in the middle of a request finishes it and closes afterwards.
  void close_if_idle() {
    if (phase_ == phase::idle)
      stream_.cancel();
  }

  void force_close() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

private:
  enum class phase { idle, reading, handling, writing, closed };

  // Reading is one loop of `async_read_some` + `parser.put`, rather than
  // Beast's read_header/read composed operations: one socket read and one
  // timer per small request (like the raw Beast baseline), and the switch
  // from the idle deadline to the request deadline happens exactly when the
  // first byte arrives.
  void await_request() {
    if (srv_.closing.load(std::memory_order_relaxed))
      return close();
    phase_ = phase::idle;
    continue_sent_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_.cfg.max_header_bytes));
    parser_->body_limit(srv_.cfg.max_body_bytes);
    if (buffer_.size() > 0) { // a pipelined request is already here
      start_request_deadline();
      return parse_buffered();
    }
    stream_.expires_after(srv_.cfg.idle_timeout);
    read_more();
  }

  // One deadline for the whole request from its first byte: trickling a byte
  // at a time (slowloris) does not extend it.
  void start_request_deadline() {
    phase_ = phase::reading;
    stream_.expires_after(srv_.cfg.read_timeout);
  }

  void read_more() {
    stream_.async_read_some(buffer_.prepare(read_chunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) {
                                if (self->phase_ == phase::idle)
                                  return self->close(); // idle timeout, client gone, or shutdown
                                return self->refuse(ec);
                              }
                              self->buffer_.commit(n);
                              if (self->phase_ == phase::idle)
                                self->start_request_deadline();
                              self->parse_buffered();
                            });
  }

  void parse_buffered() {
    while (buffer_.size() > 0 && !parser_->is_done()) {
      beast::error_code ec;
      auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more)
        break;
      if (ec)
        return refuse(ec);
      if (parser_->is_header_done() && !parser_->is_done() && !continue_sent_ &&
          beast::iequals(parser_->get()[bhttp::field::expect], "100-continue"))
        return send_continue();
    }
    if (parser_->is_done())
      return on_request();
    read_more();
  }

  void send_continue() {
    continue_sent_ = true;
    static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(interim.data(), interim.size()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec)
                          return self->close();
                        self->parse_buffered();
                      });
  }

  void on_request() {
    phase_ = phase::handling;
    stream_.expires_never();
    started_ = clock_type::now();
    req_ = parser_->release();
    parser_.reset();
    ++seq_;
    request_id_ = request_id_for(req_[request_id_header]);
    method_ = method_from(req_.method_string());

    std::string_view target = req_.target();
    auto q = target.find('?');
    path_ = target.substr(0, q);
    query_ = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    if (path_.empty() || path_.front() != '/') {
      route_ = nullptr;
      return answer(error_response(bhttp::status::bad_request, "bad_request",
                                   "request target must be an absolute path"));
    }

    match_ = srv_.routes.find(method_, path_);
    route_ = match_.matched;
    switch (match_.what) {
      case route_table::outcome::not_found:
        return answer(
            error_response(bhttp::status::not_found, "not_found", "no route for " + std::string{path_}));
      case route_table::outcome::method_not_allowed: {
        auto res = error_response(bhttp::status::method_not_allowed, "method_not_allowed",
                                  std::string{req_.method_string()} + " is not allowed on " +
                                      match_.matched->tmpl.pattern() + "; allowed: " + match_.allow);
        res.set(bhttp::field::allow, match_.allow);
        return answer(std::move(res));
      }
      case route_table::outcome::found:
        break;
    }
    request_context ctx{req_,          path_,       query_,          route_->tmpl.pattern(),
                        match_.params, request_id_, *worker_.actors, peer_address_};
    try {
      (*match_.handler)(ctx, responder{shared_from_this(), seq_});
    } catch (const std::exception& e) {
      log(spdlog::level::err, "handler_failed", "request handler threw",
          {{"request_id", request_id_}, {"route", route_->tmpl.pattern()}, {"error", e.what()}});
      deliver(seq_, error_response(bhttp::status::internal_server_error, "internal_error",
                                   "internal error; quote request id " + request_id_));
    }
  }

  // Answers the current request from this thread.
  void answer(response res) { on_response(seq_, std::move(res)); }

  void on_response(uint64_t seq, response res) {
    if (seq != seq_ || phase_ != phase::handling)
      return; // answered twice, or the connection already moved on
    phase_ = phase::writing;
    keep_alive_ = req_.keep_alive() && !srv_.closing.load(std::memory_order_relaxed);
    res.version(req_.version());
    res.set(request_id_header, request_id_);
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    if (method_ == method_kind::head) {
      auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    res_ = std::move(res);
    stream_.expires_after(srv_.cfg.read_timeout);
    bhttp::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_written(ec, n);
    });
  }

  /// The raw path, unless a segment of it is a credential (the NPS link's
  /// `{token}`): then only the route template is logged.
  std::string_view loggable_path(std::string_view route_label) const {
    return route_label.find("{token}") != std::string_view::npos ? route_label : std::string_view{path_};
  }

  void on_written(beast::error_code ec, size_t bytes) {
    auto status = res_->result_int();
    auto elapsed = std::chrono::duration<double>(clock_type::now() - started_).count();
    auto& rs = srv_.stats_for(route_);
    srv_.record(rs, method_, status, elapsed);
    auto level = status >= 500 ? spdlog::level::warn : spdlog::level::info;
    if (srv_.cfg.access_log && telemetry::enabled(level))
      worker_.lines.add(level, telemetry::format_line(level, "http_request", "request served",
                                                      {{"request_id", request_id_},
                                                       {"method", std::string_view{req_.method_string()}},
                                                       {"route", rs.label},
                                                       {"path", loggable_path(rs.label)},
                                                       {"status", static_cast<int64_t>(status)},
                                                       {"duration_ms", elapsed * 1000.0},
                                                       {"bytes", bytes},
                                                       {"peer", peer_}}));
    res_.reset();
    if (ec || !keep_alive_)
      return close();
    await_request();
  }

  /// The request could not be read: answer with the matching error when the
  /// client can still hear it, then close (its framing can't be trusted).
  void refuse(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      return close();
    if (ec == beast::error::timeout) {
      // Beast has already closed the socket: nothing can be said any more.
      srv_.reject(reject_reason::timeout);
      log(spdlog::level::info, "http_request_timeout", "request not received in time; connection closed",
          {{"peer", peer_}, {"timeout_seconds", static_cast<int64_t>(srv_.cfg.read_timeout.count())}});
      return close();
    }
    response res;
    if (ec == bhttp::error::header_limit) {
      srv_.reject(reject_reason::header_too_large);
      res = error_response(bhttp::status::request_header_fields_too_large, "header_too_large",
                           "request headers exceed " + std::to_string(srv_.cfg.max_header_bytes) + " bytes");
    } else if (ec == bhttp::error::body_limit) {
      srv_.reject(reject_reason::body_too_large);
      res = error_response(bhttp::status::payload_too_large, "payload_too_large",
                           "request body exceeds " + std::to_string(srv_.cfg.max_body_bytes) + " bytes");
    } else {
      srv_.reject(reject_reason::bad_request);
      res = error_response(bhttp::status::bad_request, "bad_request",
                           "malformed HTTP request: " + ec.message());
    }
    log(spdlog::level::info, "http_request_rejected", "request refused before routing",
        {{"peer", peer_}, {"status", res.result_int()}, {"reason", ec.message()}});
    phase_ = phase::writing;
    auto request_id = parser_ && parser_->is_header_done() ? request_id_for(parser_->get()[request_id_header])
                                                           : generate_request_id();
    res.set(request_id_header, request_id);
    res.keep_alive(false);
    res.prepare_payload();
    res_ = std::move(res);
    stream_.expires_after(srv_.cfg.read_timeout);
    bhttp::async_write(stream_, *res_,
                       [self = shared_from_this()](beast::error_code, size_t) { self->linger_close(); });
  }

  /// Closing right after an error response while the client is still
  /// sending (a large body) makes the kernel reset the connection and the
  /// client may never read the response. So: stop sending, drain briefly.
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec)
      return close();
    lingered_ = 0;
    stream_.expires_after(std::chrono::seconds(2));
    drain_input();
  }

  void drain_input() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > 4 * 1024 * 1024)
                                return self->close();
                              self->drain_input();
                            });
  }

  void close() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    worker_.sessions.erase(this);
  }

  server::impl& srv_;
  worker& worker_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  request req_;
  std::optional<response> res_;
  route_table::result match_;
  const route_table::route* route_ = nullptr;
  std::string request_id_;
  std::string_view path_;
  std::string_view query_;
  std::string peer_;
  std::string peer_address_;
  method_kind method_ = method_kind::other;
  phase phase_ = phase::idle;
  bool keep_alive_ = true;
  bool continue_sent_ = false;
  uint64_t seq_ = 0;
  size_t lingered_ = 0;
  clock_type::time_point started_;
};

} // namespace

server::impl::impl(server_config c, const route_table& r, const telemetry::http_metrics& m,
                   caf::actor_system& s) :
    cfg(std::move(c)),
    routes(r), metrics(m), system(s) {
  unmatched.label = "unmatched";
  unmatched.errors_5xx = &metrics.errors_5xx->Add({{"path", unmatched.label}});
  for (auto& route : routes.routes()) {
    auto rs = std::make_unique<route_stats>();
    rs->label = route.tmpl.pattern();
    // Exported at zero from the start, so alerts on rate() see the series.
    rs->errors_5xx = &metrics.errors_5xx->Add({{"path", rs->label}});
    stats.push_back(std::move(rs));
  }
  for (size_t i = 0; i < rejected.size(); ++i)
    rejected[i] = &metrics.rejected->Add({{"reason", std::string{reject_labels[i]}}});
  auto threads = std::max(1, cfg.io_threads);
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<worker>();
    w->actors = std::make_unique<gateway>(system, w->ioc);
    workers.push_back(std::move(w));
  }
}

void server::impl::record(route_stats& rs, method_kind method, unsigned status, double seconds) {
  auto cls = status_class_index(status);
  auto& slot = rs.latency[static_cast<size_t>(method)][cls];
  auto* h = slot.load(std::memory_order_acquire);
  if (h == nullptr) {
    // Family::Add returns the existing child for equal labels, so two
    // threads racing here end up with the same histogram.
    h = &metrics.latency->Add({{"method", std::string{method_name(method)}},
                               {"path", rs.label},
                               {"status_class", std::string{status_classes[cls]}}},
                              telemetry::latency_buckets());
    slot.store(h, std::memory_order_release);
  }
  h->Observe(seconds);
  if (cls == 4)
    rs.errors_5xx->Increment();
}

void server::impl::connection_closed() {
  metrics.open_connections->Decrement();
  if (connections.fetch_sub(1) == 1) {
    std::lock_guard lock{drain_mutex};
    drained.notify_all();
  }
}

void server::impl::refuse_overload(tcp::socket socket) {
  reject(reject_reason::too_many_connections);
  auto res = error_response(bhttp::status::service_unavailable, "too_many_connections",
                            "connection limit reached; retry later");
  res.keep_alive(false);
  res.set(bhttp::field::retry_after, "1");
  res.prepare_payload();
  // Best effort and never blocking: a fresh socket's send buffer is empty.
  std::ostringstream wire;
  wire << res;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  auto text = wire.str();
  socket.write_some(asio::buffer(text), ec);
  socket.close(ec);
}

void server::impl::accept_next() {
  auto& w = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor->async_accept(w.ioc, [this, &w](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor || !acceptor->is_open())
      return;
    if (ec) {
      // Typically EMFILE: back off instead of spinning on a full fd table.
      log(spdlog::level::err, "accept_failed", "accepting a connection failed", {{"error", ec.message()}});
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec)
          accept_next();
      });
      return;
    }
    if (connections.load() >= cfg.max_connections) {
      refuse_overload(std::move(socket));
    } else {
      connections.fetch_add(1);
      metrics.open_connections->Increment();
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay{true}, opt_ec);
      auto s = std::make_shared<session>(*this, w, std::move(socket));
      asio::post(w.ioc, [s] { s->start(); });
    }
    accept_next();
  });
}

server::server(server_config config, const route_table& routes, const telemetry::http_metrics& metrics,
               caf::actor_system& system) :
    impl_(std::make_unique<impl>(std::move(config), routes, metrics, system)) {}

server::~server() {
  stop();
}

uint16_t server::listen() {
  auto& d = *impl_;
  auto& ioc = d.workers.front()->ioc;
  beast::error_code ec;
  auto address = asio::ip::make_address(d.cfg.host, ec);
  if (ec)
    throw std::runtime_error("HOST '" + d.cfg.host + "' is not an IP address: " + ec.message());
  tcp::endpoint endpoint{address, d.cfg.port};
  tcp::acceptor acceptor{ioc};
  auto where = d.cfg.host + ":" + std::to_string(d.cfg.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  d.acceptor.emplace(std::move(acceptor));
  d.accept_retry.emplace(ioc);
  return d.acceptor->local_endpoint().port();
}

void server::start() {
  auto& d = *impl_;
  if (d.started || !d.acceptor)
    return;
  d.started = true;
  asio::post(d.workers.front()->ioc, [&d] { d.accept_next(); });
  for (size_t i = 0; i < d.workers.size(); ++i) {
    auto& w = *d.workers[i];
    w.guard.emplace(w.ioc.get_executor());
    w.thread = std::thread([&w, i] {
      auto name = "http-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      telemetry::batch_lines_on_this_thread(&w.lines);
      w.ioc.run();
      telemetry::batch_lines_on_this_thread(nullptr);
    });
  }
}

void server::stop_accepting() {
  auto& d = *impl_;
  if (d.closing.exchange(true))
    return;
  auto& first = *d.workers.front();
  asio::post(first.ioc, [&d] {
    beast::error_code ec;
    if (d.acceptor)
      d.acceptor->close(ec);
    if (d.accept_retry)
      d.accept_retry->cancel();
  });
  for (auto& w : d.workers)
    asio::post(w->ioc, [wp = w.get()] {
      // Copy: closing may erase from the set.
      std::vector<session*> all(wp->sessions.begin(), wp->sessions.end());
      for (auto* s : all)
        s->close_if_idle();
    });
}

bool server::drain(std::chrono::milliseconds deadline) {
  auto& d = *impl_;
  std::unique_lock lock{d.drain_mutex};
  return d.drained.wait_for(lock, deadline, [&d] { return d.connections.load() == 0; });
}

void server::stop() {
  auto& d = *impl_;
  if (d.stopped)
    return;
  d.stopped = true;
  d.closing = true;
  for (auto& w : d.workers) {
    bool first = w.get() == d.workers.front().get();
    asio::post(w->ioc, [wp = w.get(), &d, first] {
      if (first && d.acceptor) {
        beast::error_code ec;
        d.acceptor->close(ec);
      }
      std::vector<session*> all(wp->sessions.begin(), wp->sessions.end());
      for (auto* s : all)
        s->force_close();
      wp->ioc.stop();
    });
    w->guard.reset();
  }
  for (auto& w : d.workers) {
    if (w->thread.joinable())
      w->thread.join();
    w->actors->close();
    w->lines.flush(); // lines whose flush was still queued
  }
}

size_t server::open_connections() const {
  return impl_->connections.load();
}

} // namespace clean::http
