#include "jobs/process.hpp"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace clean::jobs {

namespace {

std::string tail_of(const std::string& path, size_t max = 2000) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

} // namespace

process_result run_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                           const std::string& stdout_path, std::chrono::seconds timeout,
                           const std::function<void()>& heartbeat) {
  process_result out;
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e)
    env_strings.emplace_back(*e);
  for (const auto& kv : extra_env)
    env_strings.push_back(kv);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args)
    argp.push_back(a.data());
  argp.push_back(nullptr);

  char stderr_template[] = "/tmp/clean-service-stderr-XXXXXX";
  int err_fd = ::mkstemp(stderr_template);
  std::string stderr_path = err_fd >= 0 ? stderr_template : "/dev/null";
  if (err_fd >= 0)
    ::close(err_fd);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0640);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(), O_WRONLY | O_TRUNC, 0);
  // The service blocks SIGTERM/SIGINT in every thread; the child must not
  // inherit that mask, or it could not be stopped.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argp[0], &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    out.error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    ::unlink(stderr_template);
    return out;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto next_beat = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (true) {
    auto done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid)
      break;
    if (done < 0 && errno != EINTR) {
      out.error = std::string{"waitpid: "} + std::strerror(errno);
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0); // reap: never leave a zombie behind
      out.timed_out = true;
      out.error = argv[0] + " did not finish within " + std::to_string(timeout.count()) + " s; killed";
      ::unlink(stderr_template);
      return out;
    }
    if (heartbeat && now > next_beat) {
      heartbeat();
      next_beat = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (WIFEXITED(status))
    out.exit_code = WEXITSTATUS(status);
  if (out.exit_code != 0 && out.error.empty())
    out.error = argv[0] + " exited with " + std::to_string(out.exit_code) + ": " + tail_of(stderr_path);
  if (err_fd >= 0)
    ::unlink(stderr_template);
  return out;
}

} // namespace clean::jobs
