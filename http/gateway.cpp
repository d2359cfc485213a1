#include "http/gateway.hpp"

#include <boost/asio/post.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/detail/disposer.hpp>

namespace clean::http {

gateway_actor::gateway_actor(caf::actor_config& cfg) : super(cfg) {
  // Responses are handled by request/then handlers; anything else sent to
  // the gateway is unexpected and dropped. The behavior also keeps the
  // companion alive while no request is pending.
  set_default_handler(caf::drop);
  become([](caf::atom_constant<caf::atom("noop")>) {});
}

gateway::gateway(caf::actor_system& sys, boost::asio::io_context& ioc) :
    sys_(sys), ioc_(ioc), handle_(sys.spawn<gateway_actor, caf::hidden>()),
    self_(static_cast<gateway_actor*>(caf::actor_cast<caf::abstract_actor*>(handle_))), context_(&sys) {
  auto* self = self_;
  auto* ctx = &context_;
  self_->on_enqueue([self, ctx, &ioc](caf::mailbox_element_ptr ptr) {
    // Runs on the sender's thread: only hand the message over.
    std::shared_ptr<caf::mailbox_element> element{ptr.release(), caf::detail::disposer{}};
    boost::asio::post(ioc, [self, ctx, element] { self->activate(ctx, *element); });
  });
}

gateway::~gateway() {
  close();
}

void gateway::close() {
  if (self_ == nullptr)
    return;
  // actor_companion::disconnect is declared but not exported by Debian's
  // libcaf_core 0.17, so do what it would: stop forwarding, then terminate.
  self_->on_enqueue({});
  self_->cleanup(caf::make_error(caf::exit_reason::user_shutdown), &context_);
  self_ = nullptr;
  handle_ = nullptr;
}

} // namespace clean::http
