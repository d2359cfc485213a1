#define CAF_SUITE persistence.stripe_events
#include <caf/test/unit_test_impl.hpp>

#include "persistence/stripe_events.hpp"

#include <string>

using namespace clean::persistence::stripe_events;

namespace {

// What the skim finds, as "id|type", or "-" when it is not sure.
std::string skim(const std::string& body) {
  auto key = skim_key(body);
  return key ? key->id + "|" + key->type : "-";
}

// The full parse, the same way.
std::string parse(const std::string& body) {
  auto key = key_of(body);
  return key ? key->id + "|" + key->type : "-";
}

} // namespace

CAF_TEST(finds the top level id and type wherever they are) {
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","object":"event","type":"customer.created","data":{"object":{}}})"),
                  "evt_1|customer.created");
  // Nested ids come first here, with brackets and quotes inside strings.
  auto nested = R"({ "data" : {"object": {"id": "in_9", "note": "a \"}\" or ]", "lines": [{"id":"li_1"}]}},
                     "livemode": false, "created": 1700000000, "amount": -1.5e3, "meta": null,
                     "type": "invoice.paid", "id": "evt_2" })";
  CAF_CHECK_EQUAL(skim(nested), "evt_2|invoice.paid");
  CAF_CHECK_EQUAL(skim(nested), parse(nested));
}

CAF_TEST(is never sure of what the parser might read differently) {
  // Escapes in the id or type, or in a member name.
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_\u0031","type":"t","data":{"object":{}}})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","type":"a\"b","data":{"object":{}}})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"i\u0064":"evt_1","type":"t","data":{"object":{}}})"), "-");
  // Given twice, or not strings.
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","id":"evt_2","type":"t","data":{"object":{}}})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":7,"type":"t","data":{"object":{}}})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","type":"t","data":{},"data":{}})"), "-");
  // Missing parts, or no object data.
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","type":"t"})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":"evt_1","type":"t","data":[]})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":"","type":"t","data":{}})"), "-");
  CAF_CHECK_EQUAL(skim(R"({"id":")" + std::string(256, 'x') + R"(","type":"t","data":{}})"), "-");
}

CAF_TEST(refuses what is not one object) {
  for (auto body : {"", "[]", "{",
                    R"({"id":"evt_1","type":"t","data":{}})"
                    " x",
                    R"({"id":"evt_1","type":"t","data":{})", R"({"id":"evt_1" "type":"t","data":{}})",
                    R"({"id":"evt_1","type":"t","data":{"a":"unterminated}})",
                    "{\"id\":\"evt\n1\",\"type\":\"t\",\"data\":{}}",
                    R"({"id":"evt_1","type":"t","data":{},})", R"({"id":"evt_1",,"type":"t","data":{}})"})
    CAF_CHECK_EQUAL(skim(body), "-");
}
