// The jobs that look after STORAGE_DIR: the janitor (retention, pruning,
// disk gauges) and the backup (pg_dump, verified with pg_restore --list).

#include "jobs/jobs.hpp"
#include "jobs/process.hpp"
#include "persistence/job_work.hpp"
#include "telemetry/metrics.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <prometheus/gauge.h>
#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <memory>

namespace clean::jobs {

namespace fs = std::filesystem;

namespace {

constexpr int idempotency_retention_hours = 48;

struct sweep_result {
  int64_t removed = 0;
  int64_t freed_bytes = 0;
};

/// Removes regular files in `dir` older than `days` (and temp files older
/// than a day: left behind by a crash mid-write).
sweep_result sweep(const fs::path& dir, int days) {
  sweep_result out;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return out;
  auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec))
      continue;
    auto age = now - entry.last_write_time(ec);
    bool temp = entry.path().filename().string().starts_with(".tmp-");
    auto limit = temp ? std::chrono::hours(24) : std::chrono::hours(24 * days);
    if (ec || age < limit)
      continue;
    auto size = static_cast<int64_t>(entry.file_size(ec));
    if (fs::remove(entry.path(), ec)) {
      ++out.removed;
      out.freed_bytes += size;
    }
  }
  return out;
}

int64_t used_bytes(const fs::path& root) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec))
      total += static_cast<int64_t>(it->file_size(ec));
  return total;
}

void report_storage(job_context& ctx, const fs::path& root) {
  if (!ctx.metrics)
    return;
  ctx.metrics->storage_used->Set(static_cast<double>(used_bytes(root)));
  struct statvfs st {};
  if (::statvfs(root.c_str(), &st) == 0) {
    ctx.metrics->storage_free->Set(static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize));
    ctx.metrics->storage_size->Set(static_cast<double>(st.f_blocks) * static_cast<double>(st.f_frsize));
  }
}

/// libpq connection settings as PG* variables for a child process, so the
/// password never appears on a command line (visible in `ps`).
std::vector<std::string> libpq_environment(const std::string& database_url) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> opts{
      PQconninfoParse(database_url.c_str(), &err), PQconninfoFree};
  if (!opts) {
    std::string message = err ? err : "unparsable";
    PQfreemem(err);
    throw job_failure("backup", "DATABASE_URL cannot be parsed: " + message);
  }
  static const std::vector<std::pair<std::string, std::string>> names{
      {"host", "PGHOST"},       {"hostaddr", "PGHOSTADDR"},       {"port", "PGPORT"},
      {"user", "PGUSER"},       {"password", "PGPASSWORD"},       {"dbname", "PGDATABASE"},
      {"sslmode", "PGSSLMODE"}, {"sslrootcert", "PGSSLROOTCERT"}, {"connect_timeout", "PGCONNECT_TIMEOUT"}};
  std::vector<std::string> env;
  for (auto* o = opts.get(); o->keyword; ++o)
    for (const auto& [keyword, variable] : names)
      if (o->val && *o->val && keyword == o->keyword)
        env.push_back(variable + "=" + o->val);
  return env;
}

std::string utc_stamp() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

int64_t count_lines(const std::string& path) {
  std::ifstream in{path};
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != ';')
      ++n;
  return n;
}

} // namespace

job_result storage_janitor(job_context& ctx) {
  fs::path root{ctx.settings.storage_dir};
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec)
    throw job_failure("io", "cannot create STORAGE_DIR " + root.string() + ": " + ec.message());
  auto exports = sweep(root / "exports", ctx.settings.export_retention_days);
  auto backups = sweep(root / "backups", ctx.settings.backup_retention_days);
  if (ctx.heartbeat)
    ctx.heartbeat();
  auto outbox = persistence::job_work::prune_delivered_outbox(ctx.conn, ctx.settings.outbox_retention_days);
  auto keys = persistence::job_work::prune_idempotency_keys(ctx.conn, idempotency_retention_hours);
  report_storage(ctx, root);
  auto items = exports.removed + backups.removed + outbox + keys;
  return {items, fmt::format("removed {} exports, {} backups ({} bytes); pruned {} delivered outbox rows, {} "
                             "idempotency keys",
                             exports.removed, backups.removed, exports.freed_bytes + backups.freed_bytes,
                             outbox, keys)};
}

job_result backup(job_context& ctx) {
  if (ctx.database_url.empty())
    throw job_failure("backup", "DATABASE_URL is not set");
  fs::path dir = fs::path{ctx.settings.storage_dir} / "backups";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw job_failure("io", "cannot create " + dir.string() + ": " + ec.message());
  auto name = "clean-service-" + utc_stamp() + ".dump";
  auto tmp = dir / (".tmp-" + name);
  auto listing = dir / (".tmp-" + name + ".list");
  struct cleanup {
    fs::path a, b;
    ~cleanup() {
      std::error_code ignored;
      fs::remove(a, ignored);
      fs::remove(b, ignored);
    }
  } guard{tmp, listing};
  auto env = libpq_environment(ctx.database_url);
  auto dump = run_process({ctx.settings.pg_dump, "--format=custom", "--no-owner", "--file=" + tmp.string()},
                          env, "/dev/null", ctx.settings.backup_timeout, ctx.heartbeat);
  if (dump.exit_code != 0)
    throw job_failure("backup", "pg_dump failed: " + dump.error);
  auto verify = run_process({ctx.settings.pg_restore, "--list", tmp.string()}, {}, listing.string(),
                            ctx.settings.backup_timeout, ctx.heartbeat);
  if (verify.exit_code != 0)
    throw job_failure("backup", "the dump is not readable by pg_restore: " + verify.error);
  auto entries = count_lines(listing.string());
  if (entries == 0)
    throw job_failure("backup", "pg_restore --list found no entries in the dump");
  auto size = static_cast<int64_t>(fs::file_size(tmp, ec));
  fs::rename(tmp, dir / name, ec);
  if (ec)
    throw job_failure("io", "cannot move the backup into place: " + ec.message());
  if (ctx.metrics)
    ctx.metrics->backup_last_success->Set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count()));
  report_storage(ctx, fs::path{ctx.settings.storage_dir});
  return {1, fmt::format("wrote backups/{} ({} bytes, {} entries verified with pg_restore --list)", name,
                         size, entries)};
}

} // namespace clean::jobs
