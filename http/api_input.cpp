#include "http/api_input.hpp"

#include "http/router.hpp"
#include "persistence/time.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

namespace clean::http {

namespace {

using nlohmann::json;
using errors_t = std::vector<field_error>;

/// Reads the fields of one JSON object, collecting every problem at once.
class reader {
public:
  reader(const json& obj, errors_t& errors) : obj_(obj), errors_(errors) {}

  std::string text(const char* name, size_t min, size_t max) {
    auto v = optional_text(name, min, max, true);
    return v.value_or("");
  }

  /// Absent or null: nullopt. `required` reports absence as an error.
  std::optional<std::string> optional_text(const char* name, size_t min, size_t max, bool required = false) {
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) {
      if (required)
        fail(name, "is required");
      return std::nullopt;
    }
    if (!it->is_string()) {
      fail(name, "must be a string");
      return std::nullopt;
    }
    auto s = it->get<std::string>();
    if (s.size() < min || s.size() > max) {
      fail(name, "must be " + std::to_string(min) + " to " + std::to_string(max) + " characters long");
      return std::nullopt;
    }
    return s;
  }

  int64_t integer(const char* name, int64_t min, int64_t max) {
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) {
      fail(name, "is required");
      return 0;
    }
    if (!it->is_number_integer()) {
      fail(name, "must be an integer");
      return 0;
    }
    auto v = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                 ? max + (max < INT64_MAX ? 1 : 0)
                 : it->get<int64_t>();
    if (v < min || v > max) {
      fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return 0;
    }
    return v;
  }

  int64_t time(const char* name) {
    auto s = optional_text(name, 1, 64, true);
    if (!s)
      return 0;
    auto t = persistence::parse_rfc3339(*s);
    if (!t) {
      fail(name, "must be an RFC 3339 time with an offset, e.g. 2026-12-01T09:30:00Z");
      return 0;
    }
    return *t;
  }

  std::string currency(const char* name) {
    auto s = optional_text(name, 3, 3, true);
    if (!s)
      return {};
    bool upper = std::all_of(s->begin(), s->end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    bool lower = std::all_of(s->begin(), s->end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (!upper && !lower) {
      fail(name, "must be a three-letter ISO 4217 code, e.g. EUR or usd");
      return {};
    }
    return *s;
  }

  /// Present and not null.
  bool has(const char* name) const {
    auto it = obj_.find(name);
    return it != obj_.end() && !it->is_null();
  }

  void fail(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }

private:
  const json& obj_;
  errors_t& errors_;
};

bool plausible_email(const std::string& s) {
  auto at = s.find('@');
  return at != std::string::npos && at > 0 && at + 1 < s.size() && s.find('@', at + 1) == std::string::npos &&
         std::none_of(s.begin(), s.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

bool plausible_phone(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) {
                       return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == ' ' || c == '(' ||
                              c == ')' || c == '.';
                     }) &&
         std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Parses the body as a JSON object and runs `fill` over it.
template <class T, class Fill>
validated<T> parse_object(std::string_view body, Fill fill) {
  validated<T> out;
  auto obj = json::parse(body.begin(), body.end(), nullptr, false);
  if (obj.is_discarded()) {
    out.malformed = "the body is not valid JSON";
    return out;
  }
  if (!obj.is_object()) {
    out.malformed = "the body must be a JSON object";
    return out;
  }
  T value{};
  reader r{obj, out.errors};
  fill(r, value);
  if (out.errors.empty())
    out.value = std::move(value);
  return out;
}

constexpr int64_t max_money = 1'000'000'000'000; // 10 billion in major units: beyond any booking

} // namespace

validated<persistence::customer_input> parse_customer(std::string_view body) {
  return parse_object<persistence::customer_input>(body, [](reader& r, persistence::customer_input& c) {
    c.name = r.text("name", 1, 200);
    c.email = r.text("email", 3, 320);
    if (!c.email.empty() && !plausible_email(c.email))
      r.fail("email", "must be an email address");
    c.phone = r.optional_text("phone", 3, 32);
    if (c.phone && !plausible_phone(*c.phone))
      r.fail("phone", "must be a phone number (digits, spaces, + - . ( ))");
  });
}

validated<persistence::booking_input> parse_booking(std::string_view body) {
  return parse_object<persistence::booking_input>(body, [](reader& r, persistence::booking_input& b) {
    b.customer_id = r.integer("customer_id", 1, INT64_MAX);
    b.scheduled_at = r.time("scheduled_at");
    b.duration_minutes = static_cast<int32_t>(r.integer("duration_minutes", 1, 1440));
    b.address = r.text("address", 1, 500);
    b.price_cents = r.integer("price_cents", 0, max_money);
    b.currency = r.currency("currency");
  });
}

validated<persistence::invoice_input> parse_invoice(std::string_view body) {
  return parse_object<persistence::invoice_input>(body, [](reader& r, persistence::invoice_input& i) {
    i.booking_id = r.integer("booking_id", 1, INT64_MAX);
    i.amount_cents = r.integer("amount_cents", 1, max_money);
    i.currency = r.currency("currency");
    i.due_at = r.time("due_at");
    i.stripe_payment_intent_id = r.optional_text("stripe_payment_intent_id", 1, 255);
  });
}

validated<persistence::nps_input> parse_nps_answer(std::string_view body, std::string token) {
  return parse_object<persistence::nps_input>(body, [&token](reader& r, persistence::nps_input& n) {
    n.token = std::move(token);
    n.score = static_cast<int32_t>(r.integer("score", 0, 10));
    n.comment = r.optional_text("comment", 0, 2000);
  });
}

std::optional<int64_t> parse_id(std::string_view text) {
  int64_t v = 0;
  if (text.empty() || text.size() > 19)
    return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || v <= 0)
    return std::nullopt;
  return v;
}

namespace {

const std::vector<std::string>& statuses_of(persistence::resource kind) {
  static const std::vector<std::string> customers{"active"};
  static const std::vector<std::string> bookings{"scheduled", "completed", "cancelled"};
  static const std::vector<std::string> invoices{"open", "paid", "void", "refunded"};
  switch (kind) {
    case persistence::resource::customers:
      return customers;
    case persistence::resource::bookings:
      return bookings;
    case persistence::resource::invoices:
      return invoices;
  }
  return customers;
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

/// A query-string time. An unencoded `+` in the offset arrives as a space.
std::optional<int64_t> query_time(std::string s) {
  if (s.size() > 19) {
    auto sp = s.find(' ', 19);
    if (sp != std::string::npos)
      s[sp] = '+';
  }
  return persistence::parse_rfc3339(s);
}

/// The single value of `name`, or an error when it is repeated.
std::optional<std::string> single(std::string_view query, const char* name, errors_t& errors) {
  auto values = query_values(query, name);
  if (values.empty())
    return std::nullopt;
  if (values.size() > 1)
    errors.push_back({name, "must be given once"});
  return values.front();
}

/// `limit`: an integer from 1 to `max` (left as it is when absent).
void read_limit(std::string_view query, int64_t max, int32_t& out, errors_t& errors) {
  if (auto v = single(query, "limit", errors)) {
    auto n = parse_id(*v);
    if (!n || *n > max)
      errors.push_back({"limit", "must be an integer from 1 to " + std::to_string(max)});
    else
      out = static_cast<int32_t>(*n);
  }
}

/// `cursor`: a `next_cursor` this API returned (empty or absent: first page).
void read_cursor(std::string_view query, std::optional<persistence::page_cursor>& out, errors_t& errors) {
  if (auto v = single(query, "cursor", errors); v && !v->empty()) {
    out = persistence::decode_cursor(*v);
    if (!out)
      errors.push_back({"cursor", "is not a cursor this API returned"});
  }
}

} // namespace

validated<persistence::list_query> parse_list_query(persistence::resource kind, std::string_view query) {
  validated<persistence::list_query> out;
  persistence::list_query q;
  q.kind = kind;
  auto& errors = out.errors;
  read_limit(query, 100, q.limit, errors);
  read_cursor(query, q.after, errors);
  const auto& allowed = statuses_of(kind);
  for (const auto& value : query_values(query, "status")) {
    size_t start = 0;
    while (start <= value.size()) {
      auto comma = value.find(',', start);
      auto item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (std::find(allowed.begin(), allowed.end(), item) == allowed.end())
        errors.push_back({"status", "must be one of: " + joined(allowed)});
      else if (std::find(q.statuses.begin(), q.statuses.end(), item) == q.statuses.end())
        q.statuses.push_back(item);
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
  }
  for (const char* name : {"from", "to"}) {
    if (auto v = single(query, name, errors)) {
      auto t = query_time(*v);
      if (!t)
        errors.push_back({name, "must be an RFC 3339 time with an offset, e.g. 2026-12-01T00:00:00Z"});
      else
        (std::string_view{name} == "from" ? q.from : q.to) = *t;
    }
  }
  if (q.from && q.to && *q.from >= *q.to)
    errors.push_back({"to", "must be later than from"});
  const char* parent = kind == persistence::resource::bookings   ? "customer_id"
                       : kind == persistence::resource::invoices ? "booking_id"
                                                                 : nullptr;
  if (parent) {
    if (auto v = single(query, parent, errors)) {
      q.parent_id = parse_id(*v);
      if (!q.parent_id)
        errors.push_back({parent, "must be a positive integer"});
    }
  }
  if (errors.empty())
    out.value = std::move(q);
  return out;
}

validated<break_glass_request> parse_break_glass_request(std::string_view body) {
  return parse_object<break_glass_request>(body, [](reader& r, break_glass_request& b) {
    b.reason = r.text("reason", 1, 500);
    if (!b.reason.empty() && b.reason.find_first_not_of(" \t\r\n") == std::string::npos)
      r.fail("reason", "must not be blank: say why the break-glass session is needed");
    if (r.has("ttl_minutes"))
      b.ttl_minutes = r.integer("ttl_minutes", 1, 100000);
  });
}

validated<persistence::audit_query> parse_audit_query(std::string_view query) {
  validated<persistence::audit_query> out;
  persistence::audit_query q;
  auto& errors = out.errors;
  read_limit(query, 200, q.limit, errors);
  read_cursor(query, q.after, errors);
  if (errors.empty())
    out.value = q;
  return out;
}

namespace {

bool known_kind(const std::string& kind) {
  for (const char* k : {"email", "sms", "export", "webhook"})
    if (kind == k)
      return true;
  return false;
}

constexpr const char* kinds_message = "must be one of email, sms, export, webhook";

} // namespace

validated<persistence::dead_letter_query> parse_dead_letter_query(std::string_view query) {
  validated<persistence::dead_letter_query> out;
  persistence::dead_letter_query q;
  auto& errors = out.errors;
  if (auto v = single(query, "kind", errors); v && !v->empty()) {
    q.kind = std::string{*v};
    if (!known_kind(q.kind))
      errors.push_back({"kind", kinds_message});
  }
  read_limit(query, 200, q.limit, errors);
  read_cursor(query, q.after, errors);
  if (errors.empty())
    out.value = q;
  return out;
}

validated<persistence::dead_letter_bulk> parse_dead_letter_bulk(std::string_view query) {
  validated<persistence::dead_letter_bulk> out;
  persistence::dead_letter_bulk q;
  auto& errors = out.errors;
  auto kind = single(query, "kind", errors);
  if (!kind || kind->empty())
    errors.push_back({"kind", "is required: " + std::string{kinds_message}});
  else if (q.kind = std::string{*kind}; !known_kind(q.kind))
    errors.push_back({"kind", kinds_message});
  for (auto [name, target] : {std::pair{"from", &q.from}, std::pair{"to", &q.to}}) {
    if (auto v = single(query, name, errors); v && !v->empty()) {
      auto t = persistence::parse_rfc3339(*v);
      if (!t || *t == 0)
        errors.push_back({name, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"});
      else
        *target = *t;
    }
  }
  if (q.from != 0 && q.to != 0 && q.from >= q.to)
    errors.push_back({"to", "must be later than from"});
  read_limit(query, 5000, q.limit, errors);
  q.dry_run = false;
  if (auto v = single(query, "dry_run", errors)) {
    if (*v == "true" || *v == "1")
      q.dry_run = true;
    else if (*v != "false" && *v != "0")
      errors.push_back({"dry_run", "must be true or false"});
  }
  if (errors.empty())
    out.value = q;
  return out;
}

validated<persistence::stripe_event_query> parse_stripe_event_query(std::string_view query) {
  validated<persistence::stripe_event_query> out;
  persistence::stripe_event_query q;
  auto& errors = out.errors;
  if (auto v = single(query, "status", errors); v && !v->empty()) {
    q.status = *v;
    if (q.status != "received" && q.status != "applied" && q.status != "ignored" &&
        q.status != "payload_mismatch")
      errors.push_back({"status", "must be one of received, applied, ignored, payload_mismatch"});
  }
  read_limit(query, 200, q.limit, errors);
  read_cursor(query, q.after, errors);
  if (errors.empty())
    out.value = q;
  return out;
}

bool valid_idempotency_key(std::string_view key) {
  return !key.empty() && key.size() <= 255 &&
         std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

std::string validation_error_body(const std::vector<field_error>& errors) {
  json fields = json::array();
  for (const auto& e : errors)
    fields.push_back({{"field", e.field}, {"message", e.message}});
  std::string message = "the request is invalid";
  if (!errors.empty())
    message = errors.front().field + " " + errors.front().message +
              (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : "");
  return json{{"error", {{"code", "validation_failed"}, {"message", message}, {"fields", fields}}}}.dump();
}

} // namespace clean::http
