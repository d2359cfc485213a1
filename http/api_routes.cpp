#include "http/api_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/api_input.hpp"
#include "http/gateway.hpp"
#include "persistence/digest.hpp"
#include "telemetry/metrics.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <caf/make_message.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <algorithm>
#include <array>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace clean::http {

namespace {

using persistence::api_principal;
using persistence::api_result;
using persistence::resource;
using persistence::write_context;
using steady = std::chrono::steady_clock;

/// Verified API keys (by hash) for a short while, so the hot path does not
/// pay a database round trip for authentication. Shared by the I/O threads.
class key_cache {
public:
  std::optional<api_principal> find(const std::string& hash, steady::time_point now) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = entries_.find(hash);
    if (it == entries_.end())
      return std::nullopt;
    if (it->second.expires <= now) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.who;
  }

  void put(const std::string& hash, api_principal who, steady::time_point expires) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (entries_.size() >= max_entries)
      entries_.clear(); // bounded: a flood of distinct valid keys just costs round trips
    entries_[hash] = {std::move(who), expires};
  }

private:
  static constexpr size_t max_entries = 10000;
  struct entry {
    api_principal who;
    steady::time_point expires;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
};

struct api_env {
  api_config config;
  key_cache keys;
};
using env_ptr = std::shared_ptr<api_env>;

/// What a handler keeps of its request across asynchronous steps (the
/// request_context itself is only valid until the first of them).
struct call {
  env_ptr env;
  gateway* actors;
  responder reply;
  std::string route;

  void fail(const error_mapping& m) const {
    if (env->config.metrics)
      env->config.metrics->errors->Add({{"route", route}, {"code", m.code}}).Increment();
    reply(to_response(m));
  }

  void fail(bhttp::status status, std::string code, std::string message) const {
    fail(error_mapping{status, std::move(code), std::move(message), {}, 0});
  }

  void invalid(const std::vector<field_error>& errors) const {
    if (env->config.metrics)
      env->config.metrics->errors->Add({{"route", route}, {"code", "validation_failed"}}).Increment();
    reply(json_response(bhttp::status::unprocessable_entity, validation_error_body(errors)));
  }

  void answer(api_result& r) const {
    auto res = json_response(static_cast<bhttp::status>(r.status), std::move(r.body));
    if (r.replayed) {
      res.set("Idempotent-Replayed", "true");
      if (env->config.metrics)
        env->config.metrics->replays->Increment();
    }
    reply(std::move(res));
  }

  /// The end of this request's budget inside the service, from now.
  int64_t deadline_from_now() const {
    auto at = steady::now() + env->config.request_timeout;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  }

  /// Runs `payload` on a pooled connection; `on_ok` gets its answer,
  /// `on_error` a failure. `deadline_ns` 0: the request timeout from now.
  template <class OnOk, class OnError>
  void database(std::string op, caf::message payload, OnOk on_ok, OnError on_error,
                int64_t deadline_ns = 0) const {
    auto pool = env->config.pool();
    if (!pool) {
      auto err = make_error(errc::database_unavailable, "database_unavailable",
                            "the database pool is restarting; retry shortly");
      return on_error(err);
    }
    if (deadline_ns == 0)
      deadline_ns = deadline_from_now();
    // The pool answers by the deadline itself; the extra second only
    // covers a pool that died with the request.
    actors->request(pool, env->config.request_timeout + std::chrono::seconds(1), std::move(on_ok),
                    std::move(on_error), db_call{std::move(op), deadline_ns, std::move(payload)});
  }

  void database(std::string op, caf::message payload) const {
    auto self = *this;
    database(
        std::move(op), std::move(payload), [self](api_result& r) { self.answer(r); },
        [self](caf::error& err) { self.fail(map_error(err)); });
  }
};

call make_call(const env_ptr& env, request_context& ctx, responder reply) {
  return call{env, &ctx.actors, std::move(reply), std::string{ctx.route}};
}

void refuse_key(const call& c, const char* reason, const char* code, const char* message,
                const char* challenge) {
  if (auto* m = c.env->config.metrics)
    m->auth_failures->Add({{"reason", reason}}).Increment();
  error_mapping e{bhttp::status::unauthorized, code, message, {}, 0};
  if (auto* m = c.env->config.metrics)
    m->errors->Add({{"route", c.route}, {"code", code}}).Increment();
  auto res = to_response(e);
  res.set(bhttp::field::www_authenticate, challenge);
  c.reply(std::move(res));
}

void refuse_invalid_key(const call& c) {
  refuse_key(c, "invalid", "invalid_api_key", "the API key is unknown or revoked",
             R"(Bearer realm="clean-service", error="invalid_token")");
}

/// Checks `Authorization: Bearer <key>` (from the cache, else the
/// database), then runs `next(principal)`. Runs before anything else looks
/// at the request, so an unauthenticated client learns nothing about it.
template <class Next>
void authenticated(const call& c, request_context& ctx, Next next) {
  auto header = ctx.req[bhttp::field::authorization];
  if (header.empty())
    return refuse_key(c, "missing", "unauthorized", "an API key is required: Authorization: Bearer <key>",
                      R"(Bearer realm="clean-service")");
  std::string_view value{header.data(), header.size()};
  if (value.size() < 8 || !boost::algorithm::iequals(value.substr(0, 7), "Bearer "))
    return refuse_invalid_key(c);
  auto key = value.substr(7);
  while (!key.empty() && key.front() == ' ')
    key.remove_prefix(1);
  if (key.empty() || key.size() > 200)
    return refuse_invalid_key(c);
  auto hash = persistence::sha256_hex(key);
  if (auto who = c.env->keys.find(hash, steady::now()))
    return next(*who);
  c.database(
      "api_keys.authenticate", caf::make_message(auth_atom::value, hash),
      [c, hash, next](api_principal& who) mutable {
        if (c.env->config.key_cache_ttl.count() > 0)
          c.env->keys.put(hash, who, steady::now() + c.env->config.key_cache_ttl);
        next(who);
      },
      [c](caf::error& err) {
        if (is(err, errc::unauthenticated))
          return refuse_invalid_key(c);
        c.fail(map_error(err));
      });
}

/// The idempotency context of a write (scope filled in later), or the
/// reason the Idempotency-Key header is unusable.
validated<write_context> write_context_of(request_context& ctx, std::string scope = {}) {
  validated<write_context> out;
  auto key = ctx.req["Idempotency-Key"];
  if (!key.empty() && !valid_idempotency_key({key.data(), key.size()})) {
    out.errors.push_back({"Idempotency-Key", "must be 1 to 255 printable ASCII characters"});
    return out;
  }
  write_context w;
  w.scope = std::move(scope);
  w.idempotency_key = std::string{key};
  if (!w.idempotency_key.empty()) {
    std::string fingerprint{ctx.req.method_string()};
    fingerprint.append(" ").append(ctx.path).append("\n").append(ctx.req.body());
    w.request_hash = persistence::sha256_hex(fingerprint);
  }
  out.value = std::move(w);
  return out;
}

std::string key_scope(const api_principal& who) {
  return "key:" + std::to_string(who.key_id);
}

template <class Input>
bool usable(const call& c, const validated<Input>& v) {
  if (!v.malformed.empty()) {
    c.fail(bhttp::status::bad_request, "invalid_json", v.malformed);
    return false;
  }
  if (!v.errors.empty()) {
    c.invalid(v.errors);
    return false;
  }
  return true;
}

/// POST that creates a record from a validated body.
template <class Parse>
handler create_route(env_ptr env, std::string op, Parse parse) {
  return [env, op, parse](request_context& ctx, responder reply) {
    auto c = make_call(env, ctx, std::move(reply));
    auto input = parse(ctx.req.body());
    auto w = write_context_of(ctx);
    authenticated(
        c, ctx, [c, op, input = std::move(input), w = std::move(w)](const api_principal& who) mutable {
          if (!usable(c, w) || !usable(c, input))
            return;
          w.value->scope = key_scope(who);
          c.database(op, caf::make_message(create_atom::value, std::move(*w.value), std::move(*input.value)));
        });
  };
}

/// Reads by id go to the database in batches: one message to the pool, one
/// statement, one answer back for all of them. The cost of a read is mostly
/// its thread hand-offs (io loop -> pool -> connection -> pool -> io loop,
/// see PERF-NOTES), and a batch pays them once. As with group commit, reads
/// that arrive while `read_batches_in_flight` batches of this loop are at
/// the database wait for one of them to come back and then go together; an
/// idle service sends a lone read at once, at the end of the loop's pass.
class read_batches {
public:
  void add(const call& c, std::string op, resource kind, int64_t id) {
    limit_ = std::max(1, c.env->config.read_batches_in_flight);
    auto& q = waiting_[static_cast<size_t>(kind)];
    if (q.empty())
      ops_[static_cast<size_t>(kind)] = std::move(op);
    q.push_back({c, id, c.deadline_from_now()});
    schedule(c.actors);
  }

private:
  static constexpr size_t max_batch = 64;
  static constexpr size_t kinds = 3;

  struct read {
    call c;
    int64_t id;
    int64_t deadline_ns;
  };

  bool any_waiting() const {
    return std::any_of(waiting_.begin(), waiting_.end(), [](const auto& q) { return !q.empty(); });
  }

  void schedule(gateway* g) {
    if (flush_posted_ || in_flight_ >= limit_ || !any_waiting())
      return;
    flush_posted_ = true;
    g->post([this, g] { flush(g); });
  }

  void flush(gateway* g) {
    flush_posted_ = false;
    // Kinds take turns, so a flood of one kind cannot starve another.
    for (size_t tried = 0; tried < kinds && in_flight_ < limit_; ++tried) {
      next_kind_ = (next_kind_ + 1) % kinds;
      auto& q = waiting_[next_kind_];
      while (!q.empty() && in_flight_ < limit_)
        send(g, static_cast<resource>(next_kind_), take(q));
    }
  }

  std::vector<read> take(std::deque<read>& q) {
    std::vector<read> out;
    while (!q.empty() && out.size() < max_batch) {
      out.push_back(std::move(q.front()));
      q.pop_front();
    }
    return out;
  }

  void send(gateway* g, resource kind, std::vector<read> batch) {
    std::vector<int64_t> ids;
    std::vector<call> calls;
    int64_t deadline = batch.front().deadline_ns; // the oldest read's
    for (auto& r : batch) {
      ids.push_back(r.id);
      calls.push_back(std::move(r.c));
    }
    ++in_flight_;
    auto first = calls.front();
    first.database(
        ops_[static_cast<size_t>(kind)], caf::make_message(get_atom::value, kind, std::move(ids)),
        [this, g, calls](std::vector<api_result>& results) {
          for (size_t i = 0; i < calls.size() && i < results.size(); ++i) {
            if (results[i].status == 404)
              calls[i].fail(bhttp::status::not_found, "not_found", std::move(results[i].body));
            else
              calls[i].answer(results[i]);
          }
          landed(g);
        },
        [this, g, calls](caf::error& err) {
          auto m = map_error(err);
          for (const auto& c : calls)
            c.fail(m);
          landed(g);
        },
        deadline);
  }

  void landed(gateway* g) {
    --in_flight_;
    schedule(g);
  }

  std::array<std::deque<read>, kinds> waiting_;
  std::array<std::string, kinds> ops_;
  size_t next_kind_ = 0;
  int in_flight_ = 0;
  int limit_ = 1;
  bool flush_posted_ = false;
};

handler get_route(env_ptr env, std::string op, resource kind) {
  return [env, op, kind](request_context& ctx, responder reply) {
    auto c = make_call(env, ctx, std::move(reply));
    auto id = parse_id(param(ctx.params, "id"));
    authenticated(c, ctx, [c, op, kind, id](const api_principal&) {
      if (!id)
        return c.fail(bhttp::status::not_found, "not_found", "no record with that id");
      c.actors->local<read_batches>().add(c, op, kind, *id);
    });
  };
}

handler list_route(env_ptr env, std::string op, resource kind) {
  return [env, op, kind](request_context& ctx, responder reply) {
    auto c = make_call(env, ctx, std::move(reply));
    auto q = parse_list_query(kind, ctx.query);
    authenticated(c, ctx, [c, op, q = std::move(q)](const api_principal&) {
      if (!usable(c, q))
        return;
      c.database(op, caf::make_message(list_atom::value, *q.value));
    });
  };
}

template <class Atom>
handler transition_route(env_ptr env, std::string op, Atom atom) {
  return [env, op, atom](request_context& ctx, responder reply) {
    auto c = make_call(env, ctx, std::move(reply));
    auto id = parse_id(param(ctx.params, "id"));
    auto w = write_context_of(ctx);
    authenticated(c, ctx, [c, op, atom, id, w = std::move(w)](const api_principal& who) mutable {
      if (!usable(c, w))
        return;
      if (!id)
        return c.fail(bhttp::status::not_found, "not_found", "no booking with that id");
      w.value->scope = key_scope(who);
      c.database(op, caf::make_message(atom, std::move(*w.value), *id));
    });
  };
}

/// The survey link's token is its credential: no API key, and
/// idempotency is scoped to the token.
handler nps_route(env_ptr env) {
  return [env](request_context& ctx, responder reply) {
    auto c = make_call(env, ctx, std::move(reply));
    std::string token{param(ctx.params, "token")};
    if (token.empty() || token.size() > 100)
      return c.fail(bhttp::status::not_found, "not_found", "no survey for this link");
    auto w = write_context_of(ctx, "nps:" + persistence::sha256_hex(token));
    auto input = parse_nps_answer(ctx.req.body(), token);
    if (!usable(c, w) || !usable(c, input))
      return;
    c.database("nps.answer",
               caf::make_message(answer_atom::value, std::move(*w.value), std::move(*input.value)));
  };
}

} // namespace

void install_api_routes(route_table& routes, api_config config) {
  auto env = std::make_shared<api_env>();
  env->config = std::move(config);
  using m = method_kind;
  routes.add(m::post, "/v1/customers", create_route(env, "customers.create", parse_customer));
  routes.add(m::get, "/v1/customers", list_route(env, "customers.list", resource::customers));
  routes.add(m::get, "/v1/customers/{id}", get_route(env, "customers.get", resource::customers));
  routes.add(m::post, "/v1/bookings", create_route(env, "bookings.create", parse_booking));
  routes.add(m::get, "/v1/bookings", list_route(env, "bookings.list", resource::bookings));
  routes.add(m::get, "/v1/bookings/{id}", get_route(env, "bookings.get", resource::bookings));
  routes.add(m::post, "/v1/bookings/{id}/complete",
             transition_route(env, "bookings.complete", complete_atom::value));
  routes.add(m::post, "/v1/bookings/{id}/cancel",
             transition_route(env, "bookings.cancel", cancel_atom::value));
  routes.add(m::post, "/v1/invoices", create_route(env, "invoices.create", parse_invoice));
  routes.add(m::get, "/v1/invoices", list_route(env, "invoices.list", resource::invoices));
  routes.add(m::get, "/v1/invoices/{id}", get_route(env, "invoices.get", resource::invoices));
  routes.add(m::post, "/v1/nps/{token}", nps_route(env));
}

} // namespace clean::http
