#define CAF_SUITE delivery.mail
#include <caf/test/unit_test_impl.hpp>

#include "delivery/mail.hpp"
#include "delivery/mail_adapters.hpp"
#include "delivery/webhooks.hpp"
#include "persistence/digest.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

using namespace clean::delivery;

namespace {

outbound_email sample() {
  outbound_email m;
  m.message_id = message_id_for("booking:7:created");
  m.template_name = "booking_confirmation";
  m.from_header = "Clean Co <no-reply@clean.example>";
  m.from_address = address_of(m.from_header);
  m.to_name = "Grace \"Amazing\" Hopper";
  m.to_address = "grace@example.com";
  m.subject = "Your cleaning is booked";
  m.text = "hello";
  m.html = "<p>hello</p>";
  rendered_email r{m.to_name, m.to_address, m.subject, m.text, m.html};
  m.mime = build_message(m.from_header, m.message_id, r, 1796000000);
  return m;
}

} // namespace

CAF_TEST(message ids are stable per outbox event) {
  CAF_CHECK_EQUAL(message_id_for("booking:7:created"), message_id_for("booking:7:created"));
  CAF_CHECK_NOT_EQUAL(message_id_for("booking:7:created"), message_id_for("booking:8:created"));
}

CAF_TEST(display names with specials are quoted in To) {
  auto m = sample();
  CAF_CHECK(m.mime.find("To: \"Grace \\\"Amazing\\\" Hopper\" <grace@example.com>\r\n") != std::string::npos);
  CAF_CHECK(m.mime.find("Message-ID: " + m.message_id + "\r\n") != std::string::npos);
}

CAF_TEST(the envelope sender is the address inside EMAIL_FROM) {
  CAF_CHECK_EQUAL(address_of("Clean Co <no-reply@clean.example>"), "no-reply@clean.example");
  CAF_CHECK_EQUAL(address_of("bare@clean.example"), "bare@clean.example");
}

CAF_TEST(the sendgrid request carries both parts and the stable id) {
  auto body = nlohmann::json::parse(sendgrid_body(sample()));
  CAF_CHECK_EQUAL(body["personalizations"][0]["to"][0]["email"].get<std::string>(), "grace@example.com");
  CAF_CHECK_EQUAL(body["from"]["email"].get<std::string>(), "no-reply@clean.example");
  CAF_CHECK_EQUAL(body["from"]["name"].get<std::string>(), "Clean Co");
  CAF_CHECK_EQUAL(body["content"][0]["type"].get<std::string>(), "text/plain");
  CAF_CHECK_EQUAL(body["content"][1]["value"].get<std::string>(), "<p>hello</p>");
  CAF_CHECK_EQUAL(body["headers"]["X-Clean-Message-ID"].get<std::string>(),
                  message_id_for("booking:7:created"));
}

CAF_TEST(only provider trouble counts against the breaker) {
  CAF_CHECK(counts_against_provider(send_status::failed));
  CAF_CHECK(counts_against_provider(send_status::timeout));
  CAF_CHECK(!counts_against_provider(send_status::rejected));
  CAF_CHECK(!counts_against_provider(send_status::sent));
  CAF_CHECK(!counts_against_provider(send_status::duplicate));
}

CAF_TEST(the file adapter keeps one copy per message id) {
  auto dir = std::filesystem::temp_directory_path() / ("clean-mail-test-" + std::to_string(::getpid()));
  clean::config::email_settings settings; // file is the default
  auto adapter = make_mail_adapter(settings, dir.string());
  CAF_CHECK_EQUAL(std::string{adapter->name()}, "file");
  CAF_CHECK(adapter->send(sample()).status == send_status::sent);
  CAF_CHECK(adapter->send(sample()).status == send_status::duplicate);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    files += e.path().extension() == ".eml";
  CAF_CHECK_EQUAL(files, 1u);
  std::filesystem::remove_all(dir);
}

CAF_TEST(an smtp server that is not there is a provider failure) {
  clean::config::email_settings settings;
  settings.adapter = clean::config::email_adapter::smtp;
  settings.smtp_url = "smtp://127.0.0.1:1"; // nothing listens on port 1
  settings.starttls = clean::config::smtp_tls::off;
  settings.smtp_connect_timeout = std::chrono::milliseconds{500};
  auto out = make_mail_adapter(settings, "")->send(sample());
  CAF_CHECK(out.status == send_status::failed);
  CAF_CHECK(!out.detail.empty());
}

CAF_TEST(webhooks are signed like stripe signs its own) {
  // RFC 4231, test case 2.
  CAF_CHECK_EQUAL(clean::persistence::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  auto sig = webhook_signature("whsec-test", 1700000000, R"({"id":"evt_1"})");
  CAF_CHECK_EQUAL(sig,
                  "t=1700000000,v1=" + clean::persistence::hmac_sha256_hex(
                                           "whsec-test", std::string{"1700000000."} + R"({"id":"evt_1"})"));
}

CAF_TEST(form bodies are percent encoded) {
  CAF_CHECK_EQUAL(form_encode({{"To", "+15551230001"}, {"Body", "at 7 Main St & co."}}),
                  "To=%2B15551230001&Body=at%207%20Main%20St%20%26%20co.");
}
