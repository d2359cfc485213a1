// A fixed-rate (open-loop) HTTP load generator for the latency benchmark.
//
// Why not hey: on this 2-core machine hey's own Go runtime queues requests
// for a millisecond or more at the rates the service reaches, so its
// percentiles describe the client as much as the server. This one is a
// single asio thread like wrk, and it is stricter than hey: request i is
// due at start + i / rate whatever happened before it, and its latency is
// measured from that due time, not from when a connection was free to send
// it. A late answer therefore also delays (and is charged to) the requests
// queued behind it, as it would for real clients (no coordinated omission).
//
// Usage: fixed_rate HOST PORT PATH RATE CONNECTIONS SECONDS [HEADER...]
// RATE 0 measures the peak instead: closed loop, each connection sends its
// next request as soon as the previous one is answered (latency from the
// send), which is the peak this client and the server reach together.
// Prints one JSON object: asked rate, achieved rate (2xx answers that
// arrived within the measured window, per second), answered, errors,
// unanswered, non-2xx, failed connects, p50/p90/p99/p99.9/max in ms (null
// when nothing was answered) and the client's own p99 lateness: how long
// after its due time this thread got to a request (a late timer, no CPU),
// not counting the wait for a free connection, which is the server's
// backlog. The first second is a warm-up and is not counted.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string host;
  std::string port;
  std::string path;
  double rate = 0;
  int connections = 0;
  double seconds = 0;
  std::vector<std::string> headers;
};

class generator;

/// One keep-alive connection: sends one request at a time.
class connection {
public:
  connection(asio::io_context& ioc, generator& g) : stream_(ioc), gen_(g) {}
  void open(const tcp::resolver::results_type& where);
  void send(clock_type::time_point due);

private:
  void receive();
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::unique_ptr<http::response<http::string_body>> response_;
  clock_type::time_point due_;
  generator& gen_;
};

class generator {
public:
  generator(asio::io_context& ioc, options opt) :
      ioc_(ioc), opt_(std::move(opt)), timer_(ioc), give_up_(ioc) {
    request_ = "GET " + opt_.path + " HTTP/1.1\r\nHost: " + opt_.host + "\r\n";
    for (const auto& h : opt_.headers)
      request_ += h + "\r\n";
    request_ += "\r\n";
  }

  void start() {
    auto where = tcp::resolver{ioc_}.resolve(opt_.host, opt_.port);
    for (int i = 0; i < opt_.connections; ++i) {
      conns_.push_back(std::make_unique<connection>(ioc_, *this));
      conns_.back()->open(where);
    }
    start_ = clock_type::now();
    warm_until_ = start_ + std::chrono::seconds(1);
    end_ = start_ +
           std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt_.seconds + 1));
    // Answers still missing 5 s after the last request was due are counted
    // as unanswered rather than waited for.
    give_up_.expires_at(end_ + std::chrono::seconds(5));
    give_up_.async_wait([this](beast::error_code ec) {
      if (!ec)
        ioc_.stop();
    });
    if (closed_loop())
      return; // each connection sends as it becomes ready
    interval_ = std::chrono::duration<double>(1.0 / opt_.rate);
    schedule();
  }

  const std::string& request() const { return request_; }

  void ready(connection* c) {
    if (closed_loop()) {
      if (clock_type::now() < end_)
        return c->send(clock_type::now());
      return connection_finished();
    }
    if (!due_.empty()) {
      auto due = due_.front();
      due_.pop_front();
      return c->send(due);
    }
    idle_.push_back(c);
  }

  void answered(clock_type::time_point due, unsigned status) {
    auto now = clock_type::now();
    if (due >= warm_until_) {
      latencies_us_.push_back(micros(now - due));
      bool ok = status >= 200 && status < 300;
      if (!ok)
        ++non_2xx_;
      if (ok && now < end_)
        ++ok_in_window_; // what the server kept up with, not what it caught up on later
    }
    if (!closed_loop())
      maybe_finish();
  }

  void failed(clock_type::time_point due) {
    if (due >= warm_until_)
      ++errors_;
    if (closed_loop())
      connection_finished(); // a failed connection sends no more
    else
      maybe_finish();
  }

  void connect_failed() {
    ++connect_errors_;
    if (closed_loop())
      connection_finished();
  }

  void report() const {
    auto v = latencies_us_;
    std::sort(v.begin(), v.end());
    auto lag = timer_lag_us_;
    std::sort(lag.begin(), lag.end());
    auto unanswered = counted_ - std::min(counted_, v.size() + errors_);
    std::printf("{\"asked_rate\":%.1f,\"rate\":%.1f,\"answered\":%zu,\"errors\":%zu,\"unanswered\":%zu,"
                "\"non_2xx\":%zu,\"connect_errors\":%zu,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s,"
                "\"p999_ms\":%s,\"max_ms\":%s,\"client_lag_p99_ms\":%s}\n",
                opt_.rate, static_cast<double>(ok_in_window_) / opt_.seconds, v.size(), errors_, unanswered,
                non_2xx_, connect_errors_, ms_at(v, 0.5).c_str(), ms_at(v, 0.9).c_str(),
                ms_at(v, 0.99).c_str(), ms_at(v, 0.999).c_str(), ms_at(v, 1.0).c_str(),
                ms_at(lag, 0.99).c_str());
  }

private:
  static constexpr std::chrono::microseconds tick{200};

  static uint32_t micros(clock_type::duration d) {
    return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  }

  /// The nearest-rank percentile of sorted microseconds, in ms as JSON
  /// (null when there are none).
  static std::string ms_at(const std::vector<uint32_t>& sorted, double q) {
    if (sorted.empty())
      return "null";
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    char out[32];
    std::snprintf(out, sizeof out, "%.3f",
                  sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1] / 1000.0);
    return out;
  }

  /// Hands every request now due to a free connection (or queues it) and
  /// sleeps until the next one is due.
  void schedule() {
    auto now = clock_type::now();
    while (true) {
      auto due = start_ + std::chrono::duration_cast<clock_type::duration>(interval_ * scheduled_);
      if (due >= end_) {
        done_scheduling_ = true;
        return maybe_finish();
      }
      if (due > now) {
        // Wake at most every `tick` (a timer per request would cost the
        // client more CPU than the server spends on /healthz); requests due
        // meanwhile leave together, late, and the lateness counts against
        // the server.
        timer_.expires_at(std::max(due, now + tick));
        timer_.async_wait([this](beast::error_code ec) {
          if (!ec)
            schedule();
        });
        return;
      }
      ++scheduled_;
      if (due >= warm_until_) {
        ++counted_;
        timer_lag_us_.push_back(micros(now - due)); // this process's own lateness
      }
      if (idle_.empty()) {
        due_.push_back(due);
      } else {
        auto* c = idle_.back();
        idle_.pop_back();
        c->send(due);
      }
    }
  }

  bool closed_loop() const { return opt_.rate == 0; }

  void maybe_finish() {
    if (done_scheduling_ && latencies_us_.size() + errors_ >= counted_)
      ioc_.stop();
  }

  void connection_finished() {
    if (++finished_conns_ >= conns_.size())
      ioc_.stop();
  }

  asio::io_context& ioc_;
  options opt_;
  asio::steady_timer timer_;
  asio::steady_timer give_up_;
  std::string request_;
  std::vector<std::unique_ptr<connection>> conns_;
  std::vector<connection*> idle_;
  std::deque<clock_type::time_point> due_; // due, waiting for a free connection
  clock_type::time_point start_, warm_until_, end_;
  std::chrono::duration<double> interval_{};
  uint64_t scheduled_ = 0;
  size_t counted_ = 0;
  size_t finished_conns_ = 0; // closed loop: connections past the end
  bool done_scheduling_ = false;
  std::vector<uint32_t> latencies_us_;
  std::vector<uint32_t> timer_lag_us_; // due -> picked up by this thread (open loop)
  size_t ok_in_window_ = 0;
  size_t errors_ = 0;
  size_t non_2xx_ = 0;
  size_t connect_errors_ = 0;
};

void connection::open(const tcp::resolver::results_type& where) {
  stream_.async_connect(where, [this](beast::error_code ec, const tcp::endpoint&) {
    if (ec) {
      std::cerr << "fixed_rate: connect failed: " << ec.message() << "\n";
      return gen_.connect_failed();
    }
    beast::error_code ignored; // Nagle only delays; a reset shows on the first write
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    gen_.ready(this);
  });
}

void connection::send(clock_type::time_point due) {
  due_ = due;
  asio::async_write(stream_, asio::buffer(gen_.request()), [this](beast::error_code ec, size_t) {
    if (ec) {
      gen_.failed(due_);
      return stream_.close(); // this connection stops taking requests
    }
    receive();
  });
}

void connection::receive() {
  response_ = std::make_unique<http::response<http::string_body>>();
  http::async_read(stream_, buffer_, *response_, [this](beast::error_code ec, size_t) {
    if (ec) {
      gen_.failed(due_);
      return stream_.close();
    }
    gen_.answered(due_, response_->result_int());
    gen_.ready(this);
  });
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::cerr << "usage: fixed_rate HOST PORT PATH RATE CONNECTIONS SECONDS [HEADER...]\n";
    return 2;
  }
  options opt{argv[1], argv[2], argv[3], std::stod(argv[4]), std::stoi(argv[5]), std::stod(argv[6]), {}};
  for (int i = 7; i < argc; ++i)
    opt.headers.emplace_back(argv[i]);
  if (opt.rate < 0 || opt.connections <= 0 || opt.seconds <= 0) {
    std::cerr << "fixed_rate: RATE must be 0 or more, CONNECTIONS and SECONDS positive\n";
    return 2;
  }
  asio::io_context ioc{1};
  generator g{ioc, opt};
  g.start();
  ioc.run();
  g.report();
  return 0;
}
