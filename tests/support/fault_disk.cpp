// SPDX-License-Identifier: Apache-2.0
#include "fault_disk.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "process.h"

#ifndef SANWATCH_FAULTDISK_BIN
#error "SANWATCH_FAULTDISK_BIN must be defined (path of the sanwatch-faultdisk binary)"
#endif

namespace sanwatch::test {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kFsType = "fuse.sanwatch-faultdisk";
constexpr const char* kFuseCtlDir = "/sys/fs/fuse/connections";

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void warn(const std::string& msg) {
  std::fprintf(stderr, "FaultDisk: %s\n", msg.c_str());
  std::fflush(stderr);
}

// mountinfo escapes blanks and backslashes as \ooo.
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct MountEntry {
  unsigned dev_minor = 0;
  std::string fstype;
};

// Looks the mountpoint up in /proc/self/mountinfo, which (unlike stat) never
// sends a request to the FUSE daemon and so cannot hang on it.
std::optional<MountEntry> find_mount(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::optional<MountEntry> found;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, majmin, root, mnt;
    f >> id >> parent >> majmin >> root >> mnt;
    if (unescape_mount_path(mnt) != mountpoint) continue;
    std::string word;
    while (f >> word && word != "-") {
    }
    MountEntry e;
    f >> e.fstype;
    e.dev_minor = static_cast<unsigned>(std::stoul(majmin.substr(majmin.find(':') + 1)));
    found = e;  // the last entry is the one on top
  }
  return found;
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

}  // namespace

// ---------------------------------------------------------------------------
// Setup

FaultDisk::FaultDisk() : FaultDisk(Options{}) {}

FaultDisk::FaultDisk(Options options) {
  try {
    start(options);
  } catch (...) {
    cleanup();
    throw;
  }
}

FaultDisk::~FaultDisk() { cleanup(); }

void FaultDisk::start(const Options& options) {
  if (options.size_mib == 0) throw std::runtime_error("FaultDisk: size_mib must be > 0");
  size_bytes_ = options.size_mib << 20;
  char tmpl[] = "/tmp/sanwatch-faultdisk.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error(std::string("FaultDisk: mkdtemp failed: ") + std::strerror(errno));
  }
  temp_dir_ = tmpl;
  mountpoint_ = temp_dir_ + "/mnt";
  log_path_ = temp_dir_ + "/daemon.log";
  disk_path_ = mountpoint_ + "/disk";
  ctl_path_ = mountpoint_ + "/ctl";
  if (mkdir(mountpoint_.c_str(), 0755) != 0) {
    throw std::runtime_error("FaultDisk: mkdir " + mountpoint_ + ": " + std::strerror(errno));
  }
  // Lets cleanup-leftovers.sh tell a live test's disk from a crashed one's.
  std::ofstream(temp_dir_ + "/owner.pid") << getpid() << "\n";

  ChildProcess::Options popts;
  popts.stdout_path = log_path_;
  popts.stderr_path = log_path_;
  daemon_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{SANWATCH_FAULTDISK_BIN, mountpoint_, "--size-mib",
                               std::to_string(options.size_mib), "--exit-with-parent"},
      popts);
  wait_for_mount();
  attach_loop();
}

void FaultDisk::wait_for_mount() {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    if (const auto m = find_mount(mountpoint_); m && m->fstype == kFsType) {
      connection_id_ = m->dev_minor;
      return;
    }
    if (!daemon_->running()) {
      throw std::runtime_error("FaultDisk: sanwatch-faultdisk exited with code " +
                               std::to_string(daemon_->exit_code().value_or(-1)) +
                               " before mounting " + mountpoint_ + "; log:\n" + daemon_log());
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  throw std::runtime_error("FaultDisk: " + mountpoint_ + " not mounted after 5 s; log:\n" +
                           daemon_log());
}

void FaultDisk::attach_loop() {
  // Direct I/O is essential: without it the loop driver goes through the
  // page cache and serialises requests, so latency at depth > 1 is wrong.
  const std::vector<std::string> argv = {"losetup", "--direct-io=on", "--show", "-f", disk_path_};
  const CommandResult r = run_command(argv, std::chrono::seconds(10));
  if (!r.ok()) {
    throw std::runtime_error("FaultDisk: '" + format_command(argv) + "' failed (exit " +
                             std::to_string(r.exit_code) + (r.timed_out ? ", timed out" : "") +
                             "): " + trim(r.err));
  }
  const std::string dev = trim(r.out);
  if (!dev.starts_with("/dev/loop")) {
    throw std::runtime_error("FaultDisk: unexpected losetup output '" + dev + "'");
  }
  loop_device_ = dev;
  struct stat st {};
  if (stat(loop_device_.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    throw std::runtime_error("FaultDisk: " + loop_device_ + " is not a block device");
  }
  rdev_ = st.st_rdev;
  const auto dio = read_text("/sys/block/" + loop_name() + "/loop/dio");
  if (!dio || trim(*dio) != "1") {
    throw std::runtime_error("FaultDisk: " + loop_device_ +
                             " did not enable direct I/O (/sys/block/" + loop_name() +
                             "/loop/dio = '" + trim(dio.value_or("?")) + "')");
  }
}

// ---------------------------------------------------------------------------
// Accessors and control

std::string FaultDisk::loop_name() const {
  const auto slash = loop_device_.rfind('/');
  return slash == std::string::npos ? loop_device_ : loop_device_.substr(slash + 1);
}

unsigned(FaultDisk::major)() const { return major(rdev_); }
unsigned(FaultDisk::minor)() const { return minor(rdev_); }

pid_t FaultDisk::daemon_pid() const { return daemon_ ? daemon_->pid() : -1; }

std::string FaultDisk::major_minor() const {
  return std::to_string((major)()) + ":" + std::to_string((minor)());
}

void FaultDisk::command(const std::string& line) {
  const int fd = open(ctl_path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("FaultDisk: open " + ctl_path_ + ": " + std::strerror(errno));
  }
  const std::string data = line + "\n";
  const ssize_t n = write(fd, data.data(), data.size());
  const int err = errno;
  close(fd);
  if (n < 0) {
    throw std::runtime_error("FaultDisk: command '" + line + "' failed: " + std::strerror(err) +
                             (err == EINVAL ? " (unknown command or bad arguments)" : ""));
  }
  if (static_cast<std::size_t>(n) != data.size()) {
    throw std::runtime_error("FaultDisk: command '" + line + "': short write");
  }
}

void FaultDisk::set_read_delay(std::chrono::microseconds d) {
  command("read_delay " + std::to_string(d.count()) + "us");
}
void FaultDisk::set_write_delay(std::chrono::microseconds d) {
  command("write_delay " + std::to_string(d.count()) + "us");
}
void FaultDisk::stall() { command("stall"); }
void FaultDisk::release() { command("release"); }
void FaultDisk::set_eio(bool on) { command(on ? "eio on" : "eio off"); }
void FaultDisk::add_eio_range(std::uint64_t offset, std::uint64_t length, const std::string& mode) {
  command("eio_range " + std::to_string(offset) + " " + std::to_string(length) + " " + mode);
}
void FaultDisk::clear_eio() { command("eio_clear"); }
void FaultDisk::reset() { command("reset"); }

std::string FaultDisk::status() {
  const int fd = open(ctl_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("FaultDisk: open " + ctl_path_ + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw std::runtime_error("FaultDisk: read " + ctl_path_ + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

std::optional<std::string> FaultDisk::status_value(const std::string& key) {
  std::istringstream in(status());
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  }
  return std::nullopt;
}

std::uint64_t FaultDisk::counter(const std::string& key) {
  const auto v = status_value(key);
  if (!v) throw std::runtime_error("FaultDisk: no '" + key + "' in ctl status");
  return std::stoull(*v);
}

// ---------------------------------------------------------------------------
// Teardown. Every step is bounded; a step that fails escalates (abort the
// FUSE connection, lazy unmount, SIGKILL) instead of waiting longer.

void FaultDisk::cleanup() noexcept {
  // Stalled requests keep the loop device busy, and losetup -d would then
  // only set autoclear, so lift the faults first.
  if (daemon_ && connection_id_ && is_mounted() && !release_faults()) abort_connection();
  if (!loop_device_.empty()) detach_loop();
  if (is_mounted()) unmount();
  stop_daemon();
  if (cleanup_trouble_) {
    warn("cleanup of " + temp_dir_ + " had problems; daemon log:\n" + daemon_log());
  }
  remove_temp_dir();
}

bool FaultDisk::release_faults() noexcept {
  try {
    // In a child process so a wedged daemon cannot block us in write().
    const CommandResult r = run_command({"sh", "-c", "printf 'reset\\n' > \"$1\"", "sh", ctl_path_},
                                        std::chrono::seconds(2));
    if (r.ok()) return true;
    warn("resetting faults failed (exit " + std::to_string(r.exit_code) +
         (r.timed_out ? ", timed out" : "") + "): " + trim(r.err));
  } catch (const std::exception& e) {
    warn(std::string("resetting faults failed: ") + e.what());
  }
  cleanup_trouble_ = true;
  return false;
}

void FaultDisk::detach_loop() noexcept {
  try {
    const CommandResult r = run_command({"losetup", "-d", loop_device_}, std::chrono::seconds(5));
    if (!r.ok()) {
      warn("losetup -d " + loop_device_ + " failed (exit " + std::to_string(r.exit_code) +
           (r.timed_out ? ", timed out" : "") + "): " + trim(r.err));
      cleanup_trouble_ = true;
      abort_connection();
    }
  } catch (const std::exception& e) {
    warn(std::string("losetup -d failed: ") + e.what());
  }
  // While someone still has the device open, losetup -d only sets autoclear;
  // wait for the real detach so the unmount below is not busy.
  const std::string backing = "/sys/block/" + loop_name() + "/loop/backing_file";
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (trim(read_text(backing).value_or("")) == disk_path_) {
    if (Clock::now() > deadline) {
      warn(loop_device_ + " is still attached after 5 s (held open?); unmounting lazily");
      cleanup_trouble_ = true;
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void FaultDisk::unmount() noexcept {
  try {
    auto r = run_command({"fusermount3", "-u", "-q", mountpoint_}, std::chrono::seconds(3));
    if (r.ok() && !is_mounted()) return;
    warn("fusermount3 -u " + mountpoint_ + " failed (exit " + std::to_string(r.exit_code) +
         (r.timed_out ? ", timed out" : "") + "): " + trim(r.err) + "; aborting the connection");
    cleanup_trouble_ = true;
    abort_connection();
    r = run_command({"fusermount3", "-u", "-z", "-q", mountpoint_}, std::chrono::seconds(3));
  } catch (const std::exception& e) {
    warn(std::string("fusermount3 failed: ") + e.what());
  }
  // Last resort; after the abort nothing can block on the daemon.
  if (is_mounted() && umount2(mountpoint_.c_str(), MNT_DETACH) != 0) {
    warn("umount2(" + mountpoint_ + ", MNT_DETACH): " + std::strerror(errno));
  }
}

void FaultDisk::stop_daemon() noexcept {
  if (!daemon_) return;
  // After the unmount the daemon normally exits on its own; SIGTERM covers
  // the lazy-unmount case where the kernel still holds the connection.
  daemon_->send_signal(SIGTERM);
  daemon_->send_signal(SIGCONT);  // in case a test stopped it to fake a hang
  auto code = daemon_->wait(std::chrono::seconds(3));
  if (!code) {
    warn("sanwatch-faultdisk ignored SIGTERM for 3 s; killing it");
    cleanup_trouble_ = true;
    daemon_->send_signal(SIGKILL, /*whole_group=*/true);
    code = daemon_->wait(std::chrono::seconds(2));
  }
  if (code && *code != 0) {
    warn("sanwatch-faultdisk exited with code " + std::to_string(*code));
    cleanup_trouble_ = true;
  }
  daemon_.reset();
}

void FaultDisk::remove_temp_dir() noexcept {
  if (temp_dir_.empty()) return;
  for (const std::string f : {"/daemon.log", "/owner.pid"}) unlink((temp_dir_ + f).c_str());
  if (rmdir(mountpoint_.c_str()) != 0 && errno != ENOENT) {
    warn("rmdir " + mountpoint_ + ": " + std::strerror(errno));
  }
  if (rmdir(temp_dir_.c_str()) != 0) warn("rmdir " + temp_dir_ + ": " + std::strerror(errno));
  temp_dir_.clear();
}

// Fails every pending and future request of this mount with an error
// (measured: within ~25 ms). Needs fusectl, which minimal systems lack.
bool FaultDisk::abort_connection() noexcept {
  if (!connection_id_) return false;
  const std::string dir = std::string(kFuseCtlDir) + "/" + std::to_string(*connection_id_);
  if (access(dir.c_str(), F_OK) != 0) {
    mount("fusectl", kFuseCtlDir, "fusectl", 0, nullptr);  // EBUSY if already mounted
  }
  const int fd = open((dir + "/abort").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    warn("cannot abort FUSE connection " + dir + ": " + std::strerror(errno));
    return false;
  }
  const bool ok = write(fd, "1", 1) == 1;
  close(fd);
  warn("aborted FUSE connection " + dir);
  cleanup_trouble_ = true;
  return ok;
}

bool FaultDisk::is_mounted() const {
  return !mountpoint_.empty() && find_mount(mountpoint_).has_value();
}

std::string FaultDisk::daemon_log() const {
  return tail(read_text(log_path_).value_or("(no log)"), 4000);
}

}  // namespace sanwatch::test
