#include "persistence/stripe_events.hpp"

#include "persistence/digest.hpp"
#include "persistence/domain_error.hpp"
#include "persistence/outbox.hpp"
#include "persistence/rows.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

namespace clean::persistence {

namespace {

using json = nlohmann::json;
using size = pqxx::row::size_type;

constexpr const char* insert_sql =
    "INSERT INTO stripe_events (id, type, status, payload, stripe_created_at) "
    "VALUES ($1, $2, 'received', $3, to_timestamp(NULLIF($4::bigint, 0))) ON CONFLICT (id) DO NOTHING "
    "RETURNING seq";
constexpr const char* mismatch_sql =
    "INSERT INTO stripe_events (id, type, status, payload, detail, processed_at) "
    "VALUES ($1, '', 'payload_mismatch', $2, $3, now()) ON CONFLICT (id) DO NOTHING";
constexpr const char* settle_sql = "UPDATE stripe_events SET status = $2, invoice_id = NULLIF($3::bigint, "
                                   "0), detail = $4, processed_at = now() "
                                   "WHERE id = $1";
constexpr const char* prior_sql = "SELECT status, invoice_id, detail FROM stripe_events WHERE id = $1";
constexpr const char* stored_sql = "SELECT payload, status FROM stripe_events WHERE id = $1 FOR UPDATE";
constexpr const char* bump_replays_sql = "UPDATE stripe_events SET replays = replays + 1 WHERE id = $1";

constexpr const char* invoice_by_id_sql =
    "SELECT id, amount_cents, currency, status, coalesce(stripe_payment_intent_id, '') FROM invoices "
    "WHERE id = $1 FOR UPDATE";
constexpr const char* invoice_by_intent_sql =
    "SELECT id, amount_cents, currency, status, coalesce(stripe_payment_intent_id, '') FROM invoices "
    "WHERE stripe_payment_intent_id = $1 FOR UPDATE";
constexpr const char* link_intent_sql =
    "UPDATE invoices SET stripe_payment_intent_id = $2 WHERE id = $1 AND stripe_payment_intent_id IS NULL";
constexpr const char* intent_taken_sql =
    "SELECT 1 FROM invoices WHERE stripe_payment_intent_id = $1 AND id <> $2";
constexpr const char* paid_sql = "UPDATE invoices SET status = 'paid', paid_at = now() WHERE id = $1";
constexpr const char* refunded_sql =
    "UPDATE invoices SET status = 'refunded', refunded_at = now() WHERE id = $1";
constexpr const char* failed_sql =
    "UPDATE invoices SET last_payment_error = $2, payment_failed_at = now() WHERE id = $1";
constexpr const char* booking_of_sql = "SELECT booking_id FROM invoices WHERE id = $1";

const std::string list_sql =
    "SELECT seq, id, type, status, invoice_id, detail, ts_to_micros(received_at), "
    "ts_to_micros(processed_at), "
    "replays, ts_to_micros(stripe_created_at) FROM stripe_events WHERE ($1 = '' OR status = $1) "
    "AND (NOT $2::boolean OR (ts_to_micros(received_at), seq) < ($3::bigint, $4::bigint)) "
    "ORDER BY received_at DESC, seq DESC LIMIT $5";

struct invoice_row {
  int64_t id = 0;
  int64_t amount = 0;
  std::string currency;
  std::string status;
  std::string intent;
};

std::optional<invoice_row> load(pqxx::transaction_base& tx, const std::string& sql, const std::string& key) {
  auto res = tx.exec_params(sql, key);
  if (res.empty())
    return std::nullopt;
  const auto& r = res[0];
  return invoice_row{r[size{0}].as<int64_t>(), r[size{1}].as<int64_t>(), r[size{2}].as<std::string>(),
                     r[size{3}].as<std::string>(), r[size{4}].as<std::string>()};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string text_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::optional<int64_t> int_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_number_integer())
    return it->get<int64_t>();
  return std::nullopt;
}

/// The payment intent an event's object belongs to.
std::string intent_of(const std::string& type, const json& obj) {
  if (type.starts_with("payment_intent."))
    return text_at(obj, "id");
  return text_at(obj, "payment_intent"); // charges and Stripe invoices point at theirs
}

/// The amount the object claims was paid (or refunded against).
std::optional<int64_t> amount_of(const std::string& type, const json& obj) {
  if (type == "invoice.paid")
    return int_at(obj, "amount_paid") ? int_at(obj, "amount_paid") : int_at(obj, "amount_due");
  return int_at(obj, "amount");
}

stripe_receipt outcome(const char* result, int64_t invoice, std::string detail) {
  stripe_receipt r;
  r.result = result;
  r.invoice_id = invoice;
  r.detail = std::move(detail);
  return r;
}

constexpr const char* not_handled = "event type not handled";

/// The event types that can change an invoice; every other type is
/// acknowledged and stored as ignored.
bool handled_type(const std::string& type) {
  static const char* handled[] = {"payment_intent.succeeded", "payment_intent.payment_failed", "invoice.paid",
                                  "charge.refunded"};
  return std::find(std::begin(handled), std::end(handled), type) != std::end(handled);
}

/// The effect of one well-formed event (already recorded as received).
stripe_receipt apply(pqxx::transaction_base& tx, const std::string& event_id, const std::string& type,
                     const json& obj) {
  if (!handled_type(type))
    return outcome("ignored", 0, not_handled);
  // Which invoice: metadata.invoice_id, else the stored payment intent id.
  std::string named;
  if (auto meta = obj.find("metadata"); meta != obj.end() && meta->is_object()) {
    if (auto v = meta->find("invoice_id"); v != meta->end())
      named = v->is_string()           ? v->get<std::string>()
              : v->is_number_integer() ? std::to_string(v->get<int64_t>())
                                       : "";
  }
  auto intent = intent_of(type, obj);
  std::optional<invoice_row> inv;
  if (!named.empty()) {
    if (named.find_first_not_of("0123456789") != std::string::npos || named.size() > 18)
      return outcome("payload_mismatch", 0,
                     "metadata.invoice_id '" + named + "' is not an invoice id of ours");
    inv = load(tx, invoice_by_id_sql, named);
    if (!inv)
      return outcome("payload_mismatch", 0,
                     "metadata.invoice_id names invoice " + named + ", which does not exist");
  } else if (!intent.empty()) {
    inv = load(tx, invoice_by_intent_sql, intent);
  }
  if (!inv)
    return outcome("ignored", 0, "no invoice of ours matches the event");
  if (!intent.empty() && !inv->intent.empty() && intent != inv->intent)
    return outcome("payload_mismatch", inv->id,
                   "payment intent " + intent + " is not invoice " + std::to_string(inv->id) + "'s (" +
                       inv->intent + ")");
  auto amount = amount_of(type, obj);
  auto currency = lower(text_at(obj, "currency"));
  if (!amount || *amount != inv->amount || currency != lower(inv->currency))
    return outcome("payload_mismatch", inv->id,
                   "the event says " + (amount ? std::to_string(*amount) : std::string{"no amount"}) + " " +
                       currency + "; invoice " + std::to_string(inv->id) + " is " +
                       std::to_string(inv->amount) + " " + inv->currency);
  if (!intent.empty() && inv->intent.empty()) {
    // Linking must not collide with another invoice's intent (unique): that
    // would fail the transaction on every redelivery instead of saying why.
    if (intent.size() > 255 || !tx.exec_params(intent_taken_sql, intent, inv->id).empty())
      return outcome("payload_mismatch", inv->id,
                     "payment intent " + intent.substr(0, 64) +
                         " belongs to another invoice or is not valid");
    tx.exec_params(link_intent_sql, inv->id, intent);
  }
  auto id = std::to_string(inv->id);
  if (type == "payment_intent.succeeded" || type == "invoice.paid") {
    if (inv->status == "open") {
      tx.exec_params(paid_sql, inv->id);
      return outcome("applied", inv->id, "invoice " + id + " paid");
    }
    return outcome("applied", inv->id, "invoice " + id + " is already " + inv->status + "; nothing changes");
  }
  if (type == "charge.refunded") {
    auto refunded = int_at(obj, "amount_refunded").value_or(0);
    bool full = (obj.contains("refunded") && obj["refunded"].is_boolean() && obj["refunded"].get<bool>()) ||
                refunded >= inv->amount;
    if (!full)
      return outcome("applied", inv->id,
                     "partial refund of " + std::to_string(refunded) + " recorded; invoice " + id +
                         " stays " + inv->status);
    // Open too: a refund delivered before the success it follows (Stripe
    // does not order deliveries) still ends the invoice refunded.
    if (inv->status == "paid" || inv->status == "open") {
      tx.exec_params(refunded_sql, inv->id);
      return outcome("applied", inv->id, "invoice " + id + " refunded");
    }
    return outcome("applied", inv->id,
                   "invoice " + id + " is " + inv->status + "; a refund does not change it");
  }
  // payment_intent.payment_failed: only an open invoice learns about it, and
  // the customer is told through the outbox (same transaction).
  if (inv->status != "open")
    return outcome("applied", inv->id,
                   "invoice " + id + " is already " + inv->status + ": a late failure does not move it back");
  std::string reason = "the payment failed";
  if (auto err = obj.find("last_payment_error"); err != obj.end() && err->is_object())
    if (auto m = text_at(*err, "message"); !m.empty())
      reason = m.substr(0, 500);
  tx.exec_params(failed_sql, inv->id, reason);
  auto booking = tx.exec_params1(booking_of_sql, inv->id)[size{0}].as<int64_t>();
  outbox::enqueue_email(tx, "payment_failed", "invoice:" + id + ":payment_failed:" + event_id,
                        {{"invoice_id", inv->id}, {"booking_id", booking}});
  return outcome("applied", inv->id, "payment failure recorded on invoice " + id + ": " + reason);
}

void settle(pqxx::transaction_base& tx, const std::string& id, const stripe_receipt& r) {
  tx.exec_params(settle_sql, id, r.result, r.invoice_id, r.detail.substr(0, 2000));
}

/// A well-formed Stripe event: an object with a string id, a string type
/// and an object under data.object.
bool well_formed(const json& e) {
  return e.is_object() && e.contains("id") && e["id"].is_string() && !e["id"].get<std::string>().empty() &&
         e["id"].get<std::string>().size() <= 255 && e.contains("type") && e["type"].is_string() &&
         e.contains("data") && e["data"].is_object() && e["data"].contains("object") &&
         e["data"]["object"].is_object();
}

/// A PostgreSQL array literal of text values: every element quoted, with
/// quotes and backslashes escaped (bodies are JSON, full of both).
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string bigint_array(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i > 0 ? "," : "") + std::to_string(values[i]);
  out += '}';
  return out;
}

// Records every event of a batch in one prepared statement and returns the
// ids it stored. Ids are inserted in order, so two batches with overlapping
// ids lock them in the same order. Events of types we do not act on are
// stored settled ('ignored'); the rest as 'received', for apply and
// settle_many. Prepared, and with no join in it, so its plan cannot go
// wrong: an earlier form that also joined stripe_events to read prior rows
// got, as a generic plan made while the fresh table's statistics called it
// empty, a hash join over a full scan of the table (60 % of the database's
// CPU under the webhook benchmark). Parsing, analysing and planning that
// form were another third of the database's CPU per batch.
constexpr const char* insert_many_name = "stripe_insert_many";
constexpr const char* insert_many_sql =
    "INSERT INTO stripe_events (id, type, status, payload, stripe_created_at, detail, processed_at) "
    "SELECT id, type, status, payload, to_timestamp(NULLIF(created, 0)), "
    "CASE WHEN status = 'ignored' THEN $6::text END, CASE WHEN status = 'ignored' THEN now() END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) "
    "AS u(id, type, payload, created, status) ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id";
constexpr const char* settle_many_sql =
    "UPDATE stripe_events e SET status = u.status, invoice_id = NULLIF(u.invoice, 0), detail = u.detail, "
    "processed_at = now() FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) "
    "AS u(id, status, invoice, detail) WHERE e.id = u.id";

// Not prepared: planned with the ids known, it probes the primary key.
constexpr const char* prior_many_sql =
    "SELECT id, status, invoice_id, detail FROM stripe_events WHERE id = ANY($1::text[])";

/// For each id of a batch: stored now (new), or what was stored before.
struct stored_before {
  bool inserted = false;
  std::optional<stripe_receipt> prior;
};

std::optional<stripe_receipt> prior_of(const pqxx::row& row, size status_column) {
  if (row[status_column].is_null())
    return std::nullopt;
  auto invoice = row[status_column + 1];
  auto detail = row[status_column + 2];
  return outcome(row[status_column].c_str(), invoice.is_null() ? 0 : invoice.as<int64_t>(),
                 detail.is_null() ? std::string{} : detail.as<std::string>());
}

/// What each id stored already was stored as.
using known_events = std::map<std::string, std::optional<stripe_receipt>>;

/// What the given ids were stored as, for those stored already.
known_events read_stored(pqxx::transaction_base& tx, const std::vector<std::string>& ids) {
  known_events out;
  if (ids.empty())
    return out;
  for (const auto& row : tx.exec_params(prior_many_sql, text_array(ids)))
    out[row[size{0}].as<std::string>()] = prior_of(row, 1);
  return out;
}

/// Records the ids of a batch not in `known` (what was stored before it,
/// read first) and says for each id whether it was stored now or what it
/// was stored as.
std::map<std::string, stored_before> insert_events(pqxx::transaction_base& tx, const known_events& known,
                                                   const std::vector<std::string>& ids,
                                                   const std::vector<std::string>& types,
                                                   const std::vector<std::string>& payloads,
                                                   const std::vector<int64_t>& created) {
  std::map<std::string, stored_before> out;
  std::vector<std::string> new_ids, new_types, new_payloads, statuses;
  std::vector<int64_t> new_created;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto k = known.find(ids[i]); k != known.end()) {
      out.emplace(ids[i], stored_before{false, k->second});
      continue;
    }
    out.emplace(ids[i], stored_before{});
    new_ids.push_back(ids[i]);
    new_types.push_back(types[i]);
    new_payloads.push_back(payloads[i]);
    new_created.push_back(created[i]);
    statuses.emplace_back(handled_type(types[i]) ? "received" : "ignored");
  }
  if (new_ids.empty())
    return out;
  for (const auto& row : tx.exec_prepared(insert_many_name, text_array(new_ids), text_array(new_types),
                                          text_array(new_payloads), bigint_array(new_created),
                                          text_array(statuses), not_handled))
    out[row[size{0}].as<std::string>()].inserted = true;
  // An id the read before found absent but the INSERT did not store was
  // stored by a concurrent batch meanwhile (or, inserting first, by any
  // earlier delivery). A new statement, so it sees what that batch
  // committed while the INSERT waited for it (a concurrent redelivery of a
  // refused event stays refused).
  std::vector<std::string> not_stored;
  for (const auto& id : new_ids)
    if (!out[id].inserted)
      not_stored.push_back(id);
  for (auto& [id, prior] : read_stored(tx, not_stored))
    out[id].prior = std::move(prior);
  return out;
}

/// Whether an event stored with this outcome can still change: only
/// applied events (a replay refuses them) and types we never act on (a
/// replay ignores them again) cannot.
bool final_outcome(const std::string& status, const std::string& detail) {
  return status == "applied" || (status == "ignored" && detail == not_handled);
}

/// What a redelivery of an already stored event comes to (see receive).
stripe_receipt redelivered(const std::optional<stripe_receipt>& prior) {
  if (prior && prior->result == "payload_mismatch")
    return outcome("payload_mismatch", prior->invoice_id, prior->detail);
  auto r = outcome("duplicate", 0, "already received");
  r.final_state = prior && final_outcome(prior->result, prior->detail);
  return r;
}

/// An event stored already settled: well-formed, of a type we do not act on.
bool stored_settled(const json& event) {
  return well_formed(event) && !handled_type(event["type"].get<std::string>());
}

/// A well-formed event whose id is stored already: a redelivery, which
/// writes nothing.
bool known_event(const json& e, const known_events& known) {
  return well_formed(e) && known.contains(e["id"].get<std::string>());
}

/// receive_many's work once the bodies are parsed (`events[i]` is
/// `bodies[i]` parsed, or discarded when it is not JSON).
std::vector<stripe_receipt> receive_parsed(pqxx::transaction_base& tx, const std::vector<std::string>& bodies,
                                           const std::vector<json>& events, const known_events& known) {
  std::vector<stripe_receipt> out(bodies.size());
  std::vector<std::string> ids, types, payloads;
  std::vector<int64_t> created;
  std::map<std::string, size_t> first_of; // an id twice in one batch: the later one is a redelivery
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (!well_formed(events[i])) {
      out[i] = stripe_events::receive(tx, bodies[i]); // stored for inspection, as alone
      continue;
    }
    auto id = events[i]["id"].get<std::string>();
    out[i].event_id = id;
    out[i].type = events[i]["type"].get<std::string>();
    if (!first_of.emplace(id, i).second)
      continue;
    ids.push_back(id);
    types.push_back(out[i].type);
    payloads.push_back(bodies[i]);
    created.push_back(int_at(events[i], "created").value_or(0));
  }
  auto stored = insert_events(tx, known, ids, types, payloads, created);
  std::vector<std::string> settle_ids, statuses, details;
  std::vector<int64_t> invoices;
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (out[i].event_id.empty() || !out[i].result.empty())
      continue; // malformed: already answered
    // Copies: out[i] is overwritten below.
    auto id = out[i].event_id;
    auto type = out[i].type;
    const auto& s = stored[id];
    if (!s.inserted) {
      out[i] = redelivered(s.prior);
    } else if (first_of[id] != i) {
      // Delivered twice in one batch: the second sees what the first became.
      const auto& first = out[first_of[id]];
      auto final_state = first.final_state;
      out[i] = first.result == "payload_mismatch"
                   ? outcome("payload_mismatch", first.invoice_id, first.detail)
                   : outcome("duplicate", 0, "already received");
      out[i].final_state = final_state;
    } else if (!handled_type(type)) {
      out[i] = outcome("ignored", 0, not_handled); // stored settled by the INSERT
      out[i].final_state = true;
    } else {
      out[i] = apply(tx, id, type, events[i]["data"]["object"]);
      out[i].final_state = final_outcome(out[i].result, out[i].detail);
      settle_ids.push_back(id);
      statuses.push_back(out[i].result);
      invoices.push_back(out[i].invoice_id);
      details.push_back(out[i].detail.substr(0, 2000));
    }
    out[i].event_id = id;
    out[i].type = type;
  }
  if (!settle_ids.empty())
    tx.exec_params(settle_many_sql, text_array(settle_ids), text_array(statuses), bigint_array(invoices),
                   text_array(details));
  return out;
}

} // namespace

namespace stripe_events {

stripe_receipt receive(pqxx::transaction_base& tx, const std::string& raw_body) {
  auto event = json::parse(raw_body, nullptr, false);
  if (!well_formed(event)) {
    // Kept for inspection under a name derived from the body, never applied.
    auto id = "unparsed_" + sha256_hex(raw_body).substr(0, 24);
    auto detail = std::string{"not a well-formed Stripe event (needs id, type and data.object)"};
    tx.exec_params(mismatch_sql, id, raw_body, detail);
    auto r = outcome("payload_mismatch", 0, detail);
    r.event_id = id;
    return r;
  }
  auto id = event["id"].get<std::string>();
  auto type = event["type"].get<std::string>();
  auto created = int_at(event, "created").value_or(0);
  stripe_receipt r;
  if (tx.exec_params(insert_sql, id, type, raw_body, created).empty()) {
    // A redelivery of an event we refused stays refused (and counted),
    // until on-call fixes the record and replays it.
    auto prior = tx.exec_params(prior_sql, id);
    r = redelivered(prior.empty() ? std::nullopt : prior_of(prior[0], 0));
  } else {
    r = apply(tx, id, type, event["data"]["object"]);
    r.final_state = final_outcome(r.result, r.detail);
    settle(tx, id, r);
  }
  r.event_id = id;
  r.type = type;
  return r;
}

std::optional<stripe_event_key> key_of(const std::string& raw_body) {
  auto event = json::parse(raw_body, nullptr, false);
  if (!well_formed(event))
    return std::nullopt;
  return stripe_event_key{event["id"].get<std::string>(), event["type"].get<std::string>()};
}

namespace {

/// A forward-only reader of just enough JSON to find an object's top-level
/// members: strings are read (escapes noted, not decoded), nested objects and
/// arrays are skipped by counting brackets outside strings.
class json_skimmer {
public:
  explicit json_skimmer(std::string_view text) : s_(text) {}

  bool at_end() {
    space();
    return i_ == s_.size();
  }

  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  /// A string without escapes; false for any other value or an escape.
  bool plain_string(std::string_view& out) {
    bool plain = true;
    return peek() == '"' && string(out, plain) && plain;
  }

  /// Skips any one value; `first` is its first character ('{', '"', …).
  bool value(char& first) {
    first = peek();
    std::string_view ignored;
    bool plain = true;
    switch (first) {
      case '"':
        return string(ignored, plain);
      case '{':
      case '[':
        return nested();
      default:
        return scalar();
    }
  }

private:
  char peek() {
    space();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  bool string(std::string_view& out, bool& plain) {
    size_t start = ++i_; // past the opening quote
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '"') {
        out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return false;
      if (c == '\\') {
        plain = false;
        ++i_;
      }
      ++i_;
    }
    return false;
  }

  bool nested() {
    int depth = 0;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '"') {
        std::string_view ignored;
        bool plain = true;
        if (!string(ignored, plain))
          return false;
        continue;
      }
      ++i_;
      if (c == '{' || c == '[')
        ++depth;
      else if ((c == '}' || c == ']') && --depth == 0)
        return true;
    }
    return false;
  }

  bool scalar() {
    size_t start = i_;
    while (i_ < s_.size() && std::string_view{",}] \t\n\r"}.find(s_[i_]) == std::string_view::npos)
      ++i_;
    return i_ > start;
  }

  std::string_view s_;
  size_t i_ = 0;
};

} // namespace

std::optional<stripe_event_key> skim_key(std::string_view raw_body) {
  json_skimmer in{raw_body};
  std::optional<std::string_view> id, type;
  bool data = false;
  if (!in.eat('{'))
    return std::nullopt;
  if (!in.eat('}')) {
    do {
      std::string_view name;
      if (!in.plain_string(name) || !in.eat(':'))
        return std::nullopt;
      if (name == "id" || name == "type") {
        auto& slot = name == "id" ? id : type;
        std::string_view text;
        if (slot || !in.plain_string(text))
          return std::nullopt; // given twice, or not a plain string: not sure
        slot = text;
        continue;
      }
      char first = 0;
      if (!in.value(first) || (name == "data" && data))
        return std::nullopt;
      data = data || (name == "data" && first == '{');
    } while (in.eat(','));
    if (!in.eat('}'))
      return std::nullopt;
  }
  if (!in.at_end() || !id || !type || !data || id->empty() || id->size() > 255)
    return std::nullopt;
  return stripe_event_key{std::string{*id}, std::string{*type}};
}

void prepare(pqxx::connection_base& conn) {
  conn.prepare(insert_many_name, insert_many_sql);
}

namespace {

/// Parses and receives a batch, `known` holding what some of its ids were
/// stored as before it.
std::vector<stripe_receipt> receive_bodies(pqxx::connection_base& conn,
                                           const std::vector<std::string>& bodies,
                                           const known_events& known) {
  std::vector<json> events;
  events.reserve(bodies.size());
  for (const auto& body : bodies)
    events.push_back(json::parse(body, nullptr, false));
  {
    pqxx::nontransaction tx{conn};
    if (std::all_of(events.begin(), events.end(),
                    [&](const json& e) { return stored_settled(e) || known_event(e, known); }))
      return receive_parsed(tx, bodies, events, known); // at most one INSERT, atomic on its own
  }
  // Read committed is enough: the event id's primary key queues concurrent
  // deliveries of one event behind each other, and whoever applies an event
  // locks its invoice row (FOR UPDATE).
  pqxx::work tx{conn};
  auto out = receive_parsed(tx, bodies, events, known);
  tx.commit();
  return out;
}

} // namespace

std::vector<stripe_receipt> receive_many(pqxx::connection_base& conn, const std::vector<std::string>& bodies,
                                         batch_start start) {
  if (start == batch_start::insert_first)
    return receive_bodies(conn, bodies, {});
  // Read first. A body whose top-level id is stored under that id is a
  // redelivery (only a well-formed event is stored under its own id, and
  // Stripe never sends two events with one id): it is answered from what
  // was stored, without being parsed. The rest are received as above,
  // knowing what the read found.
  std::vector<std::optional<stripe_event_key>> keys;
  std::vector<std::string> ids;
  keys.reserve(bodies.size());
  for (const auto& body : bodies)
    if (keys.push_back(skim_key(body)); keys.back())
      ids.push_back(keys.back()->id);
  known_events known;
  {
    pqxx::nontransaction tx{conn};
    known = read_stored(tx, ids);
  }
  std::vector<stripe_receipt> out(bodies.size());
  std::vector<std::string> rest;
  std::vector<size_t> rest_at;
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto k = keys[i] ? known.find(keys[i]->id) : known.end();
    if (k == known.end()) {
      rest.push_back(bodies[i]);
      rest_at.push_back(i);
      continue;
    }
    out[i] = redelivered(k->second);
    out[i].event_id = keys[i]->id;
    out[i].type = keys[i]->type;
  }
  if (!rest.empty()) {
    auto more = receive_bodies(conn, rest, known);
    for (size_t j = 0; j < rest.size(); ++j)
      out[rest_at[j]] = std::move(more[j]);
  }
  return out;
}

batch_start next_start(const std::vector<stripe_receipt>& last) {
  auto redeliveries = std::count_if(last.begin(), last.end(),
                                    [](const stripe_receipt& r) { return r.result == "duplicate"; });
  return 2 * static_cast<size_t>(redeliveries) > last.size() ? batch_start::read_first
                                                             : batch_start::insert_first;
}

stripe_receipt replay(pqxx::transaction_base& tx, const std::string& event_id) {
  auto res = tx.exec_params(stored_sql, event_id);
  if (res.empty())
    throw domain_error(domain_error::kind::not_found, "not_found", "no stored Stripe event " + event_id);
  if (res[0][size{1}].as<std::string>() == "applied")
    throw domain_error(domain_error::kind::conflict, "already_applied",
                       "Stripe event " + event_id + " was applied; replaying it would change nothing");
  auto event = json::parse(res[0][size{0}].as<std::string>(), nullptr, false);
  stripe_receipt r;
  if (!well_formed(event)) {
    r = outcome("payload_mismatch", 0, "not a well-formed Stripe event (needs id, type and data.object)");
  } else {
    r = apply(tx, event_id, event["type"].get<std::string>(), event["data"]["object"]);
    r.type = event["type"].get<std::string>();
  }
  settle(tx, event_id, r);
  tx.exec_params(bump_replays_sql, event_id);
  r.event_id = event_id;
  return r;
}

json list(pqxx::transaction_base& tx, const stripe_event_query& q) {
  auto res = tx.exec_params(list_sql, q.status, q.after.has_value(), q.after ? q.after->time : 0,
                            q.after ? q.after->id : 0, q.limit + 1);
  return rows::page(res, q.limit, 6, [](const pqxx::row& r) {
    using rows::text_or_null;
    using rows::time_or_null;
    return json{{"id", r[size{1}].as<std::string>()},
                {"type", r[size{2}].as<std::string>()},
                {"status", r[size{3}].as<std::string>()},
                {"invoice_id", r[size{4}].is_null() ? json(nullptr) : json(r[size{4}].as<int64_t>())},
                {"detail", text_or_null(r[size{5}])},
                {"received_at", time_or_null(r[size{6}])},
                {"processed_at", time_or_null(r[size{7}])},
                {"replays", r[size{8}].as<int>()},
                {"stripe_created_at", time_or_null(r[size{9}])}};
  });
}

} // namespace stripe_events

} // namespace clean::persistence
