#include "delivery/templates.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>

namespace clean::delivery {

namespace {

using nlohmann::json;

std::string text(const json& ctx, const char* part, const char* key) {
  auto p = ctx.find(part);
  if (p == ctx.end() || !p->is_object() || !p->contains(key))
    throw template_error(fmt::format("missing value {}.{}", part, key));
  const auto& v = (*p)[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int64_t number(const json& ctx, const char* part, const char* key) {
  auto p = ctx.find(part);
  if (p == ctx.end() || !p->contains(key) || !(*p)[key].is_number_integer())
    throw template_error(fmt::format("missing number {}.{}", part, key));
  return (*p)[key].get<int64_t>();
}

/// "2026-12-01T09:00:00Z" -> "2026-12-01 09:00 UTC".
std::string when(const std::string& rfc3339) {
  if (rfc3339.size() < 16)
    return rfc3339;
  return rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 5) + " UTC";
}

struct parts {
  std::string subject;
  std::string greeting_line; // plain text, escaped for HTML by the caller
  std::string body;
  std::string link; // optional
};

std::string html_of(const parts& p) {
  std::string out = "<!doctype html><html><body><p>" + html_escape(p.greeting_line) + "</p><p>" +
                    html_escape(p.body) + "</p>";
  if (!p.link.empty())
    out += "<p><a href=\"" + html_escape(p.link) + "\">" + html_escape(p.link) + "</a></p>";
  return out + "<p>— clean-service</p></body></html>\n";
}

std::string text_of(const parts& p) {
  std::string out = p.greeting_line + "\n\n" + p.body + "\n";
  if (!p.link.empty())
    out += "\n" + p.link + "\n";
  return out + "\n— clean-service\n";
}

std::optional<parts> compose(const std::string& name, const json& ctx, const template_options& opts) {
  auto customer = text(ctx, "customer", "name");
  parts p;
  p.greeting_line = "Hello " + customer + ",";
  if (name.starts_with("booking_")) {
    auto at = when(text(ctx, "booking", "scheduled_at"));
    auto address = text(ctx, "booking", "address");
    auto status = text(ctx, "booking", "status");
    if (name == "booking_confirmation") {
      p.subject = "Your cleaning on " + at + " is booked";
      p.body = "We will be at " + address + " on " + at + ". Price: " +
               format_money(number(ctx, "booking", "price_cents"), text(ctx, "booking", "currency")) + ".";
    } else if (name == "booking_reminder") {
      if (status != "scheduled")
        return std::nullopt; // cancelled or done since the reminder was queued
      p.subject = "Reminder: cleaning on " + at;
      p.body = "A reminder that we will be at " + address + " on " + at + ".";
    } else if (name == "booking_completed") {
      p.subject = "Your cleaning is done";
      p.body = "We finished the cleaning at " + address + ". Thank you!";
    } else if (name == "booking_cancelled") {
      p.subject = "Your cleaning on " + at + " is cancelled";
      p.body = "The cleaning at " + address + " on " + at + " has been cancelled.";
    } else {
      throw template_error("unknown template " + name);
    }
    return p;
  }
  if (name == "payment_failed") {
    auto amount = format_money(number(ctx, "invoice", "amount_cents"), text(ctx, "invoice", "currency"));
    auto id = std::to_string(number(ctx, "invoice", "id"));
    if (text(ctx, "invoice", "status") != "open")
      return std::nullopt; // paid in the meantime
    const auto& invoice = ctx.at("invoice");
    std::string reason = "the payment was declined";
    if (invoice.contains("last_payment_error") && invoice["last_payment_error"].is_string())
      reason = invoice["last_payment_error"].get<std::string>();
    p.subject = "Payment for invoice " + id + " failed";
    p.body = "We could not collect " + amount + " for invoice " + id + ": " + reason +
             ". Please check your payment method.";
    return p;
  }
  if (name == "invoice_issued" || name == "invoice_reminder") {
    auto amount = format_money(number(ctx, "invoice", "amount_cents"), text(ctx, "invoice", "currency"));
    auto due = when(text(ctx, "invoice", "due_at"));
    auto id = std::to_string(number(ctx, "invoice", "id"));
    if (name == "invoice_reminder") {
      if (text(ctx, "invoice", "status") != "open")
        return std::nullopt; // paid or voided since
      p.subject = "Reminder: invoice " + id + " is overdue";
      p.body = "Invoice " + id + " for " + amount + " was due on " + due + " and is still open.";
    } else {
      p.subject = "Invoice " + id + " for " + amount;
      p.body = "Invoice " + id + " for " + amount + " is due on " + due + ".";
    }
    return p;
  }
  if (name == "nps_survey") {
    p.subject = "How did we do?";
    p.body = "On a scale from 0 to 10, how likely are you to recommend us? Answer here:";
    p.link = opts.public_base_url + "/v1/nps/" + text(ctx, "survey", "token");
    return p;
  }
  throw template_error("unknown template " + name);
}

std::string header_safe(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n')
      c = ' ';
  return s;
}

} // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string format_money(int64_t minor_units, const std::string& currency) {
  std::string code;
  for (char c : currency)
    code.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  auto sign = minor_units < 0 ? "-" : "";
  auto abs = minor_units < 0 ? -minor_units : minor_units;
  return fmt::format("{}{}.{:02} {}", sign, abs / 100, abs % 100, code);
}

std::optional<rendered_email> render(const std::string& template_name, const nlohmann::json& context,
                                     const template_options& options) {
  auto p = compose(template_name, context, options);
  if (!p)
    return std::nullopt;
  rendered_email out;
  out.to_name = header_safe(text(context, "customer", "name"));
  out.to_address = header_safe(text(context, "customer", "email"));
  out.subject = header_safe(p->subject);
  out.text = text_of(*p);
  out.html = html_of(*p);
  return out;
}

std::optional<std::string> render_sms(const std::string& template_name, const nlohmann::json& context,
                                      const template_options& options) {
  if (template_name != "booking_reminder")
    throw template_error("no SMS text for template " + template_name);
  auto p = compose(template_name, context, options);
  if (!p)
    return std::nullopt;
  // One line, short enough for two SMS segments at most.
  auto out = p->body + " (clean-service)";
  for (auto& c : out)
    if (c == '\r' || c == '\n')
      c = ' ';
  if (out.size() > 300) {
    size_t cut = 297;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80)
      --cut; // never split a UTF-8 sequence
    out.resize(cut);
    out += "...";
  }
  return out;
}

} // namespace clean::delivery
