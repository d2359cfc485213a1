#pragma once

// How an email leaves the service: EMAIL_ADAPTER picks one of
//   file      .eml files under EMAIL_FILE_DIR (development default)
//   smtp      libcurl SMTP (smtp:// or smtps://, STARTTLS, AUTH, timeouts)
//   sendgrid  SendGrid's v3 mail/send HTTP API through libcurl
// Adapters block (network, disk): only the email actor (detached, its own
// thread) or the one-shot CLI calls them. Each classifies its outcome so
// the caller can tell a provider problem (retry; counts against the
// breaker) from a message the provider will never accept (dead at once).

#include "config/settings.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace clean::delivery {

/// One email, rendered, with its envelope and its RFC 5322 form.
struct outbound_email {
  std::string message_id; // stable per outbox event: a redelivery carries the same one
  std::string template_name;
  std::string from_header;  // EMAIL_FROM as written ("Name <addr>")
  std::string from_address; // envelope sender
  std::string to_name;
  std::string to_address;
  std::string subject;
  std::string text;
  std::string html;
  std::string mime; // the whole message (SMTP, file)
};

enum class send_status {
  sent,      // accepted by the provider
  duplicate, // the sink already had this Message-ID (file adapter)
  failed,    // provider trouble (connect, 4xx, auth): retry later
  timeout,   // no answer in time: retry later
  rejected,  // the provider refuses this message for good (5xx, bad request)
};

/// "sent", "duplicate", "failed", "timeout", "rejected" (email_adapter_outcomes_total).
const char* to_string(send_status s);

/// Whether the outcome says the provider is unwell (breaker failure).
bool counts_against_provider(send_status s);

struct send_outcome {
  send_status status = send_status::failed;
  std::string detail; // what the provider or libcurl said; never holds a secret
  long code = 0;      // SMTP reply or HTTP status, when one came
};

class mail_adapter {
public:
  virtual ~mail_adapter();
  virtual send_outcome send(const outbound_email& email) = 0;
  virtual const char* name() const = 0;
};

/// The adapter EMAIL_ADAPTER asks for. `file_dir` is EMAIL_FILE_DIR.
std::unique_ptr<mail_adapter> make_mail_adapter(const config::email_settings& settings,
                                                const std::string& file_dir);

/// The SMS adapter SMS_ADAPTER asks for: `twilio` (Messages API through
/// libcurl; `to_address` is the phone, `text` the message) or `log` (the
/// development stand-in: a log line per message).
std::unique_ptr<mail_adapter> make_sms_adapter(const config::sms_settings& settings);

/// `a=b&c=d` with both sides percent-encoded (RFC 3986 unreserved kept).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

/// The address inside "Name <addr>" (or the whole text when bare).
std::string address_of(const std::string& mailbox);

/// SendGrid's v3 request body for `email` (exposed for tests).
std::string sendgrid_body(const outbound_email& email);

} // namespace clean::delivery
