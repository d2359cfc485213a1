#define CAF_SUITE persistence.digest
#include <caf/test/unit_test_impl.hpp>

#include "persistence/digest.hpp"

#include <string>
#include <utility>

using namespace clean::persistence;

namespace {

// RFC 4231, test cases 1, 2 and 6 (a key longer than SHA-256's block).
const std::string key1(20, '\x0b');
const std::string key6(131, '\xaa');
constexpr auto mac1 = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
constexpr auto mac2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
constexpr auto mac6 = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
constexpr auto text6 = "Test Using Larger Than Block-Size Key - Hash Key First";

} // namespace

CAF_TEST(one shot hmac matches rfc 4231) {
  CAF_CHECK_EQUAL(hmac_sha256_hex(key1, "Hi There"), mac1);
  CAF_CHECK_EQUAL(hmac_sha256_hex("Jefe", "what do ya want for nothing?"), mac2);
  CAF_CHECK_EQUAL(hmac_sha256_hex(key6, text6), mac6);
}

CAF_TEST(a signer keeps its key across messages) {
  // The signer restarts from its precomputed pads on every message: a
  // second message must not be MACed as the continuation of the first.
  hmac_sha256_signer jefe{"Jefe"};
  hmac_sha256_signer big{key6};
  for (int round = 0; round < 3; ++round) {
    CAF_CHECK_EQUAL(jefe.hex({"what do ya want for nothing?"}), mac2);
    CAF_CHECK_EQUAL(big.hex({text6}), mac6);
    CAF_CHECK_EQUAL(jefe.hex({"1700000000", ".", R"({"id":"evt_1"})"}),
                    hmac_sha256_hex("Jefe", R"(1700000000.{"id":"evt_1"})"));
  }
}

CAF_TEST(a message in parts is the message joined) {
  hmac_sha256_signer s{key1};
  CAF_CHECK_EQUAL(s.hex({"Hi", " ", "", "There"}), mac1);
  CAF_CHECK_EQUAL(s.hex({}), hmac_sha256_hex(key1, ""));
}

CAF_TEST(a moved signer signs and the moved from one refuses) {
  hmac_sha256_signer a{key1};
  hmac_sha256_signer b{std::move(a)};
  CAF_CHECK_EQUAL(b.hex({"Hi There"}), mac1);
  bool threw = false;
  try {
    a.hex({"Hi There"}); // NOLINT(bugprone-use-after-move): that is the point
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CAF_CHECK(threw);
}
