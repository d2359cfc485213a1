#pragma once

// Email messages as they leave the service, and the `file` adapter (the
// development default): one .eml file per message under EMAIL_FILE_DIR.

#include "delivery/templates.hpp"

#include <cstdint>
#include <string>

namespace clean::delivery {

/// A stable `Message-ID` for an outbox event, derived from its dedupe key,
/// so a redelivery after a crash carries the same id as the first attempt.
std::string message_id_for(const std::string& dedupe_key);

/// RFC 5322 message (CRLF line ends), multipart/alternative text + HTML.
std::string build_message(const std::string& from, const std::string& message_id, const rendered_email& email,
                          int64_t unix_time);

/// Writes the message as `<id>.eml` under `dir`. Returns false when that
/// message was already delivered (same Message-ID): the sink keeps one copy.
bool deliver_to_file(const std::string& dir, const std::string& message_id, const std::string& message);

} // namespace clean::delivery
