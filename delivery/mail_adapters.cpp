#include "delivery/mail_adapters.hpp"

#include "delivery/curl.hpp"
#include "delivery/files.hpp"
#include "delivery/mail.hpp"
#include "telemetry/logging.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstring>

namespace clean::delivery {

const char* to_string(send_status s) {
  switch (s) {
    case send_status::sent:
      return "sent";
    case send_status::duplicate:
      return "duplicate";
    case send_status::failed:
      return "failed";
    case send_status::timeout:
      return "timeout";
    case send_status::rejected:
      return "rejected";
  }
  return "failed";
}

bool counts_against_provider(send_status s) {
  return s == send_status::failed || s == send_status::timeout;
}

mail_adapter::~mail_adapter() = default;

std::string address_of(const std::string& mailbox) {
  auto open = mailbox.rfind('<');
  auto close = mailbox.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open)
    return mailbox.substr(open + 1, close - open - 1);
  return mailbox;
}

namespace {

struct upload {
  const std::string* data;
  size_t offset = 0;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* u = static_cast<upload*>(user);
  auto n = std::min(size * count, u->data->size() - u->offset);
  std::memcpy(buffer, u->data->data() + u->offset, n);
  u->offset += n;
  return n;
}

class file_adapter : public mail_adapter {
public:
  explicit file_adapter(std::string dir) : dir_(std::move(dir)) {}
  send_outcome send(const outbound_email& email) override {
    try {
      bool fresh = deliver_to_file(dir_, email.message_id, email.mime);
      return {fresh ? send_status::sent : send_status::duplicate, fresh ? "written" : "already there", 0};
    } catch (const delivery_failure& f) {
      return {send_status::failed, f.what(), 0};
    }
  }
  const char* name() const override { return "file"; }

private:
  std::string dir_;
};

class smtp_adapter : public mail_adapter {
public:
  explicit smtp_adapter(const config::email_settings& s) : s_(s) {}

  send_outcome send(const outbound_email& email) override {
    CURL* c = curl_.get();
    if (!c)
      return {send_status::failed, "libcurl could not create a handle", 0};
    char error[CURL_ERROR_SIZE] = {};
    upload body{&email.mime};
    auto from = "<" + email.from_address + ">";
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + email.to_address + ">").c_str());
    curl_easy_setopt(c, CURLOPT_URL, s_.smtp_url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(c, CURLOPT_READDATA, &body);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(email.mime.size()));
    curl::set_limits(c, s_.smtp_connect_timeout, s_.send_timeout, error);
    if (!s_.smtp_username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, s_.smtp_username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, s_.smtp_password.c_str());
    }
    long tls = CURLUSESSL_NONE;
    if (s_.starttls == config::smtp_tls::opportunistic)
      tls = CURLUSESSL_TRY;
    else if (s_.starttls == config::smtp_tls::required)
      tls = CURLUSESSL_ALL;
    curl_easy_setopt(c, CURLOPT_USE_SSL, tls);
    auto [rc, code] = curl::perform(c, rcpt, CURLOPT_MAIL_RCPT);
    return classify(rc, code, error);
  }

  const char* name() const override { return "smtp"; }

private:
  static send_outcome classify(CURLcode rc, long code, const char* error) {
    if (rc == CURLE_OK)
      return {send_status::sent, "accepted", code};
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return {send_status::timeout, curl::describe(rc, error, code), code};
    // 5xx is the server refusing this message for good, except for the
    // authentication replies: those are our configuration, fixed and retried.
    bool auth = code == 530 || code == 534 || code == 535 || rc == CURLE_LOGIN_DENIED;
    if (code >= 500 && code < 600 && !auth)
      return {send_status::rejected, curl::describe(rc, error, code), code};
    return {send_status::failed, curl::describe(rc, error, code), code};
  }

  config::email_settings s_;
  curl::handle curl_;
};

class sendgrid_adapter : public mail_adapter {
public:
  explicit sendgrid_adapter(const config::email_settings& s) :
      s_(s), url_(s.sendgrid_base_url + "/v3/mail/send"),
      auth_("Authorization: Bearer " + s.sendgrid_api_key) {}

  send_outcome send(const outbound_email& email) override {
    CURL* c = curl_.get();
    if (!c)
      return {send_status::failed, "libcurl could not create a handle", 0};
    char error[CURL_ERROR_SIZE] = {};
    auto payload = sendgrid_body(email);
    curl::body answer;
    curl_slist* headers = curl_slist_append(nullptr, auth_.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl::collect_into(c, answer);
    curl::set_limits(c, s_.smtp_connect_timeout, s_.send_timeout, error);
    auto [rc, code] = curl::perform(c, headers);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return {send_status::timeout, curl::describe(rc, error, code), code};
    if (rc != CURLE_OK)
      return {send_status::failed, curl::describe(rc, error, code), code};
    if (code >= 200 && code < 300)
      return {send_status::sent, "accepted", code};
    auto detail = "SendGrid answered " + std::to_string(code) + ": " + answer.text;
    // 401/403 are our key, 429 and 5xx their capacity: fixed or waited out,
    // so retried. Any other 4xx is this message (bad address, too large).
    if (code == 401 || code == 403 || code == 429 || code >= 500)
      return {send_status::failed, detail, code};
    return {send_status::rejected, detail, code};
  }

  const char* name() const override { return "sendgrid"; }

private:
  config::email_settings s_;
  std::string url_;
  std::string auth_; // holds the key: never logged
  curl::handle curl_;
};

/// Twilio's Messages API: POST a form, Basic auth with the account SID and
/// auth token; 201 means queued for delivery.
class twilio_adapter : public mail_adapter {
public:
  explicit twilio_adapter(const config::sms_settings& s) :
      s_(s), url_(s.twilio_base_url + "/2010-04-01/Accounts/" + s.twilio_account_sid + "/Messages.json") {}

  send_outcome send(const outbound_email& sms) override {
    CURL* c = curl_.get();
    if (!c)
      return {send_status::failed, "libcurl could not create a handle", 0};
    char error[CURL_ERROR_SIZE] = {};
    auto form = form_encode({{"To", sms.to_address}, {"From", s_.twilio_from}, {"Body", sms.text}});
    curl::body answer;
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, s_.twilio_account_sid.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, s_.twilio_auth_token.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form.size()));
    curl::collect_into(c, answer);
    curl::set_limits(c, s_.connect_timeout, s_.send_timeout, error);
    auto [rc, code] = curl::perform(c);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return {send_status::timeout, curl::describe(rc, error, code), code};
    if (rc != CURLE_OK)
      return {send_status::failed, curl::describe(rc, error, code), code};
    if (code >= 200 && code < 300)
      return {send_status::sent, "queued by Twilio", code};
    auto detail = "Twilio answered " + std::to_string(code) + ": " + answer.text;
    // As with SendGrid: credentials and capacity are retried, the rest
    // (an invalid number, 400) is this message's fault.
    if (code == 401 || code == 403 || code == 429 || code >= 500)
      return {send_status::failed, detail, code};
    return {send_status::rejected, detail, code};
  }

  const char* name() const override { return "twilio"; }

private:
  config::sms_settings s_;
  std::string url_;
  curl::handle curl_;
};

/// Development: the SMS is a log line (the number shortened to its end).
class log_sms_adapter : public mail_adapter {
public:
  send_outcome send(const outbound_email& sms) override {
    auto to =
        sms.to_address.size() > 4 ? "..." + sms.to_address.substr(sms.to_address.size() - 4) : sms.to_address;
    telemetry::log(
        spdlog::level::info, "sms_logged", "SMS (SMS_ADAPTER=log, not sent)",
        {{"to", to}, {"message_id", sms.message_id}, {"template", sms.template_name}, {"text", sms.text}});
    return {send_status::sent, "logged", 0};
  }
  const char* name() const override { return "log"; }
};

} // namespace

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  auto encode = [](const std::string& in) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : in) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [k, v] : fields)
    out += (out.empty() ? "" : "&") + encode(k) + "=" + encode(v);
  return out;
}

std::unique_ptr<mail_adapter> make_sms_adapter(const config::sms_settings& settings) {
  if (settings.adapter == config::sms_adapter::twilio) {
    return std::make_unique<twilio_adapter>(settings);
  }
  return std::make_unique<log_sms_adapter>();
}

std::string sendgrid_body(const outbound_email& email) {
  nlohmann::json to = {{"email", email.to_address}};
  if (!email.to_name.empty())
    to["name"] = email.to_name;
  nlohmann::json from = {{"email", email.from_address}};
  auto open = email.from_header.rfind('<');
  if (open != std::string::npos && open > 0) {
    auto name = email.from_header.substr(0, open);
    while (!name.empty() && name.back() == ' ')
      name.pop_back();
    if (!name.empty())
      from["name"] = name;
  }
  nlohmann::json body = {
      {"personalizations", {{{"to", {to}}}}},
      {"from", from},
      {"subject", email.subject},
      {"content",
       {{{"type", "text/plain"}, {"value", email.text}}, {{"type", "text/html"}, {"value", email.html}}}},
      // The stable id travels as a custom header and argument: a redelivery
      // is recognisable in SendGrid's activity feed and event webhooks.
      {"headers", {{"X-Clean-Message-ID", email.message_id}}},
      {"custom_args", {{"message_id", email.message_id}, {"template", email.template_name}}}};
  return body.dump();
}

std::unique_ptr<mail_adapter> make_mail_adapter(const config::email_settings& settings,
                                                const std::string& file_dir) {
  switch (settings.adapter) {
    case config::email_adapter::smtp:
      return std::make_unique<smtp_adapter>(settings);
    case config::email_adapter::sendgrid:
      return std::make_unique<sendgrid_adapter>(settings);
    case config::email_adapter::file:
      break;
  }
  return std::make_unique<file_adapter>(file_dir);
}

} // namespace clean::delivery
