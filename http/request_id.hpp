#pragma once

#include <string>
#include <string_view>

namespace clean::http {

/// Whether a client-supplied X-Request-ID is safe to echo and log: 1-128
/// characters of [A-Za-z0-9._:-]. Anything else is replaced, not trusted.
bool acceptable_request_id(std::string_view id);

/// A fresh 128-bit random id as 32 lowercase hex characters.
std::string generate_request_id();

/// The incoming id when acceptable, else a generated one.
std::string request_id_for(std::string_view incoming);

} // namespace clean::http
