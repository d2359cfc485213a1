#define CAF_SUITE http.stripe_signature
#include <caf/test/unit_test_impl.hpp>

#include "http/stripe_signature.hpp"
#include "persistence/digest.hpp"

using namespace clean::http;
using namespace std::chrono_literals;

namespace {

const std::string body = R"({"id":"evt_1","type":"payment_intent.succeeded"})";
constexpr int64_t now = 1796000000;

std::string sign(const std::string& secret, int64_t t, const std::string& payload = body) {
  return clean::persistence::hmac_sha256_hex(secret, std::to_string(t) + "." + payload);
}

signature_check check(const std::string& header, std::vector<std::string> secrets = {"whsec_a"},
                      const std::string& payload = body) {
  return verify_stripe_signature(header, payload, secrets, 300s, now);
}

} // namespace

CAF_TEST(a correct signature is accepted) {
  CAF_CHECK(check("t=" + std::to_string(now) + ",v1=" + sign("whsec_a", now)) == signature_check::ok);
  // Spaces, an extra v0 and unknown parts are tolerated, as Stripe's SDKs do.
  CAF_CHECK(check("t=" + std::to_string(now) + ", v0=abc, v1=" + sign("whsec_a", now) + ", x=y") ==
            signature_check::ok);
}

CAF_TEST(any v1 against any secret will do) {
  auto header = "t=" + std::to_string(now) + ",v1=" + sign("whsec_old", now) + ",v1=" + std::string(64, '0');
  CAF_CHECK(check(header, {"whsec_new", "whsec_old"}) == signature_check::ok);
  CAF_CHECK(check("t=" + std::to_string(now) + ",v1=" + std::string(64, '0') +
                  ",v1=" + sign("whsec_a", now)) == signature_check::ok);
}

CAF_TEST(wrong secret tampered body and bad headers are refused) {
  auto t = std::to_string(now);
  CAF_CHECK(check("t=" + t + ",v1=" + sign("whsec_b", now)) == signature_check::no_matching_signature);
  CAF_CHECK(check("t=" + t + ",v1=" + sign("whsec_a", now), {"whsec_a"}, body + " ") ==
            signature_check::no_matching_signature);
  CAF_CHECK(check("") == signature_check::missing_header);
  CAF_CHECK(check("   ") == signature_check::missing_header);
  CAF_CHECK(check("garbage") == signature_check::malformed_header);
  CAF_CHECK(check("t=abc,v1=" + sign("whsec_a", now)) == signature_check::malformed_header);
  CAF_CHECK(check("t=" + t) == signature_check::malformed_header);
  CAF_CHECK(check("v1=" + sign("whsec_a", now)) == signature_check::malformed_header);
  CAF_CHECK(check("t=" + t + ",v1=nothex") == signature_check::malformed_header);
  // The timestamp is part of what is signed: changing it breaks the signature.
  CAF_CHECK(check("t=" + std::to_string(now + 1) + ",v1=" + sign("whsec_a", now)) ==
            signature_check::no_matching_signature);
}

CAF_TEST(timestamps too old or too far ahead are refused) {
  for (int64_t t : {now - 301, now + 301})
    CAF_CHECK(check("t=" + std::to_string(t) + ",v1=" + sign("whsec_a", t)) ==
              signature_check::timestamp_out_of_tolerance);
  for (int64_t t : {now - 300, now + 300})
    CAF_CHECK(check("t=" + std::to_string(t) + ",v1=" + sign("whsec_a", t)) == signature_check::ok);
}

CAF_TEST(hostile headers do not explode) {
  std::string many = "t=" + std::to_string(now);
  for (int i = 0; i < 1000; ++i)
    many += ",v1=" + std::string(64, 'a');
  CAF_CHECK(check(many) == signature_check::malformed_header);
  CAF_CHECK(check("t=99999999999999999999999,v1=" + sign("whsec_a", now)) ==
            signature_check::malformed_header);
}
