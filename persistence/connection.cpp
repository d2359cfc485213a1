#include "persistence/connection.hpp"

#include <pqxx/pqxx>

#include <regex>

namespace clean::persistence {

namespace {

std::string fmt_hex(unsigned char c) {
  static const char* digits = "0123456789ABCDEF";
  return {'%', digits[c >> 4], digits[c & 15]};
}

bool is_uri(const std::string& url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string uri_encode(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
      out += static_cast<char>(c);
    else
      out += fmt_hex(c);
  }
  return out;
}

} // namespace

std::string with_parameters(const std::string& url, const connect_options& opts) {
  std::vector<std::pair<std::string, std::string>> params{
      {"connect_timeout", std::to_string(std::max<long>(1, opts.connect_timeout.count()))},
      {"application_name", opts.application_name},
      // Detect a vanished server on an idle connection within ~30 s.
      {"keepalives", "1"},
      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
  };
  if (opts.statement_timeout.count() > 0)
    params.emplace_back("options", "-c statement_timeout=" + std::to_string(opts.statement_timeout.count()));
  std::string out = url;
  if (is_uri(url)) {
    char sep = url.find('?') == std::string::npos ? '?' : '&';
    for (auto& [k, v] : params) {
      out += sep;
      out += k + "=" + uri_encode(v);
      sep = '&';
    }
  } else {
    for (auto& [k, v] : params)
      out += " " + k + "='" + v + "'";
  }
  return out;
}

std::unique_ptr<pqxx::connection> connect(const std::string& url, const connect_options& opts) {
  return std::make_unique<pqxx::connection>(with_parameters(url, opts));
}

std::string redact(const std::string& url) {
  static const std::regex uri_password{R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)"};
  static const std::regex kv_password{R"((password\s*=\s*)('[^']*'|\S+))"};
  auto out = std::regex_replace(url, uri_password, "$1***@");
  return std::regex_replace(out, kv_password, "$1***");
}

} // namespace clean::persistence
