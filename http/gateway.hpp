#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/actor_companion.hpp>
#include <caf/mixin/requester.hpp>
#include <caf/scoped_execution_unit.hpp>

#include <chrono>
#include <memory>
#include <typeindex>
#include <unordered_map>
#include <utility>

namespace clean::http {

/// An actor companion that can `request`: its mailbox is drained on an asio
/// event-loop thread instead of a CAF scheduler thread.
class gateway_actor : public caf::extend<caf::actor_companion, gateway_actor>::with<caf::mixin::requester> {
public:
  using super = caf::extend<caf::actor_companion, gateway_actor>::with<caf::mixin::requester>;
  explicit gateway_actor(caf::actor_config& cfg);
};

/// The bridge between one HTTP event loop and the actor system.
///
/// Why not one actor per connection: PERF-NOTES measured a per-request
/// asio -> actor -> asio hop at about half of raw Beast throughput, while a
/// companion whose mailbox is drained on the asio thread kept ~0.99x. So
/// connections stay plain asio objects, and only requests that need an actor
/// pay for messaging; replies arrive on the same thread as the connection,
/// so handlers need no locks.
class gateway {
public:
  gateway(caf::actor_system& sys, boost::asio::io_context& ioc);
  ~gateway();

  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Sends `xs...` to `dest`; exactly one of `on_ok` / `on_error` later runs
  /// on this gateway's event-loop thread (on_error with sec::request_timeout
  /// after `timeout`). Call only from that thread.
  template <class Handle, class OnOk, class OnError, class... Ts>
  void request(const Handle& dest, std::chrono::milliseconds timeout, OnOk&& on_ok, OnError&& on_error,
               Ts&&... xs) {
    self_->request(dest, caf::duration{timeout}, std::forward<Ts>(xs)...)
        .then(std::forward<OnOk>(on_ok), std::forward<OnError>(on_error));
  }

  /// Runs `f` on this gateway's event-loop thread (from any thread).
  template <class F>
  void post(F&& f) {
    boost::asio::post(ioc_, std::forward<F>(f));
  }

  /// State a route keeps per event loop (such as reads waiting to go to
  /// the database together), created on first use and living as long as
  /// this gateway. Call only from this loop's thread.
  template <class T>
  T& local() {
    auto& slot = locals_[std::type_index(typeid(T))];
    if (!slot)
      slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  /// The companion's handle, for actors that want to address this loop.
  const caf::actor& handle() const { return handle_; }

  /// Terminates the companion; pending requests are dropped. Call after the
  /// event loop has stopped.
  void close();

private:
  caf::actor_system& sys_;
  boost::asio::io_context& ioc_;
  caf::actor handle_;
  gateway_actor* self_;
  caf::scoped_execution_unit context_;
  std::unordered_map<std::type_index, std::shared_ptr<void>> locals_;
};

} // namespace clean::http
