#include "delivery/mail.hpp"

#include "delivery/files.hpp"
#include "persistence/digest.hpp"

#include <ctime>

namespace clean::delivery {

namespace {

std::string base64(const std::string& in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
  }
  return out;
}

/// RFC 2047 encoded word when the value is not plain ASCII.
std::string header_text(const std::string& value) {
  for (unsigned char c : value)
    if (c >= 0x80 || c < 0x20)
      return "=?UTF-8?B?" + base64(value) + "?=";
  return value;
}

/// A display name as an RFC 5322 phrase: encoded when not ASCII, quoted
/// when it holds specials ("Grace <Hopper> & Co" must not read as an address).
std::string display_name(const std::string& name) {
  auto encoded = header_text(name);
  if (encoded != name || name.find_first_of("()<>[]:;@\\,.\"") == std::string::npos)
    return encoded;
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string rfc2822_date(int64_t unix_time) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (char c : text) {
    if (c == '\n')
      out += "\r\n";
    else if (c != '\r')
      out.push_back(c);
  }
  return out;
}

} // namespace

std::string message_id_for(const std::string& dedupe_key) {
  return "<" + persistence::sha256_hex(dedupe_key).substr(0, 32) + "@clean-service>";
}

std::string build_message(const std::string& from, const std::string& message_id, const rendered_email& email,
                          int64_t unix_time) {
  auto boundary = "=_" + persistence::sha256_hex(message_id).substr(0, 24);
  std::string m;
  m += "From: " + from + "\r\n";
  m += "To: " + display_name(email.to_name) + " <" + email.to_address + ">\r\n";
  m += "Subject: " + header_text(email.subject) + "\r\n";
  m += "Date: " + rfc2822_date(unix_time) + "\r\n";
  m += "Message-ID: " + message_id + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
  m += "--" + boundary +
       "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  m += crlf(email.text);
  m += "\r\n--" + boundary +
       "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  m += crlf(email.html);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

bool deliver_to_file(const std::string& dir, const std::string& message_id, const std::string& message) {
  // "<hex@clean-service>" -> "hex.eml"
  auto stem = message_id.substr(1, message_id.find('@') - 1);
  return write_file_atomically(dir, stem + ".eml", message, write_mode::keep_existing);
}

} // namespace clean::delivery
