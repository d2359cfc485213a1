#pragma once

// Helpers shared by the repositories for turning result rows into JSON.

#include "persistence/time.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/row>

namespace clean::persistence::rows {

/// An RFC 3339 string from a `ts_to_micros(...)` column, or null.
inline nlohmann::json time_or_null(const pqxx::field& f) {
  if (f.is_null())
    return nullptr;
  return format_rfc3339(f.as<int64_t>());
}

inline nlohmann::json text_or_null(const pqxx::field& f) {
  if (f.is_null())
    return nullptr;
  return f.as<std::string>();
}

} // namespace clean::persistence::rows

#include "persistence/records.hpp"

#include <pqxx/result>

#include <optional>
#include <unordered_map>
#include <vector>

namespace clean::persistence::rows {

/// `{"data": [...], "next_cursor": ...}` from a result fetched with
/// `LIMIT limit + 1`: the extra row only says whether another page exists.
/// `time_col` is the sort-time column (micros) of each row; column 0 is id.
template <class Render>
nlohmann::json page(const pqxx::result& res, int32_t limit, size_t time_col, Render render) {
  auto data = nlohmann::json::array();
  auto n = std::min<size_t>(res.size(), static_cast<size_t>(limit));
  for (size_t i = 0; i < n; ++i)
    data.push_back(render(res[i]));
  nlohmann::json next = nullptr;
  if (res.size() > n && n > 0) {
    const auto& last = res[n - 1];
    next = encode_cursor({last[static_cast<pqxx::row::size_type>(time_col)].as<int64_t>(),
                          last[pqxx::row::size_type{0}].as<int64_t>()});
  }
  return {{"data", std::move(data)}, {"next_cursor", std::move(next)}};
}

/// The list parameters in the order every list statement takes them:
/// statuses, from, to, parent id (0 = any), cursor time, cursor id, limit + 1.
struct list_params {
  std::string statuses;
  int64_t from, to, parent, after_time, after_id, limit;
};

inline list_params params_of(const list_query& q, const char* all_statuses) {
  std::string statuses = "{";
  if (q.statuses.empty()) {
    statuses = all_statuses;
  } else {
    for (size_t i = 0; i < q.statuses.size(); ++i)
      statuses += (i ? "," : "") + q.statuses[i];
    statuses += "}";
  }
  auto from = q.from.value_or(min_micros);
  return {statuses,
          from,
          q.to.value_or(max_micros + 1),
          q.parent_id.value_or(0),
          q.after ? q.after->time : min_micros - 1,
          q.after ? q.after->id : 0,
          static_cast<int64_t>(q.limit) + 1};
}

/// `{1,2,3}`: ids as one bigint[] parameter, so a batch is one statement.
inline std::string bigint_array(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out.append(i ? "," : "").append(std::to_string(ids[i]));
  return out + "}";
}

/// For each of `ids`, its rendered row from `res` (column 0 is id), or
/// nullopt when there is none; an id asked twice gets its row twice.
template <class Render>
std::vector<std::optional<nlohmann::json>> by_id(const pqxx::result& res, const std::vector<int64_t>& ids,
                                                 Render render) {
  std::unordered_map<int64_t, pqxx::result::size_type> row_of;
  for (pqxx::result::size_type i = 0; i < res.size(); ++i)
    row_of.emplace(res[i][pqxx::row::size_type{0}].as<int64_t>(), i);
  std::vector<std::optional<nlohmann::json>> out;
  out.reserve(ids.size());
  for (auto id : ids) {
    auto it = row_of.find(id);
    out.push_back(it == row_of.end() ? std::nullopt : std::optional<nlohmann::json>{render(res[it->second])});
  }
  return out;
}

} // namespace clean::persistence::rows
