#include "http/router.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace clean::http {

method_kind method_from(std::string_view name) {
  if (name == "GET")
    return method_kind::get;
  if (name == "HEAD")
    return method_kind::head;
  if (name == "POST")
    return method_kind::post;
  if (name == "PUT")
    return method_kind::put;
  if (name == "PATCH")
    return method_kind::patch;
  if (name == "DELETE")
    return method_kind::del;
  if (name == "OPTIONS")
    return method_kind::options;
  return method_kind::other;
}

std::string_view method_name(method_kind m) {
  static constexpr std::array<std::string_view, method_count> names{"GET",   "HEAD",   "POST",    "PUT",
                                                                    "PATCH", "DELETE", "OPTIONS", "OTHER"};
  return names[static_cast<size_t>(m)];
}

std::string_view param(const path_params& params, std::string_view name) {
  for (auto& p : params)
    if (p.name == name)
      return p.value;
  return {};
}

route_template::route_template(std::string pattern) : pattern_(std::move(pattern)) {
  if (pattern_.empty() || pattern_[0] != '/')
    throw std::invalid_argument("route template must start with '/': " + pattern_);
  std::string_view rest{pattern_};
  rest.remove_prefix(1);
  while (true) {
    auto slash = rest.find('/');
    auto text = rest.substr(0, slash);
    if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
      auto name = text.substr(1, text.size() - 2);
      bool greedy = name.size() > 3 && name.ends_with("...");
      if (greedy)
        name.remove_suffix(3);
      auto identifier = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      if (!identifier)
        throw std::invalid_argument("route parameter names must be identifiers: " + pattern_);
      segments_.push_back({greedy ? segment::greedy : segment::single, std::string{name}});
    } else {
      if (text.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("parameters must fill a whole segment: " + pattern_);
      segments_.push_back({segment::literal, std::string{text}});
    }
    if (slash == std::string_view::npos)
      break;
    rest.remove_prefix(slash + 1);
  }
}

bool route_template::match(std::string_view path, path_params& out) const {
  if (path.empty() || path[0] != '/')
    return false;
  out.clear();
  return match_from(0, path.substr(1), out);
}

// `rest` is the unmatched path after the '/' that precedes segment `seg`.
bool route_template::match_from(size_t seg, std::string_view rest, path_params& out) const {
  const auto& s = segments_[seg];
  bool last = seg + 1 == segments_.size();
  auto slash = rest.find('/');
  auto head = rest.substr(0, slash);

  auto capture = [&](std::string_view raw) {
    std::string decoded;
    if (!percent_decode(raw, decoded))
      return false;
    out.push_back({s.text, std::move(decoded)});
    return true;
  };

  switch (s.kind) {
    case segment::literal:
      if (head != s.text)
        return false;
      if (last)
        return slash == std::string_view::npos;
      return slash != std::string_view::npos && match_from(seg + 1, rest.substr(slash + 1), out);
    case segment::single:
      if (head.empty())
        return false;
      if (last)
        return slash == std::string_view::npos && capture(head);
      if (slash == std::string_view::npos || !capture(head))
        return false;
      if (match_from(seg + 1, rest.substr(slash + 1), out))
        return true;
      out.pop_back();
      return false;
    case segment::greedy: {
      if (last) {
        // Every remaining segment must be non-empty: no "a//b" or trailing '/'.
        if (rest.empty() || rest.back() == '/' || rest.find("//") != std::string_view::npos)
          return false;
        return capture(rest);
      }
      // Try the longest capture first so `{path...}/crash` takes all it can.
      for (auto end = rest.rfind('/'); end != std::string_view::npos && end > 0;
           end = rest.rfind('/', end - 1)) {
        auto taken = rest.substr(0, end);
        if (taken.empty() || taken.back() == '/' || taken.find("//") != std::string_view::npos ||
            taken.front() == '/')
          continue;
        auto mark = out.size();
        if (!capture(taken))
          return false;
        if (match_from(seg + 1, rest.substr(end + 1), out))
          return true;
        out.resize(mark);
      }
      return false;
    }
  }
  return false;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool decode_component(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

template <class F>
void for_each_query_pair(std::string_view query, F&& f) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (!pair.empty())
      f(key, value);
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
}

} // namespace

bool percent_decode(std::string_view in, std::string& out) {
  return decode_component(in, out, false);
}

std::vector<std::string> query_values(std::string_view query, std::string_view name) {
  std::vector<std::string> values;
  for_each_query_pair(query, [&](std::string_view key, std::string_view value) {
    std::string k;
    if (!decode_component(key, k, true) || k != name)
      return;
    std::string v;
    if (decode_component(value, v, true))
      values.push_back(std::move(v));
  });
  return values;
}

bool query_has(std::string_view query, std::string_view name) {
  bool found = false;
  for_each_query_pair(query, [&](std::string_view key, std::string_view) {
    std::string k;
    if (decode_component(key, k, true) && k == name)
      found = true;
  });
  return found;
}

} // namespace clean::http
