#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clean::http {

/// Methods the router distinguishes; `other` covers every extension method.
enum class method_kind : uint8_t { get, head, post, put, patch, del, options, other };
inline constexpr size_t method_count = 8;

method_kind method_from(std::string_view name);
std::string_view method_name(method_kind m);

/// A path parameter captured by a template such as `/v1/bookings/{id}`.
struct path_param {
  std::string_view name;
  std::string value; // percent-decoded
};

using path_params = std::vector<path_param>;

/// Looks up a parameter by name; empty when absent.
std::string_view param(const path_params& params, std::string_view name);

/// How a route template is written:
///  * literal segments match exactly;
///  * `{name}` matches one non-empty segment;
///  * `{name...}` matches one or more segments, `/` included, so
///    `/v1/admin/supervisor/{path...}/crash` accepts `root/http/session`.
/// Matching is anchored and ignores the query string. A trailing slash is
/// significant (`/healthz/` is not `/healthz`), as in most routers.
class route_template {
public:
  explicit route_template(std::string pattern);

  const std::string& pattern() const { return pattern_; }
  bool match(std::string_view path, path_params& out) const;

private:
  struct segment {
    enum kind_t { literal, single, greedy } kind;
    std::string text; // literal text or parameter name
  };
  bool match_from(size_t seg, std::string_view rest, path_params& out) const;

  std::string pattern_;
  std::vector<segment> segments_;
};

/// Route table: template x method -> handler id. Generic over the handler
/// type so it is unit-tested without any networking.
template <class Handler>
class router {
public:
  struct route {
    route_template tmpl;
    std::array<Handler, method_count> handlers{};
    std::array<bool, method_count> has{};
  };

  enum class outcome { found, not_found, method_not_allowed };

  struct result {
    outcome what = outcome::not_found;
    const route* matched = nullptr;
    const Handler* handler = nullptr;
    path_params params;
    /// For 405: the methods the path does accept, e.g. "GET, HEAD".
    std::string allow;
  };

  /// Registers `handler` for `method` on `pattern`. Declaring GET also
  /// answers HEAD unless HEAD is declared separately.
  void add(method_kind method, const std::string& pattern, Handler handler) {
    route* r = nullptr;
    for (auto& existing : routes_)
      if (existing.tmpl.pattern() == pattern)
        r = &existing;
    if (r == nullptr)
      r = &routes_.emplace_back(route{route_template{pattern}, {}, {}});
    r->handlers[idx(method)] = std::move(handler);
    r->has[idx(method)] = true;
  }

  result find(method_kind method, std::string_view path) const {
    result res;
    for (auto& r : routes_) {
      path_params params;
      if (!r.tmpl.match(path, params))
        continue;
      auto m = method;
      if (m == method_kind::head && !r.has[idx(m)])
        m = method_kind::get;
      if (r.has[idx(m)]) {
        res.what = outcome::found;
        res.matched = &r;
        res.handler = &r.handlers[idx(m)];
        res.params = std::move(params);
        return res;
      }
      res.what = outcome::method_not_allowed;
      res.matched = &r;
      res.allow = allowed(r);
      // Keep looking: a later template may accept this method.
    }
    return res;
  }

  const std::vector<route>& routes() const { return routes_; }

private:
  static size_t idx(method_kind m) { return static_cast<size_t>(m); }

  static std::string allowed(const route& r) {
    std::string out;
    for (size_t i = 0; i < method_count; ++i) {
      bool on = r.has[i] || (i == idx(method_kind::head) && r.has[idx(method_kind::get)]);
      if (!on || i == idx(method_kind::other))
        continue;
      if (!out.empty())
        out += ", ";
      out += method_name(static_cast<method_kind>(i));
    }
    return out;
  }

  // A deque-like stable container is not needed: routes are added at start-up
  // only, before any lookup hands out pointers.
  std::vector<route> routes_;
};

/// Decodes `%XX` escapes; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

/// Every value of query parameter `name` in `query` (without the leading
/// `?`), percent-decoded, `+` read as space. A bare `name` yields "".
std::vector<std::string> query_values(std::string_view query, std::string_view name);

/// Whether the query contains `name` at all (`?verbose`, `?verbose=1`).
bool query_has(std::string_view query, std::string_view name);

} // namespace clean::http
