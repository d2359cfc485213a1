#pragma once

// Notification templates: subject, plain text and HTML for each email the
// service sends, rendered from the context persistence::job_work loads.
// Values are HTML-escaped in the HTML part; header values lose CR/LF.

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace clean::delivery {

struct rendered_email {
  std::string to_name;
  std::string to_address;
  std::string subject;
  std::string text;
  std::string html;
};

/// A template that cannot be rendered (unknown name, missing value): never
/// worth retrying.
class template_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct template_options {
  /// Base of links in emails (the NPS survey link), e.g. https://clean.example.
  std::string public_base_url = "http://127.0.0.1:8080";
};

/// The email for `template_name`, or nullopt when it no longer applies (a
/// reminder for a booking cancelled since it was queued).
std::optional<rendered_email> render(const std::string& template_name, const nlohmann::json& context,
                                     const template_options& options);

/// The SMS text of `template_name` (booking_reminder; anything else is a
/// template_error), or nullopt when it no longer applies.
std::optional<std::string> render_sms(const std::string& template_name, const nlohmann::json& context,
                                      const template_options& options);

std::string html_escape(const std::string& text);

/// "90.00 EUR" from minor units.
std::string format_money(int64_t minor_units, const std::string& currency);

} // namespace clean::delivery
