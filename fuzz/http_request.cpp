// The HTTP request path up to the handler: Beast's parser with the server's
// limits, then the router over every route the service registers (the
// templates of docs/openapi.yaml, which e2e tests prove equal to the
// registered ones) and the Authorization header parsers.
#include "http/admin_auth.hpp"
#include "http/auth.hpp"
#include "http/router.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace bhttp = boost::beast::http;

namespace {

clean::http::router<int>& routes() {
  static clean::http::router<int> table = [] {
    clean::http::router<int> r;
    std::ifstream in{CLEAN_OPENAPI};
    std::string line;
    int n = 0;
    // "  /v1/bookings/{id}:" lines under `paths:`
    while (std::getline(in, line))
      if (line.size() > 4 && line.compare(0, 3, "  /") == 0 && line.back() == ':') {
        auto pattern = line.substr(2, line.size() - 3);
        for (auto m : {clean::http::method_kind::get, clean::http::method_kind::post})
          r.add(m, pattern, n++);
      }
    if (n == 0)
      __builtin_trap(); // no templates read: the fuzzer would test nothing
    return r;
  }();
  return table;
}

void route(const bhttp::request<bhttp::string_body>& req) {
  std::string_view target{req.target().data(), req.target().size()};
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto method = clean::http::method_from({req.method_string().data(), req.method_string().size()});
  auto found = routes().find(method, path);
  for (const auto& p : found.params)
    (void)clean::http::param(found.params, p.name);
  auto auth = req[bhttp::field::authorization];
  std::string_view header{auth.data(), auth.size()};
  auto token = clean::http::bearer_token(header);
  (void)clean::http::constant_time_equals(token, "mtk_expected_metrics_token");
  if (auto basic = clean::http::parse_basic(header))
    (void)clean::http::constant_time_equals(basic->password, "expected-password");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::beast::flat_buffer buffer;
  auto in = boost::asio::buffer_copy(buffer.prepare(size), boost::asio::buffer(data, size));
  buffer.commit(in);
  // Up to three pipelined requests from one connection's bytes.
  for (int i = 0; i < 3 && buffer.size() > 0; ++i) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(16 * 1024); // the server's defaults
    parser.body_limit(1024 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
      auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more && buffer.size() > 0 && used > 0)
        continue;
      if (ec == bhttp::error::need_more) {
        parser.put_eof(ec);
        break;
      }
      if (ec || used == 0)
        break;
    }
    if (ec || !parser.is_done())
      return 0;
    route(parser.get());
  }
  return 0;
}
