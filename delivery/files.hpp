#pragma once

// Durable file writes for deliveries: temp file in the target directory,
// fsync, then rename (or link, to refuse replacing) so a reader never sees
// half a file and a crash leaves at most a stray temp file.

#include <stdexcept>
#include <string>

namespace clean::delivery {

/// A delivery that failed. `permanent` failures (bad address, template
/// error) are never retried; the rest are retried with backoff.
class delivery_failure : public std::runtime_error {
public:
  delivery_failure(bool permanent, const std::string& reason) :
      std::runtime_error(reason), permanent_(permanent) {}
  bool permanent() const { return permanent_; }

private:
  bool permanent_;
};

enum class write_mode { replace, keep_existing };

/// Writes `content` to `dir/name` (creating `dir`). With keep_existing an
/// existing file is left alone and false returned. A full disk or any other
/// I/O error is a retryable delivery_failure naming the path.
bool write_file_atomically(const std::string& dir, const std::string& name, const std::string& content,
                           write_mode mode);

} // namespace clean::delivery
