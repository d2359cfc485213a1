#include "delivery/files.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <unistd.h>

namespace clean::delivery {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  std::string reason = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT)
    reason = "disk full: " + reason;
  throw delivery_failure(false, reason);
}

std::string temp_name(const std::string& name) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp-" + std::to_string(rng()) + "-" + name;
}

/// Closes the descriptor and removes the temp file unless released.
struct temp_file {
  int fd = -1;
  std::string path;
  bool keep = false;
  ~temp_file() {
    if (fd >= 0)
      ::close(fd);
    if (!keep && !path.empty())
      ::unlink(path.c_str());
  }
};

} // namespace

bool write_file_atomically(const std::string& dir, const std::string& name, const std::string& content,
                           write_mode mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    fail("cannot create directory", dir, ec.value());
  auto final_path = dir + "/" + name;
  temp_file tmp;
  tmp.path = dir + "/" + temp_name(name);
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (tmp.fd < 0) {
    int err = errno;
    tmp.path.clear();
    fail("cannot create", dir, err);
  }
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(tmp.fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("cannot write", tmp.path, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(tmp.fd) != 0)
    fail("cannot sync", tmp.path, errno);
  if (mode == write_mode::keep_existing) {
    // link() refuses an existing target: the first writer wins, atomically.
    if (::link(tmp.path.c_str(), final_path.c_str()) != 0) {
      if (errno == EEXIST)
        return false;
      fail("cannot link", final_path, errno);
    }
    return true;
  }
  if (::rename(tmp.path.c_str(), final_path.c_str()) != 0)
    fail("cannot rename to", final_path, errno);
  tmp.path.clear();
  return true;
}

} // namespace clean::delivery
